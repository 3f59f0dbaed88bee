"""The proxy luma of a whole source on disk: chunked files, a few chunks in memory.

`LumaCache` (app.core.media) holds a shot's proxy luma in RAM, +0.4 MB a frame at 854x480:
fine for a shot, not for a reel (a 90-minute film would need ~50 GB). `LumaStore` keeps it
in the cache folder instead, as raw uint8 chunks of CHUNK frames (L * 2.55, like LumaCache),
and holds at most `max_chunks` of them in memory (an LRU), so memory does not grow with the
length of the source. Chunks are read with plain file reads, not memory maps: mapped pages
would count towards the process's resident set as they are touched.

One sequential decode builds the store and, in the same pass, detects the shots
(app.core.reels.shots.ShotDetector). Stores are keyed by the source (path, size, mtime) and the
proxy height, and reused when the same source is opened again:

    <cache root>/luma/<key>/meta.json          size, frame count, shots, error, "complete"
    <cache root>/luma/<key>/chunk_000000.u8    frames 0..CHUNK-1, then chunk_000001.u8, ...

The cache root of a project is ``<name>.hueshot-cache/`` beside the project file; without a
project it is ``$HUESHOT_CACHE_DIR`` or ``$XDG_CACHE_HOME/hueshot`` (``~/.cache/hueshot``).
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np

from app.core.media import CorruptMediaError, LumaCache, MediaError, MediaSource, VideoSource, proxy_luma_u8, proxy_size
from app.core.reels.shots import Shot, ShotDetector

STORE_VERSION = 1
CHUNK = 32                      # frames per chunk file (13 MB at 854x480)


def user_cache_dir() -> Path:
    env = os.environ.get("HUESHOT_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hueshot"


def project_cache_dir(project_path: str | os.PathLike) -> Path:
    p = Path(project_path)
    return p.with_name(p.stem + ".hueshot-cache")


def source_key(path: str | os.PathLike, proxy_height: int) -> str:
    """Names a store: the source file (or frame folder) as it is now, and the proxy height."""
    p = Path(path).absolute()
    st = p.stat()
    parts = [str(p), st.st_size, st.st_mtime_ns, proxy_height, STORE_VERSION]
    if p.is_dir():   # a frame folder: its listing changes when frames are added or replaced
        names = sorted(os.listdir(p))
        parts += [len(names), max((os.stat(p / n).st_mtime_ns for n in names), default=0)]
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]


class LumaStore:
    """LumaFrames over a whole source (indices are source frame indices), chunks on disk."""

    SCALE = LumaCache.SCALE

    def __init__(self, folder: Path, meta: dict, max_chunks: int = 6):
        self.folder = Path(folder)
        self.meta = meta
        self.size: tuple[int, int] = (int(meta["size"][0]), int(meta["size"][1]))
        self.start = 0
        self._n = int(meta["frames"])
        self.shots: list[Shot] = [(int(a), int(b)) for a, b in meta.get("shots") or []]
        err = meta.get("error")
        self.error = _corrupt(err) if err else None
        self._chunks: OrderedDict[int, np.ndarray] = OrderedDict()
        self._max = max(2, max_chunks)
        self._lock = threading.Lock()   # the render's propagate and compose threads both read

    def __getstate__(self):          # picklable (a farm task): the chunks are read again there
        return {"folder": str(self.folder), "meta": self.meta, "max": self._max}

    def __setstate__(self, state):
        self.__init__(Path(state["folder"]), state["meta"], state["max"])

    # ------------------------------------------------------------------ LumaFrames
    def __len__(self) -> int:
        return self._n

    def raw(self, index: int) -> np.ndarray:
        """uint8 luma (L * 2.55) of source frame ``index``."""
        if not 0 <= index < self._n:
            raise IndexError(f"frame {index} is outside the luma store (0..{self._n - 1})")
        c, r = divmod(index, CHUNK)
        with self._lock:
            chunk = self._chunks.get(c)
            if chunk is None:
                chunk = self._load(c)
                self._chunks[c] = chunk
                while len(self._chunks) > self._max:
                    self._chunks.popitem(last=False)
            else:
                self._chunks.move_to_end(c)
            # a copy: a view would keep its whole chunk alive for as long as a caller holds it
            return chunk[r].copy()

    def __getitem__(self, index: int) -> np.ndarray:
        return self.raw(index).astype(np.float32) * (1.0 / self.SCALE)

    def _load(self, c: int) -> np.ndarray:
        w, h = self.size
        count = min(CHUNK, self._n - c * CHUNK)
        path = self.folder / f"chunk_{c:06d}.u8"
        data = np.fromfile(path, np.uint8)
        if data.size != count * w * h:
            raise MediaError(path, f"luma cache chunk has {data.size} bytes, expected {count * w * h} "
                                   f"(delete {self.folder} to rebuild it)")
        return data.reshape(count, h, w)

    def view(self, start: int, end: int):
        """Frames start..end-1 re-indexed from 0 (what a render of that range propagates)."""
        from app.core.reels.shots import SubLuma
        end = min(end, self._n)     # a truncated source has fewer frames than its demuxer counted
        v = SubLuma(self, start, end)
        v.start, v.error = start, (self.error if end >= self._n else None)
        return v

    # ------------------------------------------------------------------ building
    @classmethod
    def open(cls, source: MediaSource, cache_root: str | os.PathLike, proxy_height: int = 480,
             progress: Callable[[int, int], None] | None = None,
             should_stop: Callable[[], bool] | None = None, max_chunks: int = 6) -> "LumaStore | None":
        """The store for ``source``: reused if a complete one is cached, else built by one
        sequential decode (shots detected on the way). None when ``should_stop`` cut it short."""
        folder = Path(cache_root) / "luma" / source_key(source.info.path, proxy_height)
        meta_path = folder / "meta.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("complete") and meta.get("version") == STORE_VERSION:
                store = cls(folder, meta, max_chunks)
                if progress is not None:
                    progress(len(store), len(store))
                return store
        except (OSError, ValueError, KeyError, TypeError):
            pass
        meta = _build(source, folder, proxy_height, progress, should_stop)
        return None if meta is None else cls(folder, meta, max_chunks)


def _corrupt(err: dict) -> CorruptMediaError:
    """The CorruptMediaError a build met, as it was (its message already says where)."""
    e = CorruptMediaError.__new__(CorruptMediaError)
    MediaError.__init__(e, err["path"], err["problem"])
    e.frame_index = int(err["frame"])
    return e


def _build(source: MediaSource, folder: Path, proxy_height: int, progress, should_stop) -> dict | None:
    from app.core.project import atomic_write_bytes
    info = source.info
    w, h = proxy_size(info.width, info.height, proxy_height)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.json").unlink(missing_ok=True)     # incomplete until the new one is written
    detector = ShotDetector()
    buf = np.empty((CHUNK, h, w), np.uint8)
    count = 0
    error = None
    total = info.frame_count
    scaled = isinstance(source, VideoSource) and (w, h) != (info.width, info.height)
    frames_in = source.iter_proxy_rgb(0, total, (w, h)) if scaled else source.iter_rgb(0, total)

    def flush(upto: int) -> None:
        c, r = divmod(upto - 1, CHUNK)
        path = folder / f"chunk_{c:06d}.u8"
        tmp = path.with_suffix(".tmp")
        buf[:r + 1].tofile(tmp)
        os.replace(tmp, path)

    try:
        for index, rgb in frames_in:
            if should_stop is not None and should_stop():
                return None
            y = proxy_luma_u8(rgb, (w, h))
            buf[count % CHUNK] = y
            detector.feed(count, y)
            count += 1
            if count % CHUNK == 0:
                flush(count)
            if progress is not None:
                progress(count, total)
    except CorruptMediaError as e:
        if count == 0:
            raise
        error = {"path": e.path, "frame": e.frame_index, "problem": e.problem}
    if count % CHUNK:
        flush(count)
    meta = {"version": STORE_VERSION, "source": info.path, "size": [w, h], "frames": count,
            "chunk": CHUNK, "shots": [list(s) for s in detector.shots(count)], "error": error,
            "complete": True}
    atomic_write_bytes(folder / "meta.json", json.dumps(meta).encode("utf-8"))
    return meta


def open_store(path: str | os.PathLike, cache_root: str | os.PathLike | None = None, proxy_height: int = 480,
               progress: Callable[[int, int], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> "LumaStore | None":
    """Open the media at ``path`` and return its (cached or newly built) LumaStore."""
    from app.core.media import open_media
    with open_media(path) as src:
        return LumaStore.open(src, cache_root if cache_root is not None else user_cache_dir(),
                              proxy_height, progress, should_stop)
