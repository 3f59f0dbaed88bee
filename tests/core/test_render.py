"""The headless pipeline end to end on small generated clips (real decode, propagate, encode)."""
from __future__ import annotations

import os

import av
import cv2
import numpy as np
import pytest

from app.core.export import ExportSettings
from app.core.render import (KeyframeError, RenderCancelled, RenderError, RenderJob,
                             full_luma, job_from_project, render)
from models.base import HintStroke, PropagatedFrame
from models.color import compose_rgb, rgb_to_ab, rgb_to_luma, srgb_to_ab
from tests.conftest import encode_clip, write_png


def decode_all(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def box_ab(rgb, box, inset=5):
    x0, y0, x1, y1 = box
    return rgb_to_ab(rgb[y0 + inset:y1 - inset, x0 + inset:x1 - inset]).reshape(-1, 2).mean(0)


def test_keyframe_colour_follows_the_moving_object(grey_clip, tmp_path):
    """Default method, whole pipeline: the object keeps the keyframe's red wherever it moves."""
    sc = grey_clip.scene
    seen = []
    out = tmp_path / "out.mp4"
    res = render(RenderJob(grey_clip.video, out, keys={0: grey_clip.key_png}), progress=seen.append)
    frames = decode_all(out)
    assert res.frames == len(frames) == 24 and frames[0].shape == (96, 160, 3)
    bg_ab = box_ab(sc.rgb(0), (100, 0, 160, 20), 0)
    for i in (0, 4, 8, 12, 16):     # from frame 11 on the object is wholly off its frame-0 place
        box = sc.obj_box(i)
        got, want = box_ab(frames[i], box), box_ab(sc.rgb(i), box)
        err = np.linalg.norm(got - want)
        assert err < 10 and err < np.linalg.norm(got - bg_ab) / 3, (i, got, want, bg_ab)
    # the source luma is kept (to codec precision)
    for i in (0, 12, 23):
        assert np.abs(rgb_to_luma(frames[i]) - rgb_to_luma(sc.gray(i))).mean() < 1.5
    # progress: both stages reported, ending at total, with fps and a final ETA of 0
    stages = {p.stage for p in seen}
    assert stages == {"luma", "render"}
    last = [p for p in seen if p.stage == "render"][-1]
    assert (last.done, last.total) == (24, 24) and last.fps > 0 and last.eta == 0


def test_baseline_method_by_name(grey_clip, tmp_path):
    res = render(RenderJob(grey_clip.video, tmp_path / "d.mkv", keys={0: grey_clip.key_png}, method="dis_chain"))
    assert res.method == "dis_chain" and len(decode_all(tmp_path / "d.mkv")) == 24
    f4 = decode_all(tmp_path / "d.mkv")[4]
    box = grey_clip.scene.obj_box(4)
    assert np.linalg.norm(box_ab(f4, box) - box_ab(grey_clip.scene.rgb(4), box)) < 10


def test_frame_range_and_png_sequence(grey_clip, tmp_path):
    key6 = write_png(tmp_path / "k6.png", grey_clip.scene.rgb(6))
    out = tmp_path / "seq"
    res = render(RenderJob(grey_clip.video, out, keys={6: key6}, start=4, end=12, method="dis_chain",
                           export=ExportSettings(format="png")))
    assert res.frames == 8 and sorted(os.listdir(out)) == [f"{i:05d}.png" for i in range(8)]
    img = cv2.cvtColor(cv2.imread(str(out / "00002.png")), cv2.COLOR_BGR2RGB)   # = source frame 6
    box = grey_clip.scene.obj_box(6)
    assert np.linalg.norm(box_ab(img, box) - box_ab(grey_clip.scene.rgb(6), box)) < 4
    with pytest.raises(KeyframeError, match="keyframe 2: outside the rendered range 4..11"):
        render(RenderJob(grey_clip.video, tmp_path / "x.mp4", keys={2: grey_clip.key_png}, start=4, end=12))
    with pytest.raises(RenderError, match="end frame 30 is out of range"):
        render(RenderJob(grey_clip.video, tmp_path / "x.mp4", keys={0: grey_clip.key_png}, end=31))


def test_hint_strokes_alone(grey_clip, tmp_path):
    sc = grey_clip.scene
    x0, y0, x1, y1 = sc.obj_box(0)
    cx, cy = (x0 + x1) / 2 / sc.width, (y0 + y1) / 2 / sc.height
    green = (30, 190, 60)
    stroke = HintStroke(frame=0, points=[(cx - 0.03, cy), (cx + 0.03, cy)], radius=0.08, color=green)
    out = tmp_path / "h.mkv"
    render(RenderJob(grey_clip.video, out, strokes=[stroke], method="dis_chain",
                     export=ExportSettings(format="ffv1")))
    f0 = decode_all(out)[0]
    a, b = box_ab(f0, sc.obj_box(0), 12)
    ga, gb = srgb_to_ab(green)
    assert a < -5 and np.sign(a) == np.sign(ga)     # the hint's green lands where it was painted


def test_keyframe_errors(grey_clip, tmp_path):
    small = write_png(tmp_path / "small.png", np.zeros((50, 80, 3), np.uint8))
    with pytest.raises(KeyframeError, match=r"small.png: keyframe image is 80x50 but clip.mp4 is 160x96"):
        render(RenderJob(grey_clip.video, tmp_path / "o.mp4", keys={0: small}))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(KeyframeError, match=r"bad.png: keyframe image for frame 3: unreadable image"):
        render(RenderJob(grey_clip.video, tmp_path / "o.mp4", keys={3: bad}))
    with pytest.raises(KeyframeError, match=r"keyframe 24 .*frame index out of range \(the shot has 24 frames, 0..23\)"):
        render(RenderJob(grey_clip.video, tmp_path / "o.mp4", keys={24: grey_clip.key_png}))
    with pytest.raises(RenderError, match="nothing to propagate"):
        render(RenderJob(grey_clip.video, tmp_path / "o.mp4"))
    with pytest.raises(RenderError, match="unknown propagation method 'nope'"):
        render(RenderJob(grey_clip.video, tmp_path / "o.mp4", keys={0: grey_clip.key_png}, method="nope"))
    assert not (tmp_path / "o.mp4").exists()


def test_cancel_removes_partial_output(grey_clip, tmp_path):
    out = tmp_path / "c.mp4"
    count = {"n": 0}

    def progress(p):
        if p.stage == "render":
            count["n"] = p.done

    with pytest.raises(RenderCancelled):
        render(RenderJob(grey_clip.video, out, keys={0: grey_clip.key_png}, method="dis_chain"),
               progress=progress, should_stop=lambda: count["n"] >= 5)
    assert 5 <= count["n"] < 24
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "clip_key0.png"]


