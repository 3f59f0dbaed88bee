"""HintNet with the SHIPPED weights (models/weights/hintnet.pt) on generated scenes. No timing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.base import HintStroke
from models.color import srgb_to_ab
from models.hinting.hintnet import WEIGHTS, HintNet, HintUNet, count_parameters, fgs_spread, rasterize_strokes

RED = np.array([45.0, 30.0], np.float32)
BLUE = np.array([10.0, -45.0], np.float32)


@pytest.fixture(scope="module")
def net() -> HintNet:
    assert WEIGHTS.exists(), f"shipped weights missing: {WEIGHTS}"
    assert WEIGHTS.stat().st_size < 10 * 2**20
    return HintNet.load(device="cpu")


def two_region_scene(h=192, w=288, edge=0.5, seed=0):
    """A grey image split by a vertical luma edge (dark left, light right) with mild texture;
    the true chroma is RED on the left and BLUE on the right."""
    rng = np.random.default_rng(seed)
    xe = int(edge * w)
    L = np.full((h, w), 38.0, np.float32)
    L[:, xe:] = 72.0
    L += rng.normal(0, 1.5, (h, w)).astype(np.float32)
    truth = np.empty((h, w, 2), np.float32)
    truth[:, :xe] = RED
    truth[:, xe:] = BLUE
    return L, truth, xe


def point_hint(h, w, pts):
    hint = np.zeros((h, w, 2), np.float32)
    mask = np.zeros((h, w), np.float32)
    for (y, x), ab in pts:
        hint[y - 2:y + 3, x - 2:x + 3] = ab
        mask[y - 2:y + 3, x - 2:x + 3] = 1
    return hint, mask


def test_shipped_weights_are_small_and_match_the_architecture(net):
    n = count_parameters(net.model)
    assert 100_000 < n < 2_000_000
    assert isinstance(net.model, HintUNet)
    assert net.meta.get("steps", 0) > 0


def test_each_region_takes_its_hint_and_beats_nearest_hint(net):
    h, w = 192, 288
    L, truth, xe = two_region_scene(h, w)
    # Hints off-centre: the nearest-hint (Voronoi) boundary lies at x~0.35w, not on the edge.
    hint, mask = point_hint(h, w, [((h // 2, int(0.1 * w)), RED), ((h // 2, int(0.6 * w)), BLUE)])
    ab = net.colorize(L, hint, mask)
    assert ab.shape == (h, w, 2) and ab.dtype == np.float32 and np.isfinite(ab).all()
    inner = 6      # ignore the few pixels right at the edge
    left = ab[:, :xe - inner].reshape(-1, 2).mean(0)
    right = ab[:, xe + inner:].reshape(-1, 2).mean(0)
    assert np.abs(left - RED).max() < 10, left
    assert np.abs(right - BLUE).max() < 10, right

    # Trivial baseline: every pixel takes the colour of its nearest hint.
    xs = np.arange(w)
    near = np.where(np.abs(xs - int(0.1 * w)) <= np.abs(xs - int(0.6 * w)), 0, 1)
    voronoi = np.where(near[None, :, None] == 0, RED, BLUE).astype(np.float32)
    voronoi = np.broadcast_to(voronoi, (h, w, 2))
    err_net = np.abs(ab - truth).mean()
    err_vor = np.abs(voronoi - truth).mean()
    assert err_net < 0.5 * err_vor, (err_net, err_vor)


def test_net_stays_near_its_classic_base_on_a_clean_scene(net):
    # On this clean scene the classic base is exact. The shipped net pulls saturated colours
    # towards grey (a known limitation, see hintnet.md): measured 6.3 ab units mean error here.
    # The bound guards against a regression, not a claim that the net helps on such scenes.
    L, truth, _ = two_region_scene(160, 240, edge=0.4, seed=1)
    hint, mask = point_hint(160, 240, [((40, 30), RED), ((120, 200), BLUE)])
    base, conf = fgs_spread(L, hint, mask)
    ab = net.colorize(L, hint, mask, base, conf)
    assert np.abs(base - truth).mean() < 1.0
    assert np.abs(ab - truth).mean() < 9.0


@pytest.mark.parametrize("size", [(77, 101), (33, 47), (481, 855), (240, 64)])
def test_any_size_works(net, size):
    h, w = size
    rng = np.random.default_rng(3)
    L = rng.uniform(0, 100, (h, w)).astype(np.float32)
    hint, mask = point_hint(h, w, [((h // 2, w // 2), RED)])
    ab = net.colorize(L, hint, mask)
    assert ab.shape == (h, w, 2) and np.isfinite(ab).all()
    # A single red hint: the result leans red in the hint's neighbourhood.
    assert ab[h // 2, w // 2, 0] > 20


def test_without_hints_and_with_a_given_base(net):
    L, _, _ = two_region_scene(64, 96)
    zero = np.zeros((64, 96, 2), np.float32)
    ab = net.colorize(L, zero, np.zeros((64, 96), np.float32))
    assert ab.shape == (64, 96, 2) and np.isfinite(ab).all()
    ab2 = net.colorize(L, zero, np.zeros((64, 96), np.float32), base_ab=zero)
    assert ab2.shape == (64, 96, 2)


def test_strokes_rasterise_and_colorize(net):
    L, truth, xe = two_region_scene(120, 180)
    red_rgb, blue_rgb = (200, 40, 40), (40, 60, 210)
    strokes = [HintStroke(frame=0, points=[(0.1, 0.3), (0.2, 0.7)], radius=0.02, color=red_rgb),
               HintStroke(frame=0, points=[(0.8, 0.5)], radius=0.03, color=blue_rgb),
               HintStroke(frame=3, points=[(0.5, 0.5)], radius=0.1, color=(0, 255, 0))]
    hint, mask = rasterize_strokes(strokes, 120, 180, frame=0)
    assert mask.sum() > 0 and mask[60, 90] == 0
    ab = net.colorize(L, hint, mask)
    ra, rb = srgb_to_ab(red_rgb)
    ba, bb = srgb_to_ab(blue_rgb)
    left = ab[:, :xe - 4].reshape(-1, 2).mean(0)
    right = ab[:, xe + 4:].reshape(-1, 2).mean(0)
    # Each side takes the hue of its stroke. Strong colours come out desaturated (measured:
    # the b = -78 blue stroke gives b = -56 on average), so the saturation check is loose.
    for got, (ha, hb) in ((left, (ra, rb)), (right, (ba, bb))):
        want = np.array([ha, hb])
        cos = float(got @ want / (np.linalg.norm(got) * np.linalg.norm(want)))
        assert cos > 0.95, (got, want)
        assert 0.6 * np.linalg.norm(want) < np.linalg.norm(got) < 1.2 * np.linalg.norm(want)


def test_inference_mode_no_grad(net):
    L, _, _ = two_region_scene(64, 64)
    hint, mask = point_hint(64, 64, [((32, 32), RED)])
    net.colorize(L, hint, mask)
    assert all(not p.requires_grad or p.grad is None for p in net.model.parameters())
    assert torch.is_inference_mode_enabled() is False
