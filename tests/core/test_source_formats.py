"""Real-world source formats through the whole round trip (source -> hueshot propagate ->
output): picture geometry (non-square pixels), timing and colour tags survive.

Every clip is made here with PyAV: a few small frames, rendered with ``flow``.
"""
from __future__ import annotations

import contextlib
import io
import logging
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import Scene, mux_frames, write_png


def _encode(path: Path, frames, *, sar=None, fps: int = 25, codec: str = "libx264",
            pix_fmt: str = "yuv420p") -> Path:
    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=fps)
        h, w = frames[0].shape[:2]
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        if sar is not None:
            s.codec_context.sample_aspect_ratio = Fraction(*sar)
        if codec == "libx264":
            s.options = {"preset": "ultrafast", "crf": "12"}
        mux_frames(out, s, frames)
    return path


def _propagate(*args) -> tuple[int, str]:
    from app.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["propagate", *map(str, args), "--method", "flow"])
    return rc, err.getvalue()


@pytest.fixture
def pal_clip(tmp_path):
    """4 grey frames with PAL's widescreen pixel aspect (64:45), H.264 in .mp4, and a key."""
    sc = Scene(width=160, height=96)
    video = _encode(tmp_path / "pal.mp4", [sc.gray(i) for i in range(4)], sar=(64, 45))
    key = write_png(tmp_path / "key0.png", sc.rgb(0))
    return video, key, sc


def _png_aspect(path: Path) -> Fraction | None:
    data = path.read_bytes()
    i = 8
    while i < len(data):
        n, kind = struct.unpack(">I4s", data[i:i + 8])
        if kind == b"pHYs":
            x, y, unit = struct.unpack(">IIB", data[i + 8:i + 17])
            return Fraction(y, x)          # pixels per unit X : Y = pixel height : width
        i += 12 + n
    return None


# ----------------------------------------------------------------------------- pixel aspect
def test_a_sources_pixel_aspect_is_read(pal_clip):
    from app.core.media import open_media
    with open_media(pal_clip[0]) as src:
        info = src.info
    assert info.sample_aspect_ratio == Fraction(64, 45)
    assert info.display_size == (228, 96)          # 160 * 64/45 = 227.6
    assert "pixel aspect 64:45" in info.describe()


@pytest.mark.parametrize("name,fmt", [("out.mp4", "h264"), ("out.mov", "h264"), ("out.mkv", "h264"),
                                      ("pr.mov", "prores")])
def test_non_square_pixels_keep_their_aspect_in_video_outputs(pal_clip, tmp_path, name, fmt):
    """A PAL 16:9 (64:45) source came out with square pixels: its 720x576 frames shown 5:4,
    everything squeezed to 70 % of its width."""
    video, key, sc = pal_clip
    out = tmp_path / name
    rc, err = _propagate(video, "-o", out, "--key", f"0={key}", "--format", fmt)
    assert rc == 0, err
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.width, s.codec_context.height) == (160, 96)   # stored size, luma not resampled
        assert s.sample_aspect_ratio == Fraction(64, 45)


@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_non_square_pixels_are_recorded_in_frame_sequences(pal_clip, tmp_path, fmt):
    video, key, sc = pal_clip
    out = tmp_path / "seq"
    rc, err = _propagate(video, "-o", out, "--key", f"0={key}", "--format", fmt)
    assert rc == 0, err
    frames = sorted(out.iterdir())
    assert len(frames) == 4
    if fmt == "png":
        assert all(_png_aspect(f) == Fraction(64, 45) for f in frames)
        import cv2
        assert cv2.imread(str(frames[0])).shape == (96, 160, 3)      # the chunk leaves the image readable
    else:
        from PIL import Image
        with Image.open(frames[0]) as im:
            x, y = (float(v) for v in im.info["resolution"])
            assert im.size == (160, 96)
            assert im.tag_v2.get(296) == 1                  # ResolutionUnit: none (an aspect only)
        assert Fraction(y / x).limit_denominator(100) == Fraction(64, 45)


