"""Symmetric temporal smoothing of a propagation pass (models.propagate.temporal_smooth) and its use
inside flow propagation."""
import numpy as np
import pytest

from models.base import ListLuma
from models.propagate.flow_prop import FlowPropagator
from models.propagate.temporal_smooth import TemporalSmoother


def _noisy_static_shot(n=12, h=48, w=64, seed=0):
    rng = np.random.default_rng(seed)
    luma = np.tile(np.linspace(20, 80, w, dtype=np.float32), (h, 1))
    luma_u8 = np.clip(luma * 2.55, 0, 255).astype(np.uint8)
    true = np.dstack([np.full((h, w), 30.0), np.full((h, w), -20.0)]).astype(np.float32)
    frames = [true + rng.normal(0, 3, true.shape).astype(np.float32) for _ in range(n)]
    return luma_u8, true, frames


@pytest.mark.parametrize("iters", [1, 3])
def test_smoothing_streams_every_frame_in_order_and_removes_flicker(iters):
    luma_u8, true, frames = _noisy_static_shot()
    zero = np.zeros(true.shape, np.float32)
    conf = np.ones(true.shape[:2], np.float32)
    sm = TemporalSmoother(true, luma_u8, iters=iters)
    out = []
    for t, ab in enumerate(frames[1:], start=1):
        ready = sm.push(t, ab, conf, luma_u8, zero)
        out += ready
        assert len(out) == max(0, t - iters)          # a frame leaves `iters` frames later
    out += sm.flush()
    assert [t for t, _, _ in out] == list(range(1, len(frames)))
    err_in = np.mean([np.abs(frames[t] - true).mean() for t in range(1, len(frames) - 1)])
    err_out = np.mean([np.abs(ab - true).mean() for t, ab, _ in out[:-1]])
    assert err_out < (0.75 if iters == 1 else 0.6) * err_in


def test_smoothing_does_not_blend_across_a_luma_mismatch():
    """Where the neighbour's warped luma does not match (an occlusion), it gets no weight."""
    h, w = 32, 32
    dark = np.full((h, w), 40, np.uint8)
    bright = np.full((h, w), 200, np.uint8)
    red = np.dstack([np.full((h, w), 50.0), np.zeros((h, w))]).astype(np.float32)
    blue = np.dstack([np.zeros((h, w)), np.full((h, w), -50.0)]).astype(np.float32)
    zero = np.zeros((h, w, 2), np.float32)
    conf = np.ones((h, w), np.float32)
    sm = TemporalSmoother(red, dark, iters=2)
    out = sm.push(1, blue, conf, bright, zero) + sm.push(2, blue, conf, bright, zero) + sm.flush()
    ab1 = dict((t, ab) for t, ab, _ in out)[1]
    assert np.abs(ab1 - blue).max() < 1.0             # the key's red did not leak in


def test_flow_with_smoothing_yields_each_frame_once_with_keys_exact():
    rng = np.random.default_rng(3)
    n, h, w = 14, 48, 64
    base = rng.uniform(20, 80, (h, w + n * 2)).astype(np.float32)
    import cv2
    base = cv2.GaussianBlur(base, (0, 0), 2)
    L = [np.ascontiguousarray(base[:, 2 * t:2 * t + w]) for t in range(n)]
    k0 = np.dstack([np.full((h, w), 20.0), np.full((h, w), 10.0)]).astype(np.float32)
    k1 = np.dstack([np.full((h, w), -20.0), np.full((h, w), 30.0)]).astype(np.float32)
    prop = FlowPropagator(smooth_iters=3)
    for focus in (None, 9):
        got = [pf.index for pf in prop.run(ListLuma(L), {0: k0, n - 1: k1}, focus=focus)]
        assert sorted(got) == list(range(n))
    frames = {pf.index: pf for pf in prop.run(ListLuma(L), {0: k0, n - 1: k1})}
    assert np.array_equal(frames[0].ab, k0) and np.array_equal(frames[n - 1].ab, k1)
    # between the keys the colour moves from one key's towards the other's
    assert frames[2].ab[..., 0].mean() > frames[n - 3].ab[..., 0].mean() + 10


def test_planar_levels_remap_like_each_plane_with_replicated_borders():
    """The smoother's planar layout (a above b, one stacked map): the same as remapping each
    plane on its own, also where the flow points far outside the frame (no sample crosses
    the seam between the planes)."""
    import cv2
    from models.propagate.baselines import pixel_grid
    from models.propagate.temporal_smooth import from_planar, stacked_map, to_planar
    rng = np.random.default_rng(1)
    h, w = 37, 53
    ab = (rng.standard_normal((h, w, 2)) * 40).astype(np.float32)
    f = (rng.standard_normal((h, w, 2)) * 15).astype(np.float32)
    f[:3, :, 1] = -20.0                                # rows that read above the top edge
    f[-3:, :, 1] = 20.0                                # and below the bottom edge
    out = from_planar(cv2.remap(to_planar(ab), stacked_map(f, 1.0, pixel_grid(h, w)), None,
                                cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    m = pixel_grid(h, w) + f
    for c in range(2):
        ref = cv2.remap(np.ascontiguousarray(ab[..., c]), m, None, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
        assert np.abs(out[..., c] - ref).max() < 1e-2