def test_truncated_input_renders_readable_frames(scene, tmp_path):
    src = encode_clip(tmp_path / "t.mkv", [scene.gray(i) for i in range(24)])
    data = src.read_bytes()
    src.write_bytes(data[: int(len(data) * 0.6)])
    key = write_png(tmp_path / "k.png", scene.rgb(0))
    res = render(RenderJob(src, tmp_path / "o.mp4", keys={0: key}, method="copy_key"))
    assert res.truncated is not None and 0 < res.frames < 24
    assert f"frame {res.frames}" in str(res.truncated)
    assert len(decode_all(tmp_path / "o.mp4")) == res.frames


def test_audio_is_passed_through(make_clip, tmp_path):
    clip = make_clip("a.mp4", audio=True)
    render(RenderJob(clip.video, tmp_path / "o.mov", keys={0: clip.key_png}, method="copy_key"))
    with av.open(str(tmp_path / "o.mov")) as c:
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac"


class ReversePropagator:
    """Yields frames last-to-first (like a method propagating backward from a late key):
    frame t gets a = t so the output order can be checked."""

    name = "reverse_test"

    def __init__(self, device=None):
        pass

    def run(self, luma, keys, frames=None, should_stop=lambda: False, focus=None):
        h, w = luma[0].shape
        for t in reversed(range(len(luma))):
            ab = np.zeros((h, w, 2), np.float32)
            ab[..., 0] = 2.0 * t
            yield PropagatedFrame(t, ab, np.ones((h, w), np.float32))


def test_out_of_order_propagator_is_reordered(grey_clip, tmp_path):
    from models import registry
    registry.register("reverse_test", ReversePropagator)
    out = tmp_path / "r.mkv"
    render(RenderJob(grey_clip.video, out, keys={5: grey_clip.scene.rgb(5)}, method="reverse_test",
                     export=ExportSettings(format="ffv1")))
    frames = decode_all(out)
    a = [float(rgb_to_ab(f)[..., 0].mean()) for i, f in enumerate(frames) if i != 5]
    assert len(frames) == 24 and all(x < y for x, y in zip(a, a[1:]))


