"""Hint colorization, guided upsampling and the device picker."""
import cv2
import numpy as np
import pytest
import torch

from models.base import HintStroke
from models.color import srgb_to_ab
from models.device import DeviceUnavailable, describe, pick_device
from models.hinting.hints import colorize, rasterize
from models.upsample import upsample_ab


def _two_region_luma(h=120, w=160):
    L = np.full((h, w), 30.0, np.float32)
    L[:, w // 2:] = 70.0                      # a vertical luma edge in the middle
    return L


def test_hint_colours_painted_region_and_stays_inside_edge():
    L = _two_region_luma()
    red = (220, 30, 30)
    s = HintStroke(frame=0, points=[(0.2, 0.5)], radius=0.05, color=red)
    ab, conf = colorize(L, [s])
    ra, rb = srgb_to_ab(red)
    left = ab[:, :60]
    right = ab[:, 100:]
    assert np.abs(left[..., 0].mean() - ra) < 0.2 * abs(ra)      # left region is red
    assert np.abs(right).mean() < 0.25 * np.abs(left).mean()     # little leaks over the edge
    assert conf[:, :60].mean() > conf[:, 100:].mean()


def test_two_hints_split_at_luma_edge_and_erase():
    L = _two_region_luma()
    red, blue = (220, 30, 30), (30, 60, 220)
    strokes = [HintStroke(0, [(0.1, 0.3), (0.3, 0.7)], 0.03, red),
               HintStroke(0, [(0.7, 0.3), (0.9, 0.7)], 0.03, blue)]
    ab, _ = colorize(L, strokes)
    ba, bb = srgb_to_ab(blue)
    assert ab[:, 100:, 1].mean() < 0.7 * bb                     # right is blue (b << 0)
    assert ab[:, :60, 0].mean() > 20                            # left is red (a >> 0)
    erased = strokes + [HintStroke(0, [(0.7, 0.3), (0.9, 0.7)], 0.06, (0, 0, 0), erase=True)]
    _, mask = rasterize(L.shape, erased)
    assert mask[:, 80:].sum() == 0 and mask[:, :80].sum() > 0


def test_colorize_keeps_base_far_from_hints():
    L = _two_region_luma()
    base = np.full(L.shape + (2,), 15.0, np.float32)
    ab, conf = colorize(L, [HintStroke(0, [(0.2, 0.5)], 0.05, (30, 200, 30))], base_ab=base)
    assert np.abs(ab[:, 120:] - 15.0).mean() < 4.0
    assert ab[60, 32, 0] < 0                                    # green at the hint


def test_colorize_no_strokes():
    L = _two_region_luma()
    ab, conf = colorize(L, [])
    assert np.all(ab == 0) and np.all(conf == 0)


def test_upsample_preserves_edges():
    H, W = 240, 320
    L = np.full((H, W), 40.0, np.float32)
    L[:, 161:] = 80.0                                           # edge not on a proxy pixel boundary
    ab = np.zeros((H, W, 2), np.float32)
    ab[:, 161:, 0] = 40.0
    proxy = cv2.resize(ab, (W // 4, H // 4), interpolation=cv2.INTER_AREA)
    up = upsample_ab(proxy, L)
    bil = cv2.resize(proxy, (W, H), interpolation=cv2.INTER_LINEAR)
    err_up = np.abs(up - ab).mean()
    err_bil = np.abs(bil - ab).mean()
    assert up.shape == ab.shape and up.dtype == np.float32
    assert err_up < 0.6 * err_bil, (err_up, err_bil)
    # Flat regions keep their chroma.
    assert np.abs(up[:, :140] - 0).max() < 1.0 and np.abs(up[:, 190:, 0] - 40).max() < 1.0


def test_upsample_same_size_is_identity():
    ab = np.random.default_rng(0).random((30, 40, 2)).astype(np.float32)
    assert np.array_equal(upsample_ab(ab, np.zeros((30, 40), np.float32)), ab)


def test_pick_device():
    dev = pick_device("auto")
    assert isinstance(dev, torch.device)
    assert pick_device("cpu").type == "cpu"
    assert "CPU" in describe(torch.device("cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(DeviceUnavailable, match="cuda"):
            pick_device("cuda")
        assert dev.type != "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is None or not mps.is_available():
        with pytest.raises(DeviceUnavailable, match="mps"):
            pick_device("mps")
    with pytest.raises(DeviceUnavailable, match="unknown device"):
        pick_device("tpu")


def _textured_luma(h=120, w=160, seed=0):
    """Weak texture (no strong edges) plus one strong vertical edge at x = 120."""
    rng = np.random.default_rng(seed)
    t = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 3.0)
    L = 45.0 + 20.0 * (t - t.min()) / (t.max() - t.min())
    L[:, 120:] += 30.0
    return L.astype(np.float32)


def test_correction_over_base_stays_local():
    """Over a base, one small stroke changes the region around it, not the whole frame."""
    L = _textured_luma()
    base = np.zeros(L.shape + (2,), np.float32)
    base[..., 1] = -40.0                                          # blue everywhere
    green = (30, 200, 40)
    ga, gb = srgb_to_ab(green)
    s = HintStroke(0, [(0.25, 0.5)], 0.05, green)               # centre (40, 60), radius 6
    ab, conf = colorize(L, [s], base_ab=base)
    yy, xx = np.mgrid[0:120, 0:160]
    d = np.hypot(xx - 40, yy - 60)
    assert ab[d < 3][:, 0].mean() < 0.8 * ga                      # green at the stroke
    far = d > 45
    assert np.abs(ab[far] - base[far]).mean() < 3.0, np.abs(ab[far] - base[far]).mean()
    assert conf[far].mean() < 0.15 and conf[d < 3].mean() > 0.8
    # Influence falls off with distance.
    ring = lambda r0, r1: float(conf[(d >= r0) & (d < r1)].mean())
    assert ring(0, 4) > ring(10, 14) > ring(25, 30) > ring(45, 60)
    # A stroke near the strong edge does not cross it.
    s2 = HintStroke(0, [(0.70, 0.5)], 0.05, green)              # x = 111, edge at 120
    ab2, _ = colorize(L, [s2], base_ab=base)
    left = (d < 200) & (xx >= 104) & (xx < 116) & (np.abs(yy - 60) < 6)
    right = (xx >= 124) & (xx < 136) & (np.abs(yy - 60) < 6)
    assert np.abs(ab2[right] - base[right]).mean() < 0.3 * np.abs(ab2[left] - base[left]).mean()


def test_correction_has_no_flat_patch_outline():
    """The stroke is blended like its surroundings: no jump in chroma at its outline."""
    L = _textured_luma()
    base = np.zeros(L.shape + (2,), np.float32)
    base[..., 0] = 30.0
    s = HintStroke(0, [(0.2, 0.5), (0.45, 0.5)], 0.04, (30, 60, 220))
    ab, _ = colorize(L, [s], base_ab=base)
    _, mask = rasterize(L.shape, [s])
    inner = cv2.erode(mask, np.ones((3, 3), np.uint8)) > 0
    outline_in = (mask > 0) & ~inner                              # last painted pixels
    outline_out = (cv2.dilate(mask, np.ones((3, 3), np.uint8)) > 0) & (mask == 0)
    jump = np.abs(ab[outline_in].mean(0) - ab[outline_out].mean(0)).max()
    spread_in_to_far = np.abs(ab[inner].mean(0) - base[0, 0]).max()
    assert jump < 0.15 * spread_in_to_far, (jump, spread_in_to_far)
    assert np.abs(ab[:, 130:] - base[:, 130:]).mean() < 3.0       # and far away the base stays


def test_hints_without_base_still_fill_region():
    L = _textured_luma()
    red = (220, 30, 30)
    ab, conf = colorize(L, [HintStroke(0, [(0.25, 0.5)], 0.04, red)])
    ra, _ = srgb_to_ab(red)
    assert ab[:, :110, 0].mean() > 0.6 * ra                       # the whole left region


def test_spread_without_base_gives_each_region_its_hinted_colour():
    """The hint protocol's path (models.hinting.hints.spread, no base): random point hints in four
    flat regions of different luma; the geodesic blend colours each region from its own hints."""
    from models.hinting.hints import sample_hint_points, spread
    h, w = 120, 160
    L = np.zeros((h, w), np.float32)
    ab = np.zeros((h, w, 2), np.float32)
    cols = [(40, 20), (-30, 40), (10, -45), (-25, -10)]
    for i, (lv, c) in enumerate(zip((25, 45, 65, 85), cols)):
        ys, xs = slice((i // 2) * 60, (i // 2 + 1) * 60), slice((i % 2) * 80, (i % 2 + 1) * 80)
        L[ys, xs] = lv
        ab[ys, xs] = c
    hint, mask = sample_hint_points(ab, 12, seed=5)
    out, _ = spread(L, hint, mask)
    for i, c in enumerate(cols):
        ys, xs = slice((i // 2) * 60 + 10, (i // 2 + 1) * 60 - 10), slice((i % 2) * 80 + 10, (i % 2 + 1) * 80 - 10)
        region = out[ys, xs].reshape(-1, 2).mean(0)
        assert np.abs(region - np.array(c)).max() < 0.35 * np.abs(c).max(), (i, region, c)
