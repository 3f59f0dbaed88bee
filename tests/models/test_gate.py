"""The `gate` hint method with its shipped weights (models/weights/gate.pt) on a generated scene."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.base import HintStroke
from models.color import srgb_to_ab
from models.hinting import gate as G
from models.hinting.hints import colorize, rasterize


def scene(h: int = 240, w: int = 427, seed: int = 5) -> np.ndarray:
    """Luma at about half the benchmark's size: a dark textured region on the left, a bright
    one on the right (sharp edge at x = w / 2), and a mid-grey disc inside the bright region."""
    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.5)
    tex = (tex - tex.mean()) / (tex.std() + 1e-6)
    L = np.where(np.arange(w)[None, :] < w // 2, 35.0, 80.0).astype(np.float32) + 2.0 * tex
    yy, xx = np.mgrid[0:h, 0:w]
    L[(yy - h * 0.5) ** 2 + (xx - w * 0.8) ** 2 < (0.15 * h) ** 2] = 58.0
    return np.clip(L, 0, 100).astype(np.float32)


def test_shipped_gate_loads_and_is_small():
    assert G.WEIGHTS.exists() and G.WEIGHTS.stat().st_size < 20 * 2**20
    g = G._Gate.load()
    assert g.n_in in (G.N_FEATURES, G.N_FEATURES_SCENE)
    assert g.meta.get("steps", 0) > 0


def test_blocked_mlp_matches_one_product():
    g = G._Gate.load()
    x = np.random.default_rng(0).random((37, 101, g.n_in)).astype(np.float32)
    z = x.reshape(-1, g.n_in)
    for i, (W_, b) in enumerate(g.layers):
        z = z @ W_.T + b
        if i < len(g.layers) - 1:
            z = np.maximum(z, 0.0)
    ref = (1.0 / (1.0 + np.exp(-z[:, 0]))).reshape(37, 101)
    np.testing.assert_allclose(g(x), ref, atol=1e-5)


def test_stroke_takes_its_region_and_not_an_unrelated_one():
    L = scene()
    h, w = L.shape
    orange = (200, 110, 40)
    s = HintStroke(frame=0, points=[(0.12, 0.3), (0.3, 0.65)], radius=0.02, color=orange)
    ab, conf = colorize(L, [s], method="gate")
    target = np.array(srgb_to_ab(orange), np.float32)
    u = target / np.linalg.norm(target)
    hint, mask = rasterize(L.shape, [s])
    sel = mask > 0.5
    np.testing.assert_allclose(ab[sel], hint[sel])                 # painted pixels keep their colour
    left = ab[:, : int(0.45 * w)][~sel[:, : int(0.45 * w)]]
    right = ab[:, int(0.55 * w):]
    # the stroke's own (dark, textured) region takes most of its colour ...
    assert float(left.reshape(-1, 2).mean(0) @ u) > 0.5 * np.linalg.norm(target)
    # ... the bright region across the edge and the disc in it are not tinted by it
    assert abs(float(right.reshape(-1, 2).mean(0) @ u)) < 0.15 * np.linalg.norm(target)
    assert float(conf[:, int(0.55 * w):].mean()) < 0.3


def test_a_fallback_fills_only_where_the_gate_lets_the_strokes_go():
    """gate_colorize's fallback (the `gate+prior` fill): ab = w * blend + (1 - w) * fallback,
    painted pixels exact; w itself is the one computed for a grey frame."""
    L = scene()
    h, w = L.shape
    s = HintStroke(frame=0, points=[(0.1, 0.3), (0.3, 0.7)], radius=0.03, color=(40, 150, 40))
    hint_ab, mask = rasterize(L.shape, [s])
    grey_ab, g = G.gate_colorize(L, hint_ab, mask)
    fb = np.zeros((h, w, 2), np.float32)
    fb[..., 0], fb[..., 1] = 20.0, -10.0
    ab, g2 = G.gate_colorize(L, hint_ab, mask, fallback=fb)
    np.testing.assert_allclose(g2, g)
    # a callable fallback (the prior, run on a thread beside the gate) gives the same answer,
    # and its error reaches the caller
    np.testing.assert_allclose(G.gate_colorize(L, hint_ab, mask, fallback=lambda: fb)[0], ab)

    def broken():
        raise ValueError("no prior")
    with pytest.raises(ValueError, match="no prior"):
        G.gate_colorize(L, hint_ab, mask, fallback=broken)
    # the gate failing: its error is raised, after the fallback's thread has ended

    def slow():
        import time
        time.sleep(0.2)
        done.append(1)
        return fb
    done = []

    def failing_gate(fields, base_small):
        raise RuntimeError("gate weights missing")
    with pytest.raises(RuntimeError, match="gate weights missing"):
        G.gate_colorize(L, hint_ab, mask, gate=failing_gate, fallback=slow)
    assert done == [1]
    sel = mask > 0.5
    np.testing.assert_allclose(ab[sel], hint_ab[sel])
    free = ~sel
    np.testing.assert_allclose(ab[free], (grey_ab + (1.0 - g)[..., None] * fb)[free], atol=1e-4)
    # somewhere the strokes do not reach, and there the fallback shows
    far = (g < 0.05) & free
    assert far.any()
    np.testing.assert_allclose(ab[far], fb[far], atol=0.05 * 100)     # w < 0.05 of |blend - fallback| < 100


def test_gate_prior_is_gate_over_a_base_grey_without_paint_and_the_prior_where_gate_stops():
    """`gate+prior` on its own terms: over a base it is `gate`; a frame whose strokes are all
    erased stays grey; on grey it is gate where the gate trusts the strokes and half the prior's
    hinted colour where it does not."""
    from models.hinting.hints import PRIOR_FILL, colorize_hints
    from models.prior.net import Prior
    L = scene()
    s = HintStroke(frame=0, points=[(0.1, 0.3), (0.3, 0.7)], radius=0.03, color=(40, 150, 40))
    hint_ab, mask = rasterize(L.shape, [s])
    base = np.zeros(L.shape + (2,), np.float32)
    base[..., 0] = 25.0
    np.testing.assert_allclose(colorize_hints(L, hint_ab, mask, base_ab=base, method="gate+prior")[0],
                               colorize_hints(L, hint_ab, mask, base_ab=base, method="gate")[0])
    none = np.zeros_like(mask)
    assert np.abs(colorize_hints(L, hint_ab * 0, none, method="gate+prior")[0]).max() == 0
    gp, g = colorize_hints(L, hint_ab, mask, method="gate+prior")
    gate, _ = colorize_hints(L, hint_ab, mask, method="gate")
    fill = PRIOR_FILL * Prior.load().colorize(L, hint_ab, mask)
    np.testing.assert_allclose(gp, gate + (1.0 - g)[..., None] * fill * (mask <= 0.5)[..., None], atol=1e-3)