def test_job_from_project(grey_clip, tmp_path):
    from app.core.project import Project
    doc = Project(grey_clip.video)
    doc.set_keyframe(0, grey_clip.scene.rgb(0))
    doc.set_range(2, 9)
    doc.set_method("copy_key")
    job = job_from_project(doc, tmp_path / "p.mkv")
    assert (job.start, job.end, job.method) == (2, 10, "copy_key")
    with pytest.raises(KeyframeError, match="outside the rendered range 2..9"):
        render(job)
    doc.set_range(0, 9)
    assert render(job_from_project(doc, tmp_path / "p.mkv")).frames == 10


def test_full_luma_matches_lab_and_grey_lut():
    rng = np.random.default_rng(0)
    g = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    grey = np.repeat(g[..., None], 3, axis=2)
    assert np.allclose(full_luma(grey), rgb_to_luma(grey), atol=1e-3)
    colour = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert np.allclose(full_luma(colour), rgb_to_luma(colour), atol=1e-4)


def test_compose_rgb_protocol_conversion_matches_reference():
    """The benchmark's conversion (fit_gamut=False) is the plain float conversion, clipped and rounded."""
    rng = np.random.default_rng(1)
    L = rng.uniform(0, 100, (40, 50)).astype(np.float32)
    ab = rng.normal(0, 50, (40, 50, 2)).astype(np.float32)     # includes out-of-gamut colours
    lab = np.dstack([L, ab]).astype(np.float32)
    ref = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    diff = np.abs(compose_rgb(L, ab, fit_gamut=False).astype(int) - ref)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01


