"""The learned colour prior with its shipped weights (models/weights/prior.pt) on generated scenes."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.base import HintStroke
from models.color import srgb_to_ab
from models.hinting.hints import DEFAULT_HINT_METHOD, colorize
from models.prior.net import WEIGHTS, Prior


def two_region_scene(h: int = 120, w: int = 200, seed: int = 3) -> np.ndarray:
    """Luma of a dark textured region (left) and a bright one (right) with a sharp edge at
    x = 0.5 w, plus a mid-grey disc in the right region (a third, unrelated object)."""
    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.5)
    tex = (tex - tex.mean()) / (tex.std() + 1e-6)
    L = np.where(np.arange(w)[None, :] < w // 2, 38.0, 78.0).astype(np.float32) + 2.0 * tex
    yy, xx = np.mgrid[0:h, 0:w]
    L[(yy - h * 0.5) ** 2 + (xx - w * 0.8) ** 2 < (0.15 * h) ** 2] = 58.0
    return np.clip(L, 0, 100).astype(np.float32)


def along(ab_region: np.ndarray, stroke_ab: np.ndarray) -> float:
    """Mean chroma of a region projected on the stroke's chroma direction, in ab units."""
    u = stroke_ab / np.linalg.norm(stroke_ab)
    return float(ab_region.reshape(-1, 2).mean(0) @ u)


def test_shipped_weights_load_and_are_small():
    assert WEIGHTS.exists() and WEIGHTS.stat().st_size < 20 * 2**20
    p = Prior.load()
    assert p.meta.get("steps", 0) > 0


def test_inference_net_folds_batch_norms_and_keeps_the_trained_outputs():
    """Prior folds each batch norm into its convolution and runs channels-last (faster stroke
    previews); its outputs are the trained network's, as PriorNet computes them unfolded."""
    import torch

    from models.prior.net import PriorNet
    ck = torch.load(WEIGHTS, map_location="cpu", weights_only=False)
    plain = PriorNet(ck.get("width", 32))
    plain.load_state_dict(ck["state"])
    plain.eval()
    p = Prior.load()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in p.net.modules())
    x = torch.randn(1, 4, 96, 160, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        ab0, cls0 = plain(x)
        ab1, cls1 = p.net(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(ab0, ab1, atol=1e-4) and torch.allclose(cls0, cls1, atol=1e-3)


PRIOR_SHORT = pytest.mark.xfail(strict=True, reason=(
    "shipped weights are under-trained (models/weights/prior.md): the stroke's colour reaches only "
    "a fraction of its own region; strict, so a retrained prior that passes must drop this mark"))


@pytest.mark.parametrize("method", [pytest.param("prior", marks=PRIOR_SHORT),
                                    pytest.param("prior+spread", marks=PRIOR_SHORT)]
                         + sorted({DEFAULT_HINT_METHOD, "spread", "gate", "gate+prior"} - {"prior", "prior+spread"}))
def test_stroke_colours_its_region_and_not_an_unrelated_one(method):
    L = two_region_scene()
    h, w = L.shape
    green = (40, 150, 40)
    s = HintStroke(frame=0, points=[(0.15, 0.3), (0.3, 0.6)], radius=0.03, color=green)
    ab, _ = colorize(L, [s], method=method)
    target = np.array(srgb_to_ab(green), np.float32)
    left = ab[:, : int(0.45 * w)]
    right = ab[:, int(0.55 * w):]
    # the stroke's region takes its colour (most of its chroma, everywhere in the region) ...
    assert along(left, target) > 0.6 * np.linalg.norm(target), method
    # ... and the region across the edge, which no stroke explains, is not tinted by it
    assert abs(along(right, target)) < 0.2 * np.linalg.norm(target), method


def test_no_hint_gives_an_automatic_colour_and_hint_pixels_keep_their_colour():
    L = two_region_scene()
    p = Prior.load()
    auto = p.colorize(L)
    assert auto.shape == L.shape + (2,) and np.isfinite(auto).all()
    # no stroke: nothing saturated out of nowhere on a plain grey scene
    assert float(np.abs(auto).mean()) < 25.0
    hint = np.zeros(L.shape + (2,), np.float32)
    mask = np.zeros(L.shape, np.float32)
    mask[10:14, 10:14] = 1
    hint[10:14, 10:14] = (-30.0, 40.0)
    ab = p.colorize(L, hint, mask)
    np.testing.assert_allclose(ab[10:14, 10:14], hint[10:14, 10:14])


def test_suggestions_are_nine_distinct_colours_ranked_by_probability():
    L = two_region_scene()
    sug = Prior.load().suggest(L, 0.2, 0.5, k=9)
    assert len(sug) == 9
    assert len({c for c, _ in sug}) >= 7          # distinct swatches (two bins may map alike)
    probs = [q for _, q in sug]
    assert all(0 <= q <= 1 for q in probs)
    assert all(isinstance(v, int) and 0 <= v <= 255 for c, _ in sug for v in c)


def test_gate_weights_load_are_small_and_were_trained():
    from models.hinting.gate import WEIGHTS as GATE_WEIGHTS, _Gate
    assert GATE_WEIGHTS.exists() and GATE_WEIGHTS.stat().st_size < 20 * 2**20
    g = _Gate.load()
    assert g.meta.get("steps", 0) > 0 and len(g.layers) == 3


def test_gate_correction_keeps_the_base_away_from_the_stroke():
    """Over a base (a correction on propagated colour) the stroke recolours its own region and
    the base stays where nothing relates to the stroke (the disc across the edge)."""
    L = two_region_scene()
    h, w = L.shape
    base = np.zeros((h, w, 2), np.float32)
    base[..., 1] = 30.0                       # a yellowish base everywhere
    green = (40, 150, 40)
    s = HintStroke(frame=0, points=[(0.15, 0.3), (0.3, 0.6)], radius=0.03, color=green)
    ab, _ = colorize(L, [s], base_ab=base, method="gate")
    target = np.array(srgb_to_ab(green), np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    disc = (yy - h * 0.5) ** 2 + (xx - w * 0.8) ** 2 < (0.1 * h) ** 2
    assert np.abs(ab[disc] - base[disc]).mean() < 5.0
    near = ab[int(0.3 * h):int(0.6 * h), int(0.15 * w):int(0.3 * w)]
    assert np.linalg.norm(near.reshape(-1, 2).mean(0) - target) < 0.3 * np.linalg.norm(target)
