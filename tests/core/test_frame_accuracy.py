"""Frame N is the same picture on every path: sequential decode, random access after seeks in
any order, the luma store's chunks decoded on demand, the render.

Every clip is made here with PyAV, and every frame carries its own number as a bar code
(`numbered`, read back by `number_of`), in files whose structure makes seeking hard: open
GOPs (leading B-frames stored after their I-frame), intra refresh (no IDR after the first
frame), MPEG-TS and MPEG-PS (seeks by a timestamp search), HEVC with CRA pictures.
"""
from __future__ import annotations

import random
from fractions import Fraction

import av
import numpy as np
import pytest

from app.core.media import open_media

W, H, BITS = 192, 96, 10
_BW = W // (BITS + 2)


def numbered(n: int) -> np.ndarray:
    """Frame n: its number as a 10-bit bar code (top half), a moving ramp below (motion for
    the encoder), grey RGB."""
    img = np.full((H, W), 40, np.uint8)
    img[: H // 2, :_BW] = 230
    for b in range(BITS):
        img[: H // 2, (b + 1) * _BW:(b + 2) * _BW] = 230 if (n >> b) & 1 else 25
    x = (np.arange(W)[None, :] + 3 * n) % W
    img[H // 2:] = (60 + 120 * x / W).astype(np.uint8)
    return np.repeat(img[..., None], 3, axis=2)


def number_of(rgb: np.ndarray) -> int:
    """The frame number a picture carries (any size: the code is read relative to the width)."""
    g = rgb[..., 0] if rgb.ndim == 3 else rgb
    h, w = g.shape
    bw = w / (BITS + 2)
    n = 0
    for b in range(BITS):
        x0, x1 = int((b + 1.3) * bw), int((b + 1.7) * bw)
        if g[int(h * 0.1):int(h * 0.4), x0:x1].mean() > 127:
            n |= 1 << b
    return n


def encode_numbered(path, n: int, codec: str = "libx264", fmt: str | None = None, rate=25,
                    options: dict | None = None, pix_fmt: str = "yuv420p", numbers=None):
    out = av.open(str(path), "w", format=fmt)
    s = out.add_stream(codec, rate=Fraction(rate))
    s.width, s.height, s.pix_fmt = W, H, pix_fmt
    if options:
        s.options = options
    for i in (range(n) if numbers is None else numbers):
        f = av.VideoFrame.from_ndarray(numbered(i), format="rgb24").reformat(format=pix_fmt)
        for p in s.encode(f):
            out.mux(p)
    for p in s.encode():
        out.mux(p)
    out.close()
    return path


X264_OPEN_GOP = {"x264-params": "open_gop=1:keyint=24:bframes=3:b-pyramid=normal", "crf": "18"}
HARD = {
    # leading B-frames of each I-frame are shown before it: an mp4 seek (by decode time)
    # lands on the I-frame and the decoder drops them
    "open_gop.mp4": dict(options=X264_OPEN_GOP),
    # one IDR, then recovery points: the decoder gives nothing until a refresh completes
    "intra_refresh.mp4": dict(options={"x264-params": "intra-refresh=1:keyint=30", "crf": "18"}),
    # seeks by a search on the timestamps the demuxer reads
    "h264.ts": dict(fmt="mpegts", options={"x264-params": "keyint=24:bframes=3", "crf": "18"}),
    "mpeg2.mpg": dict(codec="mpeg2video", fmt="mpeg", options={"g": "15", "bf": "2", "b": "4M"}),
    "hevc.mp4": dict(codec="libx265",
                     options={"x265-params": "keyint=30:bframes=4:log-level=error", "crf": "18"}),
}


def _clip(tmp_path, name, n=96):
    kw = HARD[name]
    if kw.get("codec", "libx264") not in av.codecs_available:
        pytest.skip(f"this FFmpeg has no {kw['codec']}")
    return encode_numbered(tmp_path / name, n, **kw)


@pytest.mark.parametrize("name", sorted(HARD))
def test_random_access_gives_frame_n_after_seeks_in_any_order(tmp_path, name):
    """read_rgb(N), after seeks back and forth in a random order, is the picture a sequential
    decode gives as frame N, and that picture carries N."""
    path = _clip(tmp_path, name)
    with open_media(path) as src:
        assert len(src) == 96
        seq = [rgb for _, rgb in src.iter_rgb()]
        assert [number_of(rgb) for rgb in seq] == list(range(96))
        order = list(range(96))
        random.Random(3).shuffle(order)
        got = {i: src.read_rgb(i) for i in order[:40]}
    wrong = [(i, number_of(rgb)) for i, rgb in got.items() if not np.array_equal(rgb, seq[i])]
    assert not wrong, f"(asked, got) frames: {sorted(wrong)}"


@pytest.mark.parametrize("name", sorted(HARD))
def test_luma_store_chunks_decoded_on_demand_equal_the_scan(tmp_path, name):
    """The editor's luma store before its scan reaches a frame (a chunk decoded by a seek,
    a single frame peeked) holds what the sequential scan stores."""
    from app.core.reels.lumastore import CHUNK, LumaStore
    path = _clip(tmp_path, name)
    with open_media(path) as src:
        full = LumaStore.open(src, tmp_path / "scanned")
        want = [full.raw(i) for i in range(len(full))]
    assert [number_of(y) for y in want] == list(range(96))
    lazy = LumaStore.begin(open_media(path), tmp_path / "lazy")
    peek = LumaStore.begin(open_media(path), tmp_path / "peek")
    try:
        for c in (2, 0, 1):                    # chunks filled by a seek, out of order
            for i in range(c * CHUNK, (c + 1) * CHUNK, 5):
                assert np.array_equal(lazy.raw(i), want[i]), f"frame {i} (chunk {c})"
        for i in (77, 13, 50, 94, 31):
            assert np.array_equal(peek.peek(i), want[i]), f"peeked frame {i}"
    finally:
        lazy.close()
        peek.close()


def _stream_copy_cut(src_path, dst_path, first_shown: int):
    """What `ffmpeg -ss T -c copy` makes of a cut between keyframes: the packets from the
    keyframe before ``first_shown`` on, their clock shifted so that ``first_shown`` is at 0
    (the frames before it at negative times, which the mp4 muxer hides behind an edit list)."""
    with av.open(str(src_path)) as i:
        s = i.streams.video[0]
        packets = [p for p in i.demux(s) if p.size]
        pts = sorted(p.pts for p in packets)
        key = max(k for k, p in enumerate(packets) if p.is_keyframe and p.pts <= pts[first_shown])
        shift = pts[first_shown]
        with av.open(str(dst_path), "w") as o:
            out = o.add_stream_from_template(s)
            for p in packets[key:]:
                p.stream = out
                p.pts -= shift
                p.dts -= shift
                o.mux(p)
    return dst_path


def test_an_mp4_cut_by_stream_copy_is_whole_and_starts_at_the_cut(tmp_path, capsys):
    """A shot cut out of a longer mp4 by stream copy (an edit list hides the frames from the
    keyframe before the cut) is a valid file of the frames after the cut: not 'broken', frame
    0 is the first frame shown, and hueshot propagate renders every frame in its place."""
    from app.cli import main
    src = encode_numbered(tmp_path / "long.mp4", 60,
                          options={"x264-params": "keyint=20:bframes=3", "crf": "18"})
    cut = _stream_copy_cut(src, tmp_path / "cut.mp4", 25)      # keyframe 20, frames 20..24 hidden
    with open_media(cut) as m:
        assert m.info.broken is None
        assert len(m) == 35
        assert [number_of(rgb) for _, rgb in m.iter_rgb()] == list(range(25, 60))
        assert number_of(m.read_rgb(3)) == 28
    out = tmp_path / "out.mkv"
    assert main(["propagate", str(cut), "-o", str(out), "--method", "flow", "--format", "ffv1",
                 "--no-shots", "-q", "--auto"]) == 0, capsys.readouterr().err
    with av.open(str(out)) as o:
        got = [number_of(f.to_ndarray(format="rgb24")) for f in o.decode(video=0)]
    assert got == list(range(25, 60))


@pytest.mark.parametrize("ext", ["mkv", "ts", "mp4"])
def test_a_file_that_starts_between_keyframes_starts_at_its_first_keyframe(tmp_path, ext, capsys):
    """A capture or a cut that begins mid-GOP: its first frames refer to pictures the file does
    not hold and no decoder gives them. Frame 0 is the first keyframe's picture (what a player
    shows first), every frame is readable, and a render gives those frames in order."""
    from app.cli import main
    fmt = "mpegts" if ext == "ts" else None
    src = encode_numbered(tmp_path / f"long.{ext}", 60, fmt=fmt,
                          options={"x264-params": "keyint=20:bframes=2", "crf": "18"})
    with av.open(str(src)) as i:
        s = i.streams.video[0]
        packets = [p for p in i.demux(s) if p.size]
        start = [k for k, p in enumerate(packets) if p.is_keyframe][1] + 4    # past keyframe 20
        with av.open(str(tmp_path / f"cut.{ext}"), "w", format=fmt) as o:
            out = o.add_stream_from_template(s)
            for p in packets[start:]:
                p.stream = out
                o.mux(p)
    cut = tmp_path / f"cut.{ext}"
    with open_media(cut) as m:
        assert m.info.broken is None
        assert [number_of(rgb) for _, rgb in m.iter_rgb()] == list(range(40, 60))
        assert [number_of(m.read_rgb(i)) for i in (7, 2, 0, 19, 11)] == [47, 42, 40, 59, 51]
    out = tmp_path / "out.mkv"
    assert main(["propagate", str(cut), "-o", str(out), "--method", "flow", "--format", "ffv1",
                 "--no-shots", "-q", "--auto", "--start", "3"]) == 0, capsys.readouterr().err
    with av.open(str(out)) as o:
        got = [number_of(f.to_ndarray(format="rgb24")) for f in o.decode(video=0)]
    assert got == list(range(43, 60))


def test_frames_that_share_a_timestamp_are_each_their_own_frame(tmp_path, capsys):
    """A VFR Matroska file (millisecond clock) with repeated timestamps: a seek to the second
    or third frame at one time gives that frame, not the first, on every path (random access,
    a range from there, the luma store's chunk that starts there, a render from there)."""
    from app.cli import main
    from app.core.reels.lumastore import LumaStore
    times = [40 * k for k in range(40)]
    times[3], times[6], times[7] = times[2], times[5], times[5]        # 2,3 and 5,6,7 share
    times[32] = times[31]                                              # chunk 1 starts on one
    path = tmp_path / "dup.mkv"
    out = av.open(str(path), "w")
    s = out.add_stream("libx264", rate=25)
    s.width, s.height, s.pix_fmt, s.time_base = W, H, "yuv420p", Fraction(1, 1000)
    s.options = {"bf": "0", "crf": "18"}
    for i, t in enumerate(times):
        f = av.VideoFrame.from_ndarray(numbered(i), format="rgb24").reformat(format="yuv420p")
        f.pts, f.time_base = t, Fraction(1, 1000)
        for p in s.encode(f):
            out.mux(p)
    for p in s.encode():
        out.mux(p)
    out.close()
    with open_media(path) as m:
        assert len(m) == 40
        assert [number_of(m.read_rgb(i)) for i in (3, 7, 6, 32, 5, 2, 31)] == [3, 7, 6, 32, 5, 2, 31]
        assert [number_of(rgb) for _, rgb in m.iter_rgb(6, 9)] == [6, 7, 8]
    lazy = LumaStore.begin(open_media(path), tmp_path / "lazy")
    try:
        assert [number_of(lazy.raw(i)) for i in (33, 32)] == [33, 32]
    finally:
        lazy.close()
    dst = tmp_path / "out.mkv"
    assert main(["propagate", str(path), "-o", str(dst), "--method", "flow", "--format", "ffv1",
                 "--no-shots", "-q", "--auto", "--start", "3", "--end", "8"]) == 0, capsys.readouterr().err
    with av.open(str(dst)) as o:
        assert [number_of(f.to_ndarray(format="rgb24")) for f in o.decode(video=0)] == [3, 4, 5, 6, 7, 8]