def test_compose_rgb_keeps_luma_and_fits_gamut():
    """In-gamut colours compose exactly as the plain float conversion; out-of-gamut ones keep
    the source luma and their hue (chroma scaled towards grey), instead of clipping RGB."""
    rng = np.random.default_rng(1)
    L = rng.uniform(0, 100, (40, 50)).astype(np.float32)
    ab = rng.normal(0, 50, (40, 50, 2)).astype(np.float32)     # includes out-of-gamut colours
    lab = np.dstack([L, ab]).astype(np.float32)
    ref = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    out = compose_rgb(L, ab)
    back = cv2.cvtColor(ref.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    from models.color import _in_gamut_lin
    in_gamut = _in_gamut_lin(L, ab[..., 0], ab[..., 1], tol=1e-3)     # analytic Lab -> linear sRGB
    # the analytic test agrees with OpenCV's conversion: what it calls in gamut survives the round trip
    assert (np.abs(back[..., 0] - L)[in_gamut] < 0.5).all()
    assert 0.2 < in_gamut.mean() < 0.95                           # both kinds are present
    diff = np.abs(out.astype(int) - ref)[in_gamut]
    # (borderline pixels, in gamut only after rounding to 8 bits, may be fitted by a step)
    assert diff.max() <= 2 and (diff > 1).mean() < 0.01
    got = cv2.cvtColor(out.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    assert np.abs(got[..., 0] - L).max() < 1.0                    # luma kept everywhere
    clipped_L = np.abs(back[..., 0] - L)[~in_gamut]
    assert clipped_L.mean() > 2.0                                 # what plain clipping would lose
    sat = np.hypot(ab[..., 0], ab[..., 1])
    sel = ~in_gamut & (sat > 20) & (L > 10) & (L < 90)
    cos = (got[..., 1:] * ab).sum(axis=2)[sel] / (np.hypot(got[..., 1], got[..., 2])[sel] * sat[sel] + 1e-6)
    assert np.median(cos) > 0.95                                  # hue direction kept
    assert (np.hypot(got[..., 1], got[..., 2])[sel] <= sat[sel] + 2).all()   # only desaturated



def test_ycbcr_chroma_fits_only_out_of_gamut_colours():
    """The Y'CbCr compose path scales chroma towards grey only where the colour is out of the
    gamut: in-gamut colours, even close to its edge, keep their own (Cb, Cr); and the gamut
    fit's candidates are only pixels with a channel clipped at 0 or 1 (a bare scalar in
    cv2.compare once made every coloured pixel one, which also shrank in-gamut chroma)."""
    from models.color import _table_fit, rgb_to_lab, ycbcr_chroma
    rng = np.random.default_rng(4)
    rgb8 = rng.integers(8, 248, (30, 40, 3)).astype(np.uint8)        # in gamut, channels off 0 and 1
    rgb8[:10, :, 0], rgb8[:10, :, 2] = 245, 12                        # saturated, near the edge
    lab = rgb_to_lab(rgb8)
    L, ab = np.ascontiguousarray(lab[..., 0]), np.ascontiguousarray(lab[..., 1:])
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    a, b = cv2.split(ab)
    chroma = cv2.add(cv2.absdiff(a, 0.0), cv2.absdiff(b, 0.0))
    assert len(_table_fit(L, a, b, rgb, chroma)[0]) == 0
    from models.color import grey_value
    cb, cr, _, _ = ycbcr_chroma(L, ab, grey_value(L))
    m = np.array([[-0.2126 / 1.8556, -0.7152 / 1.8556, 0.5], [0.5, -0.7152 / 1.5748, -0.0722 / 1.5748]])
    ref = rgb.reshape(-1, 3) @ m.T
    assert np.abs(cb.ravel() - ref[:, 0]).max() < 1e-4 and np.abs(cr.ravel() - ref[:, 1]).max() < 1e-4
    L_o = np.full((4, 4), 60.0, np.float32)
    ab_o = np.full((4, 4, 2), (90.0, 60.0), np.float32)                # far out of the gamut
    cb_o, cr_o, _, _ = ycbcr_chroma(L_o, ab_o, grey_value(L_o))        # fitted, not clipped:
    back = cv2.cvtColor(cv2.merge([L_o, *cv2.split(ab_o)]), cv2.COLOR_Lab2RGB) @ m.T
    assert (np.hypot(cb_o, cr_o) < np.hypot(back[..., 0], back[..., 1]) - 0.01).all()


def test_precomputed_chroma_export(grey_clip, tmp_path):
    """The GUI's export: chroma it already has (proxy ab per frame), composed and encoded."""
    sc = grey_clip.scene
    green_ab = np.array([-12.0, 10.0], np.float32)   # mild: in gamut at the clip's dark greys
    chroma = {i: np.broadcast_to(green_ab, (48, 80, 2)).copy() for i in range(24)}
    res = render(RenderJob(grey_clip.video, tmp_path / "g.mkv", chroma=chroma.get, start=2, end=10,
                           export=ExportSettings(format="ffv1")))
    frames = decode_all(tmp_path / "g.mkv")
    assert res.frames == len(frames) == 8
    assert np.abs(rgb_to_ab(frames[3]).reshape(-1, 2).mean(0) - green_ab).max() < 3
    assert np.abs(rgb_to_luma(frames[3]) - rgb_to_luma(sc.gray(5))).mean() < 1.0
    del chroma[6]
    with pytest.raises(RenderError, match="frame 6 has no propagated colour"):
        render(RenderJob(grey_clip.video, tmp_path / "g2.mkv", chroma=chroma.get, start=2, end=10,
                         export=ExportSettings(format="ffv1")))
    assert not (tmp_path / "g2.mkv").exists()


def _y_planes(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="yuv420p")[:f.height] for f in c.decode(video=0)]


def test_h264_output_keeps_grey_luma_exactly_and_matches_the_rgb_path(grey_clip, tmp_path):
    """The Y'CbCr compose path (app/core/yuvpath.py): where the colour is grey, the source's
    decoded Y' plane reaches the encoder (lossless x264 here, so the decoded output equals it,
    within one code value where the upsampled chroma is not exactly zero); where there is colour, its chroma is the RGB path's (FFV1, full-res Lab)."""
    sc = grey_clip.scene
    grey_key = tmp_path / "grey_key.png"
    write_png(grey_key, sc.gray(0))
    out = tmp_path / "grey.mp4"
    render(RenderJob(grey_clip.video, out, keys={0: grey_key}, method="copy_key",
                     export=ExportSettings(format="h264", crf=0)))
    src, got = _y_planes(grey_clip.video), _y_planes(out)
    assert len(src) == len(got) == 24
    assert np.array_equal(src[0], got[0])     # the keyframe itself: exact
    for a, b in zip(src, got):                 # later frames: the upsampled chroma of a grey key
        d = np.abs(a.astype(int) - b.astype(int))  # is zero to float precision, not always exactly
        assert d.max() <= 1 and (d > 0).mean() < 1e-3, (d.max(), (d > 0).mean())
    # colour: same chroma as the RGB path, to codec and subsampling precision
    h264, ffv1 = tmp_path / "c.mp4", tmp_path / "c.mkv"
    for path, fmt in ((h264, "h264"), (ffv1, "ffv1")):
        render(RenderJob(grey_clip.video, path, keys={0: grey_clip.key_png}, method="copy_key",
                         export=ExportSettings(format=fmt, crf=0) if fmt == "h264" else ExportSettings(format=fmt)))
    for a, b in zip(decode_all(h264)[::6], decode_all(ffv1)[::6]):
        d = np.abs(rgb_to_ab(a) - rgb_to_ab(b))
        assert d.mean() < 2.5 and np.median(d) < 2.0, (d.mean(), np.median(d))  # 1 ab unit is below a JND (~2.3)


def test_opencv_method_render_does_not_import_torch(grey_clip, tmp_path):
    """A render with an OpenCV method (flow) on device auto picks no torch device, so torch is
    never imported (its import cost ~2 s of CPU at every command's start); --device cuda still
    asks torch and fails with its reason where there is no GPU."""
    import subprocess
    import sys
    from pathlib import Path
    code = ("import sys; from pathlib import Path; from app.core.render import RenderJob, render; "
            f"r = render(RenderJob(Path({str(grey_clip.video)!r}), Path({str(tmp_path / 'f.mp4')!r}), "
            f"keys={{0: Path({str(grey_clip.key_png)!r})}}, method='flow', end=6)); "
            "print(r.frames, r.device, 'torch' in sys.modules)")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(root)))
    assert out.returncode == 0, out.stderr[-2000:]
    frames, *_, torch_imported = out.stdout.split()
    assert frames == "6" and torch_imported == "False" and "OpenCV" in out.stdout
    import torch
    if not torch.cuda.is_available():
        with pytest.raises(RenderError, match="cuda"):
            render(RenderJob(grey_clip.video, tmp_path / "g.mp4", keys={0: grey_clip.key_png},
                             method="flow", device="cuda"))


