"""A grey source's RGB frames (what PNG, TIFF and FFV1 renders and the editor compose from) are
its Y' plane scaled to 0..255 exactly: swscale's fast YUV -> RGB left them 0.5 codes dark on
8-bit sources and 1.6 on 10-bit ones, so those renders did not keep the source's luma."""
from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from app.cli import EXIT_OK, main
from app.core.media import open_media


def _grey_source(path: Path, codec: str, pix_fmt: str, frames: int = 3) -> list[np.ndarray]:
    """Random grey frames (0..255 full range, as RGB) encoded losslessly in `pix_fmt`."""
    rng = np.random.default_rng(5)
    truth = []
    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=24)
        s.width, s.height, s.pix_fmt = 160, 96, pix_fmt
        if codec == "libx264":
            s.options = {"crf": "0", "preset": "ultrafast"}
        for i in range(frames):
            g = cv2.GaussianBlur((rng.random((96, 160)) * 255).astype(np.uint8), (3, 3), 0)
            rgb = np.repeat(g[..., None], 3, axis=2)
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
            f.pts = i
            for p in s.encode(f):
                out.mux(p)
            # the truth is what the stored codes mean, read back exactly (limited range: 219
            # steps for 255, so the stored codes already round the random values)
            truth.append(f)
        for p in s.encode():
            out.mux(p)
    return [_exact_grey(f) for f in truth]


def _exact_grey(frame) -> np.ndarray:
    name = frame.format.name
    bits = 10 if "10" in name else 8
    y = np.frombuffer(memoryview(frame.planes[0]), np.uint16 if bits > 8 else np.uint8)
    y = y.reshape(frame.planes[0].height, -1)[:, :frame.width].astype(np.float64)
    if name.startswith(("gray", "yuvj")):
        g = y * 255 / ((1 << bits) - 1)
    else:
        s = 1 << (bits - 8)
        g = (y - 16 * s) * 255 / (219 * s)
    return np.clip(np.floor(g + 0.5), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("codec, pix_fmt", [("libx264", "yuv420p"), ("libx264", "yuvj420p"),
                                            ("ffv1", "yuv422p10le"), ("ffv1", "gray10le"),
                                            ("libx264", "yuv444p")])
def test_grey_frames_decode_to_their_exact_grey(tmp_path, codec, pix_fmt):
    path = tmp_path / f"grey_{pix_fmt}.mkv"
    truth = _grey_source(path, codec, pix_fmt)
    src = open_media(path)
    try:
        for i, rgb in src.iter_rgb(0, len(truth)):
            assert rgb.shape == (96, 160, 3)
            assert np.array_equal(rgb[..., 0], rgb[..., 2]) and np.array_equal(rgb[..., 0], rgb[..., 1])
            d = rgb[..., 0].astype(int) - truth[i]
            assert np.abs(d).max() == 0, (pix_fmt, i, float(d.mean()))
    finally:
        src.close()


def test_png_render_of_a_10bit_grey_source_keeps_its_luma(tmp_path, capsys):
    """A grey key on a 10-bit 4:2:2 source (a ProRes-like master) rendered to PNG: the output is
    the source's grey (the Lab round trip moves a code at most), not 1.6 codes darker."""
    path = tmp_path / "master.mkv"
    truth = _grey_source(path, "ffv1", "yuv422p10le")
    key = tmp_path / "key.png"
    cv2.imwrite(str(key), np.repeat(truth[0][..., None], 3, axis=2))
    out = tmp_path / "png"
    assert main(["propagate", str(path), "-o", str(out), "--key", f"0={key}", "--method", "flow", "-q"]) == EXIT_OK, \
        capsys.readouterr().err
    for i in range(len(truth)):
        got = cv2.imread(str(out / f"{i:05d}.png"))[..., 1].astype(int)
        d = got - truth[i]
        assert abs(d.mean()) < 0.1 and np.abs(d).max() <= 1, (i, float(d.mean()), int(np.abs(d).max()))


def test_proxy_luma_of_a_10bit_grey_source_is_exact(tmp_path):
    """The luma pass (what propagation and cut detection see) of a 10-bit grey master: its
    exact grey, area-scaled and mapped to L; swscale's route was 2.5 codes (1 L) dark."""
    from app.core.media import _grey_l_lut
    path = tmp_path / "master.mkv"
    truth = _grey_source(path, "ffv1", "yuv422p10le")
    src = open_media(path)
    try:
        for i, y in src.iter_proxy_luma(0, len(truth), (80, 48)):
            ref = cv2.LUT(cv2.resize(truth[i], (80, 48), interpolation=cv2.INTER_AREA), _grey_l_lut())
            d = y.astype(int) - ref
            assert np.abs(d).max() == 0, (i, float(d.mean()))
    finally:
        src.close()