@pytest.mark.parametrize("resume", [False, True])      # a plain render, and the join of a render in segments
def test_ffv1_in_mkv_keeps_the_pixel_aspect(pal_clip, tmp_path, caplog, resume):
    """FFV1 in .mkv lost a 64:45 source's pixel aspect (the muxer takes it only from a stream
    field PyAV does not set) while H.264 and ProRes kept it: the frames were shown squeezed."""
    video, key, sc = pal_clip
    out = tmp_path / "master.mkv"
    with caplog.at_level(logging.WARNING):
        rc, err = _propagate(video, "-o", out, "--key", f"0={key}", "--format", "ffv1",
                             *(["--resume"] if resume else []))
    assert rc == 0, err
    assert "aspect" not in caplog.text
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "ffv1"
        assert (s.codec_context.width, s.codec_context.height) == (160, 96)
        assert s.sample_aspect_ratio == Fraction(64, 45)
        assert len([f.to_ndarray(format="rgb24") for f in c.decode(s)]) == 4


def test_square_pixels_write_no_aspect(make_clip, tmp_path, caplog):
    clip = make_clip(frames=3)
    with caplog.at_level(logging.WARNING):
        rc, err = _propagate(clip.video, "-o", tmp_path / "o.mkv", "--key", f"0={clip.key_png}", "--format", "ffv1")
    assert rc == 0 and "aspect" not in caplog.text
    rc, err = _propagate(clip.video, "-o", tmp_path / "png", "--key", f"0={clip.key_png}")
    assert rc == 0 and _png_aspect(tmp_path / "png" / "00000.png") is None


