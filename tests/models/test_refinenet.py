"""RefineNet and the "quality" propagator with the SHIPPED weights (models/weights/refinenet.pt)
on generated scenes. No timing here (speed is `hueshot bench`)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.base import ListLuma
from models.color import compose_rgb
from models.propagate.refined_prop import RefinedPropagator
from models.propagate.refinenet import WEIGHTS, RefineNet, RefineUNet, count_parameters
from models.registry import get_propagator

from .scene import moving_scene, psnr


@pytest.fixture(scope="module")
def net() -> RefineNet:
    assert WEIGHTS.exists(), f"shipped weights missing: {WEIGHTS}"
    assert WEIGHTS.stat().st_size < 5 * 2**20
    return RefineNet.load(device="cpu")


def test_shipped_weights_load_and_are_trained(net):
    assert count_parameters(net.net) > 50_000
    assert net.meta.get("steps", 0) >= 1000
    # a trained head is not the zero initialisation
    assert float(net.net.head.weight.detach().abs().sum()) > 0


def test_shipped_weights_match_the_quality_flow_settings(net):
    """The net was trained on inputs made with the quality method's flow settings and cache
    version: changing QUALITY_FLOW without retraining puts it off its training distribution.
    The smoothing comes after the net and is not part of its inputs (training records with
    smooth_iters=0), so only it may change."""
    from models.propagate.refined_prop import QUALITY_FLOW
    from models.propagate.train_refinenet import CACHE_VERSION
    after_net = {"smooth_iters", "smooth_sigma"}
    want = {k: list(v) if isinstance(v, tuple) else v for k, v in QUALITY_FLOW.items() if k not in after_net}
    got = {k: list(v) if isinstance(v, (tuple, list)) else v for k, v in net.meta["flow"].items()
           if k not in after_net}
    assert got == want
    assert net.meta["cache_version"] == CACHE_VERSION


def test_untrained_net_is_identity():
    """The head starts at zero: before training the net returns its input chroma exactly."""
    n = RefineNet(RefineUNet(), "cpu")
    rng = np.random.default_rng(0)
    L = rng.uniform(0, 100, (50, 70)).astype(np.float32)
    ab = rng.uniform(-60, 60, (50, 70, 2)).astype(np.float32)
    out = n.refine(L, ab, np.ones((50, 70), np.float32))
    assert out.shape == ab.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, ab, atol=1e-4)


def test_corrupt_weights_give_a_clear_error(tmp_path):
    bad = tmp_path / "refinenet.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot load RefineNet weights"):
        RefineNet.load(bad, device="cpu")
    with pytest.raises(FileNotFoundError, match="train_refinenet"):
        RefineNet.load(tmp_path / "missing.pt", device="cpu")


def _scene_psnr(method_kw, rgb, L, AB):
    prop = RefinedPropagator(device="cpu", **method_kw)
    out = {f.index: f.ab for f in prop.run(ListLuma(L), {0: AB[0]})}
    return float(np.mean([psnr(compose_rgb(L[t], out[t]), rgb[t]) for t in range(1, len(L))])), out


def _procedural_shot(seed, n=16, size=(320, 240)):
    """A generated shot like the net's synthetic training shots (camera path, sprites moving
    over a background, non-rigid wobble), over procedural textures instead of photos."""
    from models.color import rgb_to_lab
    from models.propagate.train_refinenet import synth_sequence
    from .scene import _texture
    rng = np.random.default_rng(seed)

    def image(h, w):
        col = _texture(rng, h, w, 12.0)
        fine = _texture(rng, h, w, 1.5)[..., :1]
        return np.clip((0.1 + 0.8 * col * (0.55 + 0.45 * fine)) * 255, 0, 255).astype(np.uint8)
    frames = synth_sequence(image(400, 560), [image(300, 300), image(300, 300)], n, rng, size)
    labs = [rgb_to_lab(f) for f in frames]
    return frames, [np.ascontiguousarray(x[..., 0]) for x in labs], [np.ascontiguousarray(x[..., 1:]) for x in labs]


@pytest.mark.parametrize("seed", [1, 2])
def test_refinement_on_a_generated_shot(net, seed):
    """The shipped net's corrections are small and regional (on the benchmark clips they add
    +0.06 dB mean, README): on a generated shot it must change the chroma (the hook runs, the
    weights act), stay close to flow's (no garbage from a wrong input scaling or channel
    order) and not cost quality."""
    rgb, L, AB = _procedural_shot(seed)
    p_flow, out_flow = _scene_psnr({"refine": False}, rgb, L, AB)
    p_ref, out_ref = _scene_psnr({}, rgb, L, AB)
    d = np.mean([np.abs(out_ref[t] - out_flow[t]).mean() for t in range(1, len(L))])
    assert 0.01 < d < 3.0, d
    assert p_ref > p_flow - 0.1, (p_flow, p_ref)


def test_refinement_keeps_an_easy_scene(net):
    """On a pan with a moving object, which flow carries well, the net must not make it worse."""
    rgb, L, AB = moving_scene(n=12, h=112, w=160)
    p_flow, _ = _scene_psnr({"refine": False}, rgb, L, AB)
    p_ref, _ = _scene_psnr({}, rgb, L, AB)
    assert p_ref > p_flow - 0.1, (p_flow, p_ref)


def test_half_scale_refinement_matches_full_scale(net):
    """The quality method runs the net at half size and upsamples its correction; the result
    must stay close to the full-size net's (it is regional, not fine detail)."""
    rgb, L, AB = _procedural_shot(3, n=6)
    _p, half = _scene_psnr({}, rgb, L, AB)
    _p, full = _scene_psnr({"net_scale": 1.0}, rgb, L, AB)
    d = np.mean([np.abs(half[t] - full[t]).mean() for t in range(1, len(L))])
    assert d < 1.0, d


def test_quality_method_keys_exact_and_stop():
    rgb, L, AB = moving_scene(n=10, h=64, w=96)
    prop = get_propagator("quality", device="cpu")
    out = {f.index: f.ab for f in prop.run(ListLuma(L), {0: AB[0], 9: AB[9]})}
    assert sorted(out) == list(range(10))
    np.testing.assert_array_equal(out[0], AB[0])
    np.testing.assert_array_equal(out[9], AB[9])
    got = []
    for f in prop.run(ListLuma(L), {0: AB[0]}, should_stop=lambda: len(got) >= 3):
        got.append(f.index)
    assert len(got) == 3


def test_torch_threads_restored():
    before = torch.get_num_threads()
    rgb, L, AB = moving_scene(n=4, h=48, w=64)
    list(RefinedPropagator(device="cpu", cpu_threads=1).run(ListLuma(L), {0: AB[0]}))
    assert torch.get_num_threads() == before
