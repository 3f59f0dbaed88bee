"""Shared test set-up: headless Qt, an isolated recovery folder, small generated clips.

Clips are generated with PyAV (never downloaded); the synthetic scene is a textured
background panning right plus a red textured square moving across it, so propagation has
real motion to follow. ``Scene.rgb(i)`` is the colour ground truth, ``Scene.gray(i)`` what
goes into the clip.
"""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

from dataclasses import dataclass  # noqa: E402
from fractions import Fraction  # noqa: E402
from pathlib import Path  # noqa: E402

import av  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


# ------------------------------------------------------------------------------ the scene
@dataclass
class Scene:
    width: int = 160
    height: int = 96
    pan: int = 2                    # background pixels per frame
    speed: int = 3                  # object pixels per frame
    obj_color: tuple = (200, 40, 40)
    bg_color: tuple = (40, 90, 200)

    def __post_init__(self):
        rng = np.random.default_rng(7)
        import cv2
        tex = rng.random((self.height // 4 + 1, (self.width + 400) // 4 + 1)).astype(np.float32)
        tex = cv2.resize(tex, ((self.width + 400), self.height), interpolation=cv2.INTER_CUBIC)
        self._bg_tex = np.clip(0.55 + 0.35 * (tex - 0.5), 0, 1)
        s = self.obj_size
        otex = rng.random((s // 4 + 1, s // 4 + 1)).astype(np.float32)
        self._obj_tex = np.clip(0.45 + 0.9 * (cv2.resize(otex, (s, s), interpolation=cv2.INTER_CUBIC) - 0.5), 0.05, 1)

    @property
    def obj_size(self) -> int:
        return max(8, self.height // 3)

    def obj_box(self, i: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the object in frame i."""
        s = self.obj_size
        x0 = 8 + self.speed * i
        y0 = (self.height - s) // 2
        return x0, y0, x0 + s, y0 + s

    def rgb(self, i: int) -> np.ndarray:
        off = (self.pan * i) % 400
        bg = self._bg_tex[:, off:off + self.width, None]
        img = bg * np.array(self.bg_color, np.float32)[None, None, :]
        x0, y0, x1, y1 = self.obj_box(i)
        xa, xb = max(0, x0), min(self.width, x1)
        if xb > xa:
            t = self._obj_tex[:, xa - x0: xb - x0, None]
            img[y0:y1, xa:xb] = t * np.array(self.obj_color, np.float32)
        return np.clip(img + 0.5, 0, 255).astype(np.uint8)

    def gray(self, i: int) -> np.ndarray:
        """The frame as grey RGB whose CIE lightness equals the colour frame's (what a
        panchromatic film records), so grey + the right chroma composes back to the colour."""
        from models.color import rgb_to_luma
        L = rgb_to_luma(self.rgb(i))
        ramp = rgb_to_luma(np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2))[0]
        g = np.clip(np.searchsorted(ramp, L), 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)


def encode_clip(path, frames, fps: int = 24, codec: str = "libx264", pix_fmt: str = "yuv420p",
                audio_seconds: float | None = None, audio_codec: str = "aac",
                audio_rate: int = 48000) -> Path:
    """Encode RGB frames (iterable of HxWx3 uint8) to ``path``; optional sine-wave audio."""
    frames = list(frames)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        if codec == "libx264":
            vs.options = {"preset": "ultrafast", "crf": "12"}
        aus = None
        if audio_seconds:
            aus = out.add_stream(audio_codec, rate=audio_rate)
            aus.layout = "mono"
        for i, rgb in enumerate(frames):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(
                format=pix_fmt, dst_colorspace="itu709", src_color_range="JPEG", dst_color_range="MPEG")
            f.pts = i
            f.time_base = Fraction(1, fps)
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        if aus is not None:
            n = int(audio_seconds * audio_rate)
            t = np.arange(n) / audio_rate
            pcm = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            fmt = "fltp" if audio_codec == "aac" else "s16"
            step = 1024
            for k in range(0, n, step):
                chunk = pcm[k:k + step]
                data = chunk[None, :] if fmt == "fltp" else (chunk * 32767).astype(np.int16)[None, :]
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout="mono")
                af.sample_rate = audio_rate
                af.pts = k
                af.time_base = Fraction(1, audio_rate)
                for p in aus.encode(af):
                    out.mux(p)
            for p in aus.encode():
                out.mux(p)
    return Path(path)


def mux_frames(out, stream, frames) -> None:
    """Encode RGB frames (HxWx3 uint8) into ``stream`` of the open container ``out``, converted to
    the stream's pixel format by PyAV's default conversion, pts 0, 1, ...; then flush the encoder."""
    for i, rgb in enumerate(frames):
        f = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format=stream.pix_fmt)
        f.pts = i
        for p in stream.encode(f):
            out.mux(p)
    for p in stream.encode():
        out.mux(p)


@dataclass
class Clip:
    video: Path
    key_png: Path          # colour keyframe for frame 0 at the clip's size
    scene: Scene
    frames: int

    @property
    def size(self) -> tuple[int, int]:
        return self.scene.width, self.scene.height


def write_png(path, rgb: np.ndarray) -> Path:
    import cv2
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return Path(path)


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(autouse=True)
def _isolated_recovery(tmp_path, monkeypatch):
    """Autosave/recovery never touches the user's real data folder during tests."""
    monkeypatch.setenv("HUESHOT_RECOVERY_DIR", str(tmp_path / "_recovery"))
    monkeypatch.setenv("HUESHOT_QUEUE_FILE", str(tmp_path / "_queue" / "render_queue.json"))
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "_cache"))   # reels' luma cache


@pytest.fixture
def scene() -> Scene:
    return Scene()


@pytest.fixture
def make_clip(tmp_path):
    """Factory: make_clip(name="clip.mp4", frames=24, width=160, height=96, audio=False) -> Clip."""
    def make(name: str = "clip.mp4", frames: int = 24, width: int = 160, height: int = 96,
             audio: bool = False, codec: str = "libx264", pix_fmt: str = "yuv420p", fps: int = 24,
             **scene_kw) -> Clip:
        sc = Scene(width=width, height=height, **scene_kw)
        path = encode_clip(tmp_path / name, (sc.gray(i) for i in range(frames)), fps=fps, codec=codec,
                           pix_fmt=pix_fmt, audio_seconds=frames / fps if audio else None)
        key = write_png(tmp_path / (Path(name).stem + "_key0.png"), sc.rgb(0))
        return Clip(video=path, key_png=key, scene=sc, frames=frames)
    return make


@pytest.fixture
def grey_clip(make_clip) -> Clip:
    """24 grey frames, 160x96, H.264, with a colour keyframe PNG for frame 0."""
    return make_clip()


@pytest.fixture
def small_fs(tmp_path):
    """A real tiny filesystem (tmpfs, 256 KiB) to hit ENOSPC; skipped where mounting is not allowed."""
    import subprocess
    mnt = tmp_path / "smallfs"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tiny tmpfs for the disk-full case")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
