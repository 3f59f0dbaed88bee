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


def compose_rgb(luma: np.ndarray, ab: np.ndarray, fit_gamut: bool = True) -> np.ndarray:
    """RGB uint8 from the source luma (kept as is) and predicted chroma.

    The preview and the export compose here. Chroma that is out of the sRGB gamut at its
    pixel's luma (a saturated hint colour on a much darker or lighter object) is scaled
    towards grey until it fits, instead of clipping the RGB channels: clipping would change
    the lightness, and the luma of the source is kept. `fit_gamut=False` is the plain OpenCV
    conversion (RGB clipped), which ../shared/BENCHMARK.md prescribes for scoring: the
    benchmark uses it so its figures stay comparable with the published ones."""
    L = np.asarray(luma, np.float32)
    a, b = cv2.split(np.asarray(ab, np.float32))
    rgb = cv2.cvtColor(cv2.merge([L, a, b]), cv2.COLOR_Lab2RGB)
    if not fit_gamut:
        cv2.max(rgb, 0.0, dst=rgb)
        return cv2.convertScaleAbs(rgb, alpha=255.0)
    # OpenCV saturates out-of-gamut channels, so candidates are pixels with a channel at 0 or
    # 1; those whose colour does not survive the round trip back to Lab are out of gamut.
    cand = cv2.bitwise_or(cv2.compare(rgb, 0.0, cv2.CMP_LE), cv2.compare(rgb, 1.0, cv2.CMP_GE))
    ys, xs = np.nonzero(cv2.max(cv2.max(cand[..., 0], cand[..., 1]), cand[..., 2]))
    if len(ys):
        l, ca, cb = L[ys, xs], a[ys, xs], b[ys, xs]
        bad = ~_in_gamut(rgb[ys, xs], l, ca, cb)
        if bad.any():
            ys, xs = ys[bad], xs[bad]
            rgb[ys, xs] = _fit_gamut(l[bad], ca[bad], cb[bad])
    cv2.max(rgb, 0.0, dst=rgb)
    return cv2.convertScaleAbs(rgb, alpha=255.0)


def _lab2rgb_n(L, a, b) -> np.ndarray:
    return cv2.cvtColor(np.stack([L, a, b], axis=1).astype(np.float32)[:, None, :], cv2.COLOR_Lab2RGB)[:, 0, :]


def _in_gamut(rgb: np.ndarray, L, a, b) -> np.ndarray:
    back = cv2.cvtColor(np.ascontiguousarray(rgb, np.float32)[:, None, :], cv2.COLOR_RGB2Lab)[:, 0, :]
    return (np.abs(back[:, 0] - L) < 0.5) & (np.abs(back[:, 1] - a) + np.abs(back[:, 2] - b) < 1.5)


def _fit_gamut(L: np.ndarray, a: np.ndarray, b: np.ndarray, steps: int = 7) -> np.ndarray:
    """RGB (N x 3, float) of the pixels (L, k a, k b) with the largest k in [0, 1] that is in
    gamut, found by bisection (grey, k = 0, is always in gamut)."""
    k_lo = np.zeros(len(L), np.float32)
    k_hi = np.ones(len(L), np.float32)
    for _ in range(steps):
        mid = 0.5 * (k_lo + k_hi)
        ok = _in_gamut(_lab2rgb_n(L, a * mid, b * mid), L, a * mid, b * mid)
        k_lo = np.where(ok, mid, k_lo)
        k_hi = np.where(ok, k_hi, mid)
    return _lab2rgb_n(L, a * k_lo, b * k_lo)


def srgb_to_ab(color: tuple[int, int, int]) -> tuple[float, float]:
    """Chroma (a, b) of one sRGB colour."""
    lab = rgb_to_lab(np.array([[color]], np.uint8))[0, 0]
    return float(lab[1]), float(lab[2])
