"""Hostile inputs made here with PyAV (never downloaded): broken endings, VFR, bad JSON.

* ``faststart_mp4``: H.264 in mp4 with the index (moov) in front, so a cut file still lists
  every frame and the demuxer meets the missing data only when it reads it.
* ``garbage_tail``: a complete file whose last packet is noise (an undecodable trailing frame).
* ``truncate``: a copy cut at a fraction of its size; ``pad``: random bytes appended.
* ``vfr_mkv``: variable frame rate video with audio, timestamps in milliseconds.
"""
from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.conftest import Scene


def _frame(rgb: np.ndarray) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(
        format="yuv420p", dst_colorspace="itu709", src_color_range="JPEG", dst_color_range="MPEG")


def encode(path, frames: int = 24, width: int = 160, height: int = 96, fps: int = 24,
           faststart: bool = False, bframes: bool = True) -> Path:
    """A grey H.264 clip of the conftest scene (mp4 or mkv by extension)."""
    sc = Scene(width=width, height=height)
    path = Path(path)
    opts = {"movflags": "+faststart"} if faststart and path.suffix == ".mp4" else {}
    with av.open(str(path), "w", options=opts) as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "14", "bf": "2" if bframes else "0"}
        for i in range(frames):
            f = _frame(sc.gray(i))
            f.pts = i
            f.time_base = Fraction(1, fps)
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    return path


def garbage_tail(src, dst, seed: int = 0) -> Path:
    """A copy whose last video packet (in file order) is random bytes after its NAL header:
    the container is whole, the decoder cannot make a picture of that packet."""
    with av.open(str(src)) as c:
        last = None
        for p in c.demux(c.streams.video[0]):
            if p.size and p.pos is not None and p.pos >= 0:
                last = (p.pos, p.size)
    assert last is not None, f"{src}: no packet positions"
    data = bytearray(Path(src).read_bytes())
    pos, size = last
    noise = np.random.default_rng(seed).integers(0, 256, size - 5, dtype=np.uint8).tobytes()
    data[pos + 5: pos + size] = noise      # keep the 4-byte length and the NAL header byte
    Path(dst).write_bytes(bytes(data))
    return Path(dst)


def truncate(src, dst, fraction: float) -> Path:
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: max(1, int(len(data) * fraction))])
    return Path(dst)


def pad(src, dst, nbytes: int = 4096, seed: int = 1) -> Path:
    shutil.copyfile(src, dst)
    with open(dst, "ab") as f:
        f.write(np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8).tobytes())
    return Path(dst)


def vfr_mkv(path, width: int = 160, height: int = 96, seconds: float = 2.44, seed: int = 3,
            audio: bool = True) -> tuple[Path, list[float]]:
    """A VFR H.264 mkv (frame durations 20..90 ms at random) with a 440 Hz tone as long as
    the video; returns the path and the frame times in seconds."""
    rng = np.random.default_rng(seed)
    times, t = [], 0.0
    while t < seconds - 0.02:
        times.append(round(t, 3))
        t += float(rng.choice([0.02, 0.04, 0.05, 0.09]))
    sc = Scene(width=width, height=height)
    path = Path(path)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "14", "bf": "0"}
        vs.codec_context.time_base = Fraction(1, 1000)
        aus = None
        if audio:
            aus = out.add_stream("aac", rate=48000)
            aus.layout = "mono"
        for i, ts in enumerate(times):
            f = _frame(sc.gray(i))
            f.pts = int(round(ts * 1000))
            f.time_base = Fraction(1, 1000)
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        if aus is not None:
            n = int(seconds * 48000)
            pcm = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / 48000)).astype(np.float32)
            for k in range(0, n, 1024):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[None, k:k + 1024]), format="fltp",
                                                layout="mono")
                af.sample_rate = 48000
                af.pts = k
                af.time_base = Fraction(1, 48000)
                for p in aus.encode(af):
                    out.mux(p)
            for p in aus.encode():
                out.mux(p)
    return path, times