def test_a_finished_segment_is_reused_only_for_the_same_hint_method(grey_clip, tmp_path):
    """Resume and the farm skip a segment whose hash matches: the hint method decides the
    pixels of a stroked key, so it is part of the hash (and an unset one keeps old hashes)."""
    import dataclasses

    from app.core.renderfarm.farm_segments import Segment, segment_hash
    stroke = HintStroke(frame=0, points=[(0.3, 0.5)], radius=0.05, color=(30, 160, 40))
    job = RenderJob(input=grey_clip.video, output=tmp_path / "o.mp4", strokes=[stroke])
    seg = Segment(0, 0, 12)
    plain = segment_hash(job, seg)
    assert segment_hash(dataclasses.replace(job), seg) == plain
    gate = segment_hash(dataclasses.replace(job, hint_method="gate"), seg)
    assert gate != plain
    # a segment with no stroke does not depend on the hint method
    bare = dataclasses.replace(job, strokes=[])
    assert segment_hash(dataclasses.replace(bare, hint_method="gate"), seg) == segment_hash(bare, seg)


def test_a_grey_pixel_format_source_keeps_its_lightness_in_h264_and_prores(scene, tmp_path):
    """A source stored as 'gray' (FFV1, full range, as libswscale reads it): the H.264 and
    ProRes exports took its codes as limited range, so every frame came out ~13 L darker and
    flatter than the PNG export and the preview (luma is passed through, never changed)."""
    src = encode_clip(tmp_path / "g.mkv", [scene.gray(i) for i in range(8)], codec="ffv1", pix_fmt="gray")
    key = write_png(tmp_path / "k.png", scene.rgb(0))
    outs = {"h264": tmp_path / "o.mp4", "prores": tmp_path / "o.mov", "ffv1": tmp_path / "o.mkv"}
    for fmt, out in outs.items():
        render(RenderJob(src, out, keys={0: key}, method="copy_key", export=ExportSettings(format=fmt)))
    want = [rgb_to_luma(scene.gray(i)) for i in range(8)]
    for fmt, out in outs.items():
        got = decode_all(out)
        assert len(got) == 8
        d = max(float(np.abs(rgb_to_luma(g) - w).mean()) for g, w in zip(got, want))
        assert d < 1.5, (fmt, d)
