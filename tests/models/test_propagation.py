"""Propagators on a generated moving scene: quality margins a broken method would miss,
protocol behaviour (keyframes exact, stop honoured, focus order, several keyframes)."""
import numpy as np
import pytest

from models.base import ListLuma
from models.color import compose_rgb
from models.registry import BASELINES, DEFAULT_METHOD, available_methods, get_propagator
from tests.models.scene import moving_scene, psnr


@pytest.fixture(scope="module")
def scene():
    return moving_scene(seed=0)


def _mean_psnr(method, rgb, L, keys, frames):
    out = {f.index: f.ab for f in get_propagator(method).run(ListLuma(L), keys)}
    return float(np.mean([psnr(compose_rgb(L[t], out[t]), rgb[t]) for t in frames]))


def test_registry_lists_baselines_and_default():
    names = available_methods()
    for b in BASELINES:
        assert b in names
    assert DEFAULT_METHOD in names
    with pytest.raises(KeyError, match="unknown propagation method"):
        get_propagator("no_such_method")


def test_default_beats_baselines_on_moving_scene(scene):
    rgb, L, AB = scene
    frames = range(1, len(L))
    keys = {0: AB[0]}
    ours = _mean_psnr(DEFAULT_METHOD, rgb, L, keys, frames)
    chain = _mean_psnr("dis_chain", rgb, L, keys, frames)
    copy = _mean_psnr("copy_key", rgb, L, keys, frames)
    gray = _mean_psnr("gray", rgb, L, keys, frames)
    assert ours > gray + 1.0, (ours, gray)
    assert ours > chain + 0.5, (ours, chain)
    assert ours > copy + 2.0, (ours, copy)


def test_static_shot_does_not_drift():
    rgb, L, AB = moving_scene(n=12, seed=3, pan=0.0, speed=(0.0, 0.0))
    out = list(get_propagator(DEFAULT_METHOD).run(ListLuma(L), {0: AB[0]}))
    last = [f for f in out if f.index == len(L) - 1][0]
    assert np.abs(last.ab - AB[0]).mean() < 0.5


@pytest.mark.parametrize("method", available_methods())
def test_keyframe_returned_exactly_and_all_frames_once(method, scene):
    rgb, L, AB = scene
    keys = {0: AB[0], 9: AB[9]}
    out = list(get_propagator(method).run(ListLuma(L), keys))
    idx = [f.index for f in out]
    assert sorted(idx) == list(range(len(L)))
    for f in out:
        assert f.ab.shape == AB[0].shape and f.ab.dtype == np.float32
        assert f.confidence.shape == L[0].shape
        if f.index in keys:
            assert np.array_equal(f.ab, keys[f.index])
            assert np.all(f.confidence == 1.0)


@pytest.mark.parametrize("method", available_methods())
def test_stop_is_honoured(method, scene):
    rgb, L, AB = scene
    got = []
    for fr in get_propagator(method).run(ListLuma(L), {0: AB[0]}, should_stop=lambda: len(got) >= 3):
        got.append(fr.index)
    assert len(got) == 3


def test_two_keyframes_blend(scene):
    rgb, L, AB = scene
    n = len(L)
    frames = range(1, n - 1)
    one = _mean_psnr(DEFAULT_METHOD, rgb, L, {0: AB[0]}, frames)
    two = _mean_psnr(DEFAULT_METHOD, rgb, L, {0: AB[0], n - 1: AB[n - 1]}, frames)
    assert two > one + 1.0, (one, two)
    # Frames next to the second key follow it, not the first key.
    out = {f.index: f.ab for f in get_propagator(DEFAULT_METHOD).run(ListLuma(L), {0: AB[0], n - 1: AB[n - 1]})}
    t = n - 2
    assert np.abs(out[t] - AB[t]).mean() < np.abs(out[t] - AB[0]).mean()


def test_two_keyframes_blend_by_distance():
    L = [np.full((40, 48), 50.0, np.float32) for _ in range(11)]
    keys = {0: np.zeros((40, 48, 2), np.float32), 10: np.full((40, 48, 2), 20.0, np.float32)}
    out = {f.index: f.ab for f in get_propagator(DEFAULT_METHOD).run(ListLuma(L), keys)}
    means = [float(out[t].mean()) for t in range(11)]
    assert means == sorted(means)                    # monotone from key 0 to key 10
    assert abs(means[5] - 10.0) < 1.5


def test_focus_orders_nearest_first_and_frames_subset(scene):
    rgb, L, AB = scene
    keys = {0: AB[0], 8: AB[8]}
    order = [f.index for f in get_propagator(DEFAULT_METHOD).run(ListLuma(L), keys, focus=8)]
    assert order[0] == 8
    non_keys = [i for i in order if i not in keys]
    assert set(non_keys[:2]) == {7, 9}
    sub = [f.index for f in get_propagator(DEFAULT_METHOD).run(ListLuma(L), keys, frames=[3, 12])]
    assert sorted(sub) == [3, 12]


def test_revealed_background_takes_background_colour():
    """Background uncovered behind a moving object must not keep the object's colour."""
    from tests.models.scene import reveal_scene
    rgb, L, AB, revealed = reveal_scene()
    keys = {0: AB[0]}
    ours = {f.index: f.ab for f in get_propagator(DEFAULT_METHOD).run(ListLuma(L), keys)}
    chain = {f.index: f.ab for f in get_propagator("dis_chain").run(ListLuma(L), keys)}
    frames = range(6, len(L))
    err = lambda out: float(np.mean([np.abs(out[t] - AB[t])[revealed[t]].mean() for t in frames]))
    e_ours, e_chain = err(ours), err(chain)
    assert e_ours < 5.0 and e_ours < 0.3 * e_chain, (e_ours, e_chain)
    # The object itself keeps its red (a >> 0) where it is now.
    last = len(L) - 1
    obj = np.abs(AB[last][..., 0]) > 40
    assert ours[last][obj][:, 0].mean() > 0.8 * AB[last][obj][:, 0].mean()


def test_key_chroma_unpacked_exactly():
    """The packed uint8 key sample at zero offset gives the key chroma back (to the 0.5 step)."""
    from models.propagate.flow_prop import FlowPropagator, _Pass
    rng = np.random.default_rng(1)
    L = [np.full((32, 40), 50.0, np.float32)] * 2
    key = (rng.random((32, 40, 2)).astype(np.float32) - 0.5) * 160
    ps = _Pass(FlowPropagator(), ListLuma(L), 0, key)
    ab = ps._sample_key(np.zeros((ps.hsize[1], ps.hsize[0], 2), np.float32))
    assert ab.shape == key.shape and ab.dtype == np.float32 and ab.flags.c_contiguous
    assert np.abs(ab - key).max() <= 0.51
