"""flow's `prior`: a two-key segment takes its far pass from what the far key's pass alone gave
before (the editor's cache after a correction) instead of running it again, with the same result."""
from __future__ import annotations

import numpy as np

from models.base import ListLuma
from models.registry import get_propagator
from tests.models.scene import moving_scene


def test_far_pass_from_prior_equals_running_it():
    _rgb, L, ab = moving_scene(n=20)
    luma = ListLuma(L)
    prop = get_propagator("flow")
    alone = {pf.index: (pf.ab, pf.confidence) for pf in prop.run(luma, {0: ab[0]})}
    keys = {0: ab[0], 19: ab[19]}
    want = list(range(1, 19))
    plain = {pf.index: pf.ab for pf in prop.run(luma, keys, frames=want, focus=19)}

    asked, passes = [], []
    real_pass = prop._pass

    def counting_pass(luma_, key, *a, **k):
        passes.append(key)
        return real_pass(luma_, key, *a, **k)
    prop._pass = counting_pass

    def prior(k, t):
        asked.append((k, t))
        return alone.get(t) if k == 0 else None
    got = {pf.index: pf.ab for pf in prop.run(luma, keys, frames=want, focus=19, prior=prior)}
    assert passes == [19]                       # only the near pass ran
    assert sorted(t for _k, t in asked) == want and {k for k, _t in asked} == {0}
    for t in want:
        assert np.abs(got[t] - plain[t]).max() < 0.2, t   # float16 storage of the far pass

    # a prior that does not know every frame: the far pass runs when one is missing
    passes.clear()
    again = {pf.index: pf.ab for pf in prop.run(luma, keys, frames=want, focus=19,
                                                  prior=lambda k, t: alone.get(t) if t > 10 else None)}
    assert sorted(passes) == [0, 19]
    for t in want:
        assert np.abs(again[t] - plain[t]).max() < 0.2, t
