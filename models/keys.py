"""Keyframe chroma from what the editor gave for a frame: a colour image, hint strokes, or both.

Shared by the editor's worker and the headless render so both build the same keys.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from models.base import HintStroke, LumaFrames, Propagator
from models.hinting.hints import colorize


def key_chroma(luma: LumaFrames, frame: int, image_ab: np.ndarray | None, strokes: list[HintStroke],
               earlier: dict[int, np.ndarray], propagator: Propagator,
               should_stop: Callable[[], bool] = lambda: False, hint_method: str | None = None
               ) -> np.ndarray | None:
    """Chroma of keyframe `frame` at proxy size.

    Strokes paint over a base: the imported colour image when there is one; otherwise, for a
    frame after other keyframes (a correction on a later frame), the chroma that propagation
    from those earlier keys gives on this frame, so the correction changes what it is painted
    on and the rest of the frame keeps its colour. A first keyframe with strokes only has a
    grey base (how strokes colour it: `hint_method`, models.hinting.hints.HINT_METHODS). Returns None when `should_stop()` interrupted the propagation of the base.
    """
    base = image_ab
    if base is None and strokes and earlier:
        for pf in propagator.run(luma, earlier, frames=[frame], should_stop=should_stop):
            if pf.index == frame:
                base = np.asarray(pf.ab, np.float32)
        if base is None:
            return None
    if strokes:
        ab, _conf = colorize(luma[frame], strokes, base_ab=base, method=hint_method)
    elif base is not None:
        ab = base
    else:
        h, w = np.asarray(luma[frame]).shape[:2]
        ab = np.zeros((h, w, 2), np.float32)
    return np.ascontiguousarray(ab, np.float32)


def build_keys(luma: LumaFrames, images_ab: dict[int, np.ndarray], strokes: dict[int, list[HintStroke]],
               propagator: Propagator, should_stop: Callable[[], bool] = lambda: False,
               hint_method: str | None = None) -> dict[int, np.ndarray] | None:
    """Every keyframe's chroma, in time order (a later key's base comes from the keys before it)."""
    keys: dict[int, np.ndarray] = {}
    for f in sorted(set(images_ab) | set(strokes)):
        ab = key_chroma(luma, f, images_ab.get(f), strokes.get(f, []), dict(keys), propagator, should_stop,
                        hint_method)
        if ab is None:
            return None
        keys[f] = ab
    return keys
