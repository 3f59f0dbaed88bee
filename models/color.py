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
    """RGB uint8 from the source luma (kept as is) and predicted chroma."""
    lab = np.empty(luma.shape + (3,), np.float32)
    lab[..., 0] = luma
    lab[..., 1:] = ab
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def srgb_to_ab(color: tuple[int, int, int]) -> tuple[float, float]:
    """Chroma (a, b) of one sRGB colour."""
    lab = rgb_to_lab(np.array([[color]], np.uint8))[0, 0]
    return float(lab[1]), float(lab[2])
