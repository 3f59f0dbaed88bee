"""Keyframe chroma from images and strokes (models/keys.py), as the editor and render build it."""
from __future__ import annotations

import numpy as np

from models.base import HintStroke, ListLuma
from models.color import srgb_to_ab
from models.keys import build_keys, key_chroma
from models.registry import get_propagator
from tests.models.scene import moving_scene


def test_image_key_is_kept_and_strokes_only_key_spreads_hints():
    _, L, AB = moving_scene(n=4)
    luma = ListLuma(L)
    prop = get_propagator("flow")
    ab = key_chroma(luma, 0, AB[0], [], {}, prop)
    assert np.array_equal(ab, AB[0])
    stroke = HintStroke(frame=0, points=[(0.5, 0.5)], radius=0.05, color=(40, 200, 40))
    ab = key_chroma(luma, 0, None, [stroke], {}, prop)
    green = np.array(srgb_to_ab((40, 200, 40)), np.float32)
    assert np.linalg.norm(ab[48, 64] - green) < 8.0        # under the stroke: its colour


def test_later_correction_paints_over_what_propagation_gives():
    """A stroke on a later frame is painted over the colour propagated from the earlier key,
    so the rest of that frame keeps its propagated colour (not grey, not the stroke's)."""
    _, L, AB = moving_scene(n=10)
    luma = ListLuma(L)
    prop = get_propagator("flow")
    stroke = HintStroke(frame=9, points=[(0.9, 0.1)], radius=0.04, color=(40, 60, 220))
    keys = build_keys(luma, {0: AB[0]}, {9: [stroke]}, prop)
    assert set(keys) == {0, 9}
    far = keys[9][60:90, 5:40]                               # far from the stroke
    assert np.abs(far - AB[9][60:90, 5:40]).mean() < 6.0    # keeps the propagated (true) colour
    assert np.abs(far).mean() > 3.0                          # not grey
    blue = np.array(srgb_to_ab((40, 60, 220)), np.float32)
    assert np.linalg.norm(keys[9][10, 115] - blue) < 15.0    # the stroke's colour where painted


def test_stop_returns_none():
    _, L, AB = moving_scene(n=6)
    stroke = HintStroke(frame=5, points=[(0.5, 0.5)], radius=0.05, color=(200, 40, 40))
    assert build_keys(ListLuma(L), {0: AB[0]}, {5: [stroke]}, get_propagator("flow"),
                      should_stop=lambda: True) is None
