"""The "match" propagator (flow + global matching) on a generated scene where a textured
coloured object leaves the frame and comes back: flow cannot carry its colour across the gap,
the global branch must find it again in the keyframe. Also: keyframes exact, stop honoured."""
import numpy as np
import pytest

from models.base import ListLuma
from models.color import rgb_to_lab
from models.registry import get_propagator


def _texture(rng, h, w, blur):
    import cv2
    t = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), blur)
    return (t - t.min()) / (t.max() - t.min() + 1e-6)


def leave_and_return(n=22, h=144, w=192, r=20, seed=0):
    """Green-ish textured background (static); a red/blue striped disc visible in frames 0-5,
    gone (out of the frame) in 6-11, back at another place in 12..n-1.
    Returns rgb, L, ab lists and the per-frame object masks."""
    rng = np.random.default_rng(seed)
    tex = _texture(rng, h, w, 2.0)
    bg = np.stack([0.25 + 0.2 * tex, 0.45 + 0.3 * tex, 0.25 + 0.15 * tex], -1)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb, masks = [], []
    for t in range(n):
        img = bg.copy()
        if t < 6:
            cx, cy = 45 + 3 * t, 60
        elif t < 12:
            cx, cy = None, None
        else:
            cx, cy = 140 - 2 * (t - 12), 85
        m = np.zeros((h, w), bool)
        if cx is not None:
            m = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
            stripes = (((xx - cx) // 5) % 2).astype(np.float32)
            obj = np.stack([0.9 - 0.25 * stripes, 0.1 + 0.05 * stripes, 0.15 + 0.55 * stripes], -1)
            img[m] = obj[m]
        rgb.append(np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8))
        masks.append(m)
    labs = [rgb_to_lab(f) for f in rgb]
    L = [np.ascontiguousarray(x[..., 0]) for x in labs]
    AB = [np.ascontiguousarray(x[..., 1:]) for x in labs]
    return rgb, L, AB, masks


@pytest.fixture(scope="module")
def scene():
    return leave_and_return()


def _object_error(method, L, AB, masks):
    out = {f.index: f.ab for f in get_propagator(method, device="cpu").run(ListLuma(L), {0: AB[0]})}
    errs = [np.abs(out[t] - AB[t])[masks[t]].mean() for t in range(12, len(L))]
    return float(np.mean(errs)), out


def test_returning_object_recovers_its_colour(scene):
    rgb, L, AB, masks = scene
    e_flow, _ = _object_error("flow", L, AB, masks)
    e_q, out = _object_error("match", L, AB, masks)
    # The object's true chroma is far from the background's (|ab| ~ 40-60): flow fills it from
    # the surroundings; the global branch must bring it measurably back towards the true colour.
    assert e_flow > 15.0, e_flow
    assert e_q < 0.75 * e_flow, (e_q, e_flow)        # measured 51 vs 76 (a no-op branch: ~76)
    # and it must not spoil the background where flow is right
    bg = [~masks[t] for t in range(1, len(L))]
    _, flow_out = _object_error("flow", L, AB, masks)
    e_bg_q = np.mean([np.abs(out[t] - AB[t])[bg[t - 1]].mean() for t in range(1, len(L))])
    e_bg_f = np.mean([np.abs(flow_out[t] - AB[t])[bg[t - 1]].mean() for t in range(1, len(L))])
    assert e_bg_q < e_bg_f + 1.0, (e_bg_q, e_bg_f)


def test_keyframes_exact_and_all_frames_once(scene):
    rgb, L, AB, masks = scene
    keys = {0: AB[0], 15: AB[15]}
    out = list(get_propagator("match", device="cpu").run(ListLuma(L), keys))
    assert sorted(f.index for f in out) == list(range(len(L)))
    for f in out:
        assert f.ab.shape == AB[0].shape and f.ab.dtype == np.float32
        assert f.confidence.shape == L[0].shape and 0 <= f.confidence.min() <= f.confidence.max() <= 1
        if f.index in keys:
            assert np.array_equal(f.ab, keys[f.index])


def test_stop_honoured(scene):
    rgb, L, AB, masks = scene
    got = []
    for f in get_propagator("match", device="cpu").run(ListLuma(L), {0: AB[0]}, should_stop=lambda: len(got) >= 4):
        got.append(f.index)
    assert len(got) <= 5, got
