"""Stand-ins for model functions that may not have landed yet (the GUI must keep running).

Each function uses the models package's version when it exists. The stand-ins are simple
and say so in the log once; they are not meant to be good colorizers.
"""
from __future__ import annotations

import logging

import cv2
import numpy as np

from models.color import srgb_to_ab

log = logging.getLogger(__name__)
_warned: set[str] = set()


def _warn(name: str) -> None:
    if name not in _warned:
        _warned.add(name)
        log.warning("models.%s is missing: using the GUI's simple stand-in", name)


def colorize(L: np.ndarray, strokes, base_ab=None):
    try:
        from models.hints import colorize as real
    except ImportError:
        _warn("hints.colorize")
        return _colorize_simple(L, strokes, base_ab)
    return real(L, strokes, base_ab=base_ab)


def _colorize_simple(L, strokes, base_ab=None):
    """Rasterise strokes into ab (later strokes over earlier; erase restores the base)."""
    h, w = L.shape
    ab = np.zeros((h, w, 2), np.float32) if base_ab is None else np.array(base_ab, np.float32, copy=True)
    base = ab.copy()
    conf = np.zeros((h, w), np.float32) if base_ab is None else np.ones((h, w), np.float32)
    for s in strokes:
        mask = np.zeros((h, w), np.uint8)
        pts = np.array([(x * (w - 1), y * (h - 1)) for x, y in s.points], np.int32).reshape(-1, 1, 2)
        r = max(1, int(round(s.radius * h)))
        if len(pts) == 1:
            cv2.circle(mask, tuple(int(v) for v in pts[0, 0]), r, 1, -1)
        else:
            cv2.polylines(mask, [pts], False, 1, thickness=2 * r, lineType=cv2.LINE_8)
            for p in pts[:, 0]:
                cv2.circle(mask, (int(p[0]), int(p[1])), r, 1, -1)
        m = mask.astype(bool)
        if s.erase:
            ab[m] = base[m]
            conf[m] = 0 if base_ab is None else 1
        else:
            ab[m] = srgb_to_ab(tuple(s.color))
            conf[m] = 1
    return ab, conf


def upsample_ab(ab_proxy: np.ndarray, L_full: np.ndarray) -> np.ndarray:
    try:
        from models.upsample import upsample_ab as real
    except ImportError:
        _warn("upsample.upsample_ab")
        h, w = L_full.shape[:2]
        return cv2.resize(ab_proxy, (w, h), interpolation=cv2.INTER_LINEAR)
    return real(ab_proxy, L_full)


def get_propagator(method: str, device):
    """The registry's propagator; a method that cannot be built is an error, not a swap."""
    from models.registry import get_propagator as real
    return real(method, device)
