"""Colour conversions shared by every propagator, the benchmark and the exporter.

Conventions (OpenCV float Lab, D65): L in [0, 100], a and b roughly in [-127, 127].
Luma planes travel as float32 L; chroma planes as float32 HxWx2 (a, b).
"""
from __future__ import annotations

import cv2
import numpy as np


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 (or float in [0,1]) RGB HxWx3 -> float32 Lab HxWx3."""
    f = rgb.astype(np.float32)
    if rgb.dtype == np.uint8:
        f *= 1.0 / 255.0
    return cv2.cvtColor(f, cv2.COLOR_RGB2Lab)


def rgb_to_luma(rgb: np.ndarray) -> np.ndarray:
    """L channel (float32, 0..100) of an RGB image; a grey image gives its own lightness."""
    return np.ascontiguousarray(rgb_to_lab(rgb)[..., 0])


def gray_to_luma(gray: np.ndarray) -> np.ndarray:
    """L of a single-channel uint8 grey image (R=G=B=gray)."""
    return rgb_to_luma(cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB))


def rgb_to_ab(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb_to_lab(rgb)[..., 1:])


def compose_rgb(luma: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """RGB uint8 from the source luma (kept as is) and predicted chroma.

    OpenCV passes only (the preview, the export and the benchmark all compose here):
    out-of-gamut negatives clamp to 0, then x*255 is rounded and saturated."""
    a, b = cv2.split(np.asarray(ab, np.float32))
    rgb = cv2.cvtColor(cv2.merge([np.asarray(luma, np.float32), a, b]), cv2.COLOR_Lab2RGB)
    cv2.max(rgb, 0.0, dst=rgb)
    return cv2.convertScaleAbs(rgb, alpha=255.0)


def srgb_to_ab(color: tuple[int, int, int]) -> tuple[float, float]:
    """Chroma (a, b) of one sRGB colour."""
    lab = rgb_to_lab(np.array([[color]], np.uint8))[0, 0]
    return float(lab[1]), float(lab[2])
