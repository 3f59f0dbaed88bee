"""models.hinting.hints.strokes_give_colour says what the hint methods do: whether a shot's
strokes (no key image) give its keys any colour. The render's summary of grey shots relies on it
(app.core.reels.reel.grey_shots); checked here against the keys build_keys makes, every method."""
from __future__ import annotations

import numpy as np
import pytest

from models.base import HintStroke, ListLuma
from models.hinting.hints import HINT_METHODS, strokes_give_colour
from models.keys import build_keys
from models.registry import get_propagator
from tests.models.scene import moving_scene


def _st(frame, color=(0, 0, 0), erase=False):
    return HintStroke(frame=frame, points=[(0.3, 0.5), (0.6, 0.5)], radius=0.06, color=color, erase=erase)


CASES = {
    "erase": {0: [_st(0, erase=True)]},
    "grey": {0: [_st(0, (128, 128, 128))]},
    "erase and grey": {0: [_st(0, erase=True), _st(0, (90, 90, 90))]},
    "colour": {0: [_st(0, (200, 60, 40))]},
    "erase, then a grey correction": {0: [_st(0, erase=True)], 5: [_st(5, (128, 128, 128))]},
    "erase, then a colour correction": {0: [_st(0, erase=True)], 5: [_st(5, (40, 60, 220))]},
}


@pytest.mark.parametrize("method", list(HINT_METHODS))
def test_the_rule_matches_the_keys_each_hint_method_builds(method):
    _, L, _ = moving_scene(n=8)
    luma = ListLuma(L)
    prop = get_propagator("flow")
    for name, strokes in CASES.items():
        keys = build_keys(luma, {}, strokes, prop, hint_method=method)
        got = max(float(np.abs(ab).max()) for ab in keys.values()) > 0.5
        frames = sorted(strokes)
        said = strokes_give_colour(strokes[frames[0]], method) or \
            any(strokes_give_colour(strokes[f], method, over_colour=True) for f in frames)
        assert said == got, (method, name, got)