# ------------------------------------------------------------------------------ audio and time
def _av_clip(path: Path, frames, *, fps: int = 25, start_s: float = 0.0, audio_streams: int = 1,
             audio_s: float | None = None) -> Path:
    """Grey frames as H.264 with ``audio_streams`` mono AAC streams (a sine of 440 Hz, 880 Hz,
    ...), every stream's clock starting at ``start_s`` (a capture, a rip, a timecoded mov)."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        h, w = frames[0].shape[:2]
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "12"}
        auds = [out.add_stream("aac", rate=48000, layout="mono") for _ in range(audio_streams)]
        first = int(round(start_s * fps))
        for i, rgb in enumerate(frames):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format="yuv420p")
            f.pts, f.time_base = first + i, Fraction(1, fps)
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        n = int((len(frames) / fps if audio_s is None else audio_s) * 48000)
        t = np.arange(n) / 48000
        for k, a in enumerate(auds):
            pcm = (0.3 * np.sin(2 * np.pi * 440 * (k + 1) * t)).astype(np.float32)
            for j in range(0, n, 1024):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[None, j:j + 1024]), format="fltp", layout="mono")
                af.sample_rate, af.pts, af.time_base = 48000, int(round(start_s * 48000)) + j, Fraction(1, 48000)
                for p in a.encode(af):
                    out.mux(p)
            for p in a.encode():
                out.mux(p)
    return path


def _audio_tracks(path: Path) -> list[tuple[float, float]]:
    """(seconds of sound, dominant frequency in Hz) of every audio stream of ``path``."""
    found = []
    with av.open(str(path)) as c:
        for s in c.streams.audio:
            pcm = [f.to_ndarray().reshape(-1) for f in c.decode(s)]
            c.seek(0)
            x = np.concatenate(pcm) if pcm else np.zeros(0, np.float32)
            hz = float(np.argmax(np.abs(np.fft.rfft(x))) * 48000 / len(x)) if len(x) else 0.0
            found.append((len(x) / 48000, hz))
    return found


@pytest.mark.parametrize("name", ["out.mp4", "out.mov", "out.mkv"])
def test_audio_is_kept_when_the_source_clock_does_not_start_at_zero(tmp_path, name):
    """A source whose frame 0 lies 10 s into its clock (an MPEG-TS capture, a DVD rip, a mov
    with timecode) lost its audio: the range was looked for at 0 s, before every packet, so
    mp4/mov outputs had no audio stream and mkv an empty one."""
    sc = Scene(width=160, height=96)
    video = _av_clip(tmp_path / "cap.mov", [sc.gray(i) for i in range(25)], start_s=10.0)
    key = write_png(tmp_path / "key0.png", sc.rgb(0))
    from app.core.media import open_media
    with open_media(video) as src:
        assert abs(src.info.time_origin - 10.0) < 1e-6 and src.info.timestamps[0] == 0.0
    out = tmp_path / name
    rc, err = _propagate(video, "-o", out, "--key", f"0={key}")
    assert rc == 0, err
    (secs, hz), = _audio_tracks(out)
    assert 0.95 <= secs <= 1.1 and abs(hz - 440) < 5
    # a range: the sound of frames 5..14 only
    rc, err = _propagate(video, "-o", tmp_path / ("r" + name), "--key", f"5={key}", "--start", "5", "--end", "14")
    assert rc == 0, err
    (secs, hz), = _audio_tracks(tmp_path / ("r" + name))
    assert 0.38 <= secs <= 0.48 and abs(hz - 440) < 5


@pytest.mark.parametrize("name", ["out.mp4", "out.mov", "out.mkv"])
def test_every_audio_stream_is_kept_in_its_order(tmp_path, name):
    """A transfer with two audio tracks (left and right as mono tracks, or a dub beside the
    original) kept only the first: the second was dropped without a word."""
    sc = Scene(width=160, height=96)
    video = _av_clip(tmp_path / "two.mov", [sc.gray(i) for i in range(25)], audio_streams=2)
    key = write_png(tmp_path / "key0.png", sc.rgb(0))
    out = tmp_path / name
    rc, err = _propagate(video, "-o", out, "--key", f"0={key}")
    assert rc == 0, err
    tracks = _audio_tracks(out)
    assert [round(hz / 10) * 10 for _, hz in tracks] == [440, 880]
    assert all(0.95 <= secs <= 1.1 for secs, _ in tracks)


# ------------------------------------------------------------------ keys at the display size
def test_a_key_made_at_the_display_size_is_scaled_to_the_stored_size(pal_clip, tmp_path):
    """A still grabbed from a player or an NLE comes at the display size (768x576 for PAL 4:3,
    228x96 here): it was refused as the wrong size, though it is the same picture."""
    import cv2
    video, key, sc = pal_clip
    wide = write_png(tmp_path / "key0_shown.png", cv2.resize(sc.rgb(0), (228, 96), interpolation=cv2.INTER_CUBIC))
    rc, err = _propagate(video, "-o", tmp_path / "stored", "--key", f"0={key}")
    assert rc == 0, err
    rc, err = _propagate(video, "-o", tmp_path / "shown", "--key", f"0={wide}")
    assert rc == 0, err
    for i in range(4):
        a = cv2.imread(str(tmp_path / "stored" / f"{i:05d}.png")).astype(int)
        b = cv2.imread(str(tmp_path / "shown" / f"{i:05d}.png")).astype(int)
        assert a.shape == b.shape == (96, 160, 3)
        assert np.abs(a - b).mean() < 2.0
    # any other size is refused, naming both sizes the source accepts
    bad = write_png(tmp_path / "key0_bad.png", cv2.resize(sc.rgb(0), (200, 96)))
    rc, err = _propagate(video, "-o", tmp_path / "bad", "--key", f"0={bad}")
    assert rc == 1
    assert "200x96" in err and "160x96" in err and "228x96" in err


# ------------------------------------------------------------------------------ interlace
@pytest.mark.parametrize("name,fmt", [("out.mp4", "h264"), ("out.mkv", "h264"), ("pr.mov", "prores"),
                                      ("m.mkv", "ffv1")])
def test_an_interlaced_sources_field_order_is_kept(tmp_path, name, fmt):
    """Interlaced PAL (top field first) came out flagged progressive: an NLE or a broadcast
    chain then never deinterlaces it, and the fields' combing shows on every movement."""
    sc = Scene(width=160, height=96)
    video = tmp_path / "tff.mkv"
    with av.open(str(video), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 160, 96, "yuv420p"
        s.options = {"preset": "ultrafast", "x264-params": "interlaced=1:tff=1"}
        s.codec_context.field_order = 2           # AV_FIELD_TT
        mux_frames(out, s, (sc.gray(i) for i in range(4)))
    from app.core.media import open_media
    with open_media(video) as src:
        assert src.info.field_order == "tt" and "top field first" in src.info.describe()
    key = write_png(tmp_path / "key0.png", sc.rgb(0))
    rc, err = _propagate(video, "-o", tmp_path / name, "--key", f"0={key}", "--format", fmt)
    assert rc == 0, err
    with av.open(str(tmp_path / name)) as c:
        assert c.streams.video[0].codec_context.field_order == 2
        if fmt == "h264":
            assert next(c.decode(video=0)).interlaced_frame
