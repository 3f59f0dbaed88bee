"""Chroma cache for propagated frames: a bytes-bounded in-memory LRU plus an optional disk tier.

Entries are the propagator's output at proxy size: ``ab`` (HxWx2) and ``confidence`` (HxW).
They are keyed by ``(key, frame)`` where ``key`` is a generation/settings hash (e.g.
``Project.propagation_key()``): a hint edit changes the key, so stale entries are never
served, and scrubbing back over frames already computed under the current key is instant.

Storage: ab as float16 (0.06 resolution at |ab| = 127, far below what is visible) and
confidence as uint8, ~5 bytes per proxy pixel, about 2 MB per 854x480 frame. The memory tier
never exceeds ``max_bytes``; evicted entries stay on disk when a disk folder is given
(``<dir>/<key>/<frame>.npz``, uncompressed: zlib took 57 ms a frame for a 25 % saving, since
float16 chroma noise does not compress), written atomically so a crash never leaves a
truncated entry that would be read back. ``read_dirs`` are further folders searched (read
only) when an entry is not in ``disk_dir``. Thread-safe: the propagation worker puts while
the viewer gets.

Keys of propagated frames (the editor's, persisted in the project's cache folder so a
reopened project is in colour at once): ``frame_keys`` names each frame by the inputs that
made its chroma - the source (path, size, mtime, a hash of
sampled blocks of its content), the method and its settings, the proxy
size, and the content of the keyframes it was propagated from. For the segment-local methods
(``flow``, ``quality``: a frame between keys a and b depends on those two keys only) a frame's
key names its segment's two keys, so an edit on one keyframe changes the keys of the frames
from the previous keyframe to the next one and of no others; undoing the edit brings back
the old keys, whose chroma is still cached. Layout: ``<cache root>/chroma/<key>/<frame>.npz``.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import uuid
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

_KEY_OK = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def settings_key(*parts) -> str:
    """A short stable hash of anything repr-able (settings, generation numbers)."""
    h = hashlib.sha1()
    for p in parts:
        h.update(repr(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _safe_key(key: str) -> str:
    return key if _KEY_OK.match(key) else settings_key(key)


# Methods whose output on a frame between keyframes a and b depends only on a and b (and the
# luma): flow and quality run one pass per segment. Others (match keeps a bank of every key)
# get keys naming all keyframes.
SEGMENT_LOCAL = frozenset({"flow", "quality"})
TRIM_TO = 0.75                  # a disk tier past its budget is trimmed to this fraction of it
# The version of what turns a source and its keys into propagated chroma, in every frame key
# and render segment name: raised when that changes, so an editor's cache or a --resume folder
# made by an older Hueshot is not shown or joined as if it were today's output.
# 2: the proxy luma of grey frames comes from Y' (app.core.media); 3: flow's occlusion fill
# (per-pixel blend, key-position claims: models/propagate/flow_prop.py) changed flow and quality.
FRAME_KEYS_VERSION = 3


def source_identity(path) -> tuple:
    """The source as it is now: its path and content stamp (size, mtime, a hash of sampled
    blocks: app.core.fsutil.content_stamp), so a file replaced in place with its old size and
    mtime is a new source; a frame folder: every frame's name, size, mtime and ctime."""
    from app.core.fsutil import content_stamp, entry_stamp
    p = Path(path).absolute()
    try:
        if not p.is_dir():
            return (str(p), *content_stamp(p))
        names = sorted(os.listdir(p))
        h = hashlib.sha1()
        for n in names:
            try:
                h.update(repr((n, entry_stamp(p / n))).encode("utf-8", "surrogateescape"))
            except OSError:
                h.update(repr((n, None)).encode("utf-8", "surrogateescape"))
        return (str(p), len(names), h.hexdigest()[:16])
    except OSError:
        return (str(p),)


def method_settings(propagator) -> tuple:
    """The plain-valued attributes of a propagator (its settings), for frame keys."""
    simple = (int, float, str, bool, type(None))
    out = []
    for k, v in sorted(vars(propagator).items()):
        if isinstance(v, simple) or (isinstance(v, tuple) and all(isinstance(x, simple) for x in v)):
            out.append((k, v))
    return (type(propagator).__name__, tuple(out))


def key_tokens(keys) -> dict[int, str]:
    """Full identity of each keyframe's chroma. ``keys``: (frame, content token, painted over
    propagation) tuples; a key painted over what propagation from the earlier keys gives (a
    correction without a colour image) depends on those keys too."""
    out: dict[int, str] = {}
    for frame, token, over_earlier in sorted(keys, key=lambda k: k[0]):
        earlier = tuple(out[f] for f in sorted(out)) if over_earlier and out else ()
        out[frame] = settings_key("key", frame, token, earlier)
    return out


def frame_keys(n: int, tokens: dict[int, str], context: str, segment_local: bool = True) -> list[str | None]:
    """The cache key of each of ``n`` frames given the keyframes' full tokens (``key_tokens``);
    None everywhere when there is no keyframe (nothing to propagate)."""
    ks = sorted(k for k in tokens if 0 <= k < n)
    if not ks:
        return [None] * n
    if not segment_local:
        every = settings_key(context, "all", tuple((k, tokens[k]) for k in ks))
        return [settings_key(context, "key", k, tokens[k]) if k in tokens else every for k in range(n)]
    out: list[str | None] = [None] * n
    bounds = [None] + ks + [None]
    for a, b in zip(bounds[:-1], bounds[1:]):
        seg = segment_key(context, a, tokens.get(a), b, tokens.get(b))
        for t in range(0 if a is None else a + 1, n if b is None else b):
            out[t] = seg
    for k in ks:
        out[k] = settings_key(context, "key", k, tokens[k])
    return out


def segment_key(context: str, a, token_a, b, token_b) -> str:
    """Key of the frames between keyframes a and b (None: an open end). A single key's pass on
    its own is the open segment: (k, t, None, None) forward, (None, None, k, t) backward."""
    return settings_key(context, "seg", a, token_a, b, token_b)


def base_key(frame: int, tokens: dict[int, str], context: str, segment_local: bool = True) -> str | None:
    """Cache key of what propagation from the keys before ``frame`` alone gives on it: the
    base a correction on that frame is painted over."""
    earlier = {k: t for k, t in tokens.items() if k < frame}
    if not earlier:
        return None
    return frame_keys(frame + 1, earlier, context, segment_local)[frame]


class ChromaCache:
    def __init__(self, max_bytes: int = 512 * 2**20, disk_dir: str | os.PathLike | None = None,
                 disk_max_bytes: int | None = None, spill_on_evict: bool = False, read_dirs=()):
        """``spill_on_evict``: entries pushed out of memory are written to the disk tier (if not
        already there) instead of being dropped; with ``put(..., persist=False)`` this makes a
        buffer that only touches the disk when memory is full."""
        self.max_bytes = int(max_bytes)
        self.spill_on_evict = spill_on_evict
        self.disk_dir = Path(disk_dir) if disk_dir is not None else None
        self.disk_max_bytes = disk_max_bytes
        self.read_dirs = [Path(d) for d in read_dirs if d is not None]
        self._disk_total: int | None = None      # bytes in the disk tier, kept as files are written
        # the first write the disk tier refused (full, read-only): entries then stay in memory
        # only; the editor says it once
        self.disk_error: str | None = None
        self._mem: OrderedDict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.RLock()
        self.hits = 0
        self.disk_hits = 0
        self.misses = 0

    # -------------------------------------------------------------------------- memory tier
    @property
    def nbytes(self) -> int:
        """Bytes held in memory now (always <= max_bytes)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._mem)

    def __contains__(self, item) -> bool:
        key, frame = item
        with self._lock:
            if (key, frame) in self._mem:
                return True
        p = self._disk_path(key, frame)
        return (p is not None and p.exists()) or self._read_path(key, frame) is not None

    def frames_held(self, key: str) -> set[int]:
        """Every frame held under ``key``, in memory or on disk: one folder listing per tier
        instead of a stat per frame (a batch of membership tests, e.g. adopting a long shot's
        keys after an edit, asked 2 stats a frame: ~0.3-1 s at 3000 frames)."""
        with self._lock:
            out = {f for k, f in self._mem if k == key}
        dirs = ([self._disk_key_dir(key)] if self.disk_dir is not None else []) + \
               [d / _safe_key(key) for d in self.read_dirs]
        for d in dirs:
            try:
                names = os.listdir(d)
            except OSError:
                continue                  # no folder yet for this key
            for name in names:
                if name.endswith(".npz") and not name.startswith("."):
                    try:
                        out.add(int(name[:-4]))
                    except ValueError:
                        pass
        return out

    def in_memory(self, frame: int, key: str = "") -> bool:
        with self._lock:
            return (key, int(frame)) in self._mem

    def put(self, frame: int, ab: np.ndarray, confidence: np.ndarray | None = None,
            key: str = "", persist: bool = True) -> None:
        """Store one frame. ``persist`` also writes it to the disk tier (when there is one)."""
        ab16 = np.ascontiguousarray(ab, dtype=np.float16)
        if confidence is None:
            confidence = np.ones(ab.shape[:2], np.float32)
        conf8 = np.clip(np.asarray(confidence, np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        size = ab16.nbytes + conf8.nbytes
        with self._lock:
            k = (key, int(frame))
            old = self._mem.pop(k, None)
            if old is not None:
                self._bytes -= old[0].nbytes + old[1].nbytes
            if size <= self.max_bytes:
                self._mem[k] = (ab16, conf8)
                self._bytes += size
                self._evict()
            elif self.spill_on_evict and not persist and self.disk_dir is not None:
                persist = True
        if persist and self.disk_dir is not None:
            self._write_disk(key, int(frame), ab16, conf8)

    def persist(self, frame: int, key: str = "") -> bool:
        """Write an entry held in memory to the disk tier now (a ``put(persist=False)`` whose
        disk write was left for later, off the path to the screen). False if it is not held."""
        with self._lock:
            item = self._mem.get((key, int(frame)))
        if item is None or self.disk_dir is None:
            return False
        self._write_disk(key, int(frame), *item)
        return True

    def get(self, frame: int, key: str = "") -> tuple[np.ndarray, np.ndarray] | None:
        """(ab float32, confidence float32) or None; a disk hit is promoted to memory."""
        k = (key, int(frame))
        with self._lock:
            item = self._mem.get(k)
            if item is not None:
                self._mem.move_to_end(k)
                self.hits += 1
                return _unpack(*item)
        item = self._read_disk(key, int(frame))
        if item is None:
            with self._lock:
                self.misses += 1
            return None
        with self._lock:
            self.disk_hits += 1
            size = item[0].nbytes + item[1].nbytes
            if k not in self._mem and size <= self.max_bytes:
                self._mem[k] = item
                self._bytes += size
                self._evict()
        return _unpack(*item)

    def pop(self, frame: int, key: str = "") -> tuple[np.ndarray, np.ndarray] | None:
        """get() and forget (memory and disk); used as a spill-to-disk reorder buffer."""
        item = self.get(frame, key)
        self.discard(frame, key)
        return item

    def discard(self, frame: int, key: str = "") -> None:
        with self._lock:
            old = self._mem.pop((key, int(frame)), None)
            if old is not None:
                self._bytes -= old[0].nbytes + old[1].nbytes
        p = self._disk_path(key, frame)
        if p is not None:
            try:
                p.unlink()
            except FileNotFoundError:
                pass

    def invalidate(self, key: str | None = None, frames=None) -> None:
        """Drop entries: all, one key's, or some frames (of one key or of all keys)."""
        fs = None if frames is None else {int(f) for f in frames}
        with self._lock:
            for k in list(self._mem):
                if (key is None or k[0] == key) and (fs is None or k[1] in fs):
                    a, c = self._mem.pop(k)
                    self._bytes -= a.nbytes + c.nbytes
        if self.disk_dir is None or not self.disk_dir.exists():
            return
        dirs = [self.disk_dir / _safe_key(key)] if key is not None else \
            [d for d in self.disk_dir.iterdir() if d.is_dir()]
        for d in dirs:
            if fs is None:
                shutil.rmtree(d, ignore_errors=True)
            else:
                for f in fs:
                    try:
                        (d / f"{f:06d}.npz").unlink()
                    except FileNotFoundError:
                        pass

    def clear(self) -> None:
        self.invalidate()

    def prune(self, keep: str) -> None:
        """Drop entries of every key but ``keep`` (old generations), in memory and on disk."""
        with self._lock:
            for k in [k for k in self._mem if k[0] != keep]:
                a, c = self._mem.pop(k)
                self._bytes -= a.nbytes + c.nbytes
        if self.disk_dir is None or not self.disk_dir.exists():
            return
        keep_dir = _safe_key(keep)
        for d in self.disk_dir.iterdir():
            if d.is_dir() and d.name != keep_dir:
                shutil.rmtree(d, ignore_errors=True)

    def move_disk(self, disk_dir) -> None:
        """Write to `disk_dir` from now on; the old folder becomes a read-only folder."""
        new = Path(disk_dir)
        if self.disk_dir is not None and self.disk_dir != new:
            self.read_dirs.insert(0, self.disk_dir)
        self.read_dirs = [d for d in self.read_dirs if d != new]
        self.disk_dir = new
        self._disk_total = None

    def keep(self, entries) -> int:
        """Make sure the disk tier itself holds these ``(key, frame)`` entries, linking (or
        copying) them from the read-only folders: a project saved to a new place takes its
        chroma along. Returns how many were brought over."""
        n = 0
        if self.disk_dir is None:
            return 0
        for key, frame in entries:
            dst = self._disk_path(key, frame)
            if dst.exists():
                continue
            src = self._read_path(key, frame)
            if src is None:
                item = self._mem.get((key, int(frame)))
                if item is not None:
                    self._write_disk(key, int(frame), *item)
                    n += 1
                continue
            try:
                dst.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(src, dst)
                except OSError:
                    shutil.copyfile(src, dst)
                n += 1
            except OSError:
                pass
        return n

    def disk_bytes(self) -> int:
        if self.disk_dir is None or not self.disk_dir.exists():
            return 0
        return sum(p.stat().st_size for p in self.disk_dir.rglob("*.npz"))

    def frames(self, key: str = "") -> set[int]:
        """Frames available under ``key`` (memory or disk), e.g. for the timeline's 'done' band."""
        with self._lock:
            out = {f for k, f in self._mem if k == key}
        dirs = [self._disk_key_dir(key)] + [d / _safe_key(key) for d in self.read_dirs]
        for p in dirs:
            if p is not None and p.is_dir():
                for f in p.glob("*.npz"):
                    try:
                        out.add(int(f.stem))
                    except ValueError:
                        pass
        return out

    def _evict(self) -> None:
        while self._bytes > self.max_bytes and self._mem:
            (key, frame), (a, c) = self._mem.popitem(last=False)
            self._bytes -= a.nbytes + c.nbytes
            if self.spill_on_evict and self.disk_dir is not None:
                p = self._disk_path(key, frame)
                if not p.exists():
                    self._write_disk(key, frame, a, c)

    # ---------------------------------------------------------------------------- disk tier
    def _disk_key_dir(self, key: str) -> Path | None:
        return None if self.disk_dir is None else self.disk_dir / _safe_key(key)

    def _disk_path(self, key: str, frame: int) -> Path | None:
        d = self._disk_key_dir(key)
        return None if d is None else d / f"{int(frame):06d}.npz"

    def _write_disk(self, key: str, frame: int, ab16: np.ndarray, conf8: np.ndarray) -> None:
        path = self._disk_path(key, frame)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp")
            with open(tmp, "wb") as f:
                np.savez(f, ab=ab16, conf=conf8)
            os.replace(tmp, path)
        except OSError as exc:
            # A full or read-only disk only costs recomputation later; never fail the caller.
            if self.disk_error is None:
                self.disk_error = (f"the colour cache in {self.disk_dir} cannot be written "
                                   f"({exc.strerror or exc})")
            try:
                tmp.unlink()
            except Exception:
                pass
            return
        if self.disk_max_bytes is not None:
            # a running total (walking the folder on every write is O(files) per frame)
            if self._disk_total is None:
                self._disk_total = self.disk_bytes()
            else:
                try:
                    self._disk_total += path.stat().st_size
                except OSError:          # trimmed or invalidated meanwhile
                    pass
            if self._disk_total > self.disk_max_bytes:
                self._trim_disk()

    def _read_path(self, key: str, frame: int) -> Path | None:
        """Where an entry can be read: the disk tier, else the first read-only folder holding it."""
        p = self._disk_path(key, frame)
        if p is not None and p.exists():
            return p
        for d in self.read_dirs:
            q = d / _safe_key(key) / f"{int(frame):06d}.npz"
            if q.exists():
                return q
        return None

    def _read_disk(self, key: str, frame: int):
        path = self._read_path(key, frame)
        if path is None:
            return None
        try:
            with np.load(path) as z:
                return np.array(z["ab"], np.float16), np.array(z["conf"], np.uint8)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            try:
                path.unlink()  # unreadable entry: drop it, recompute
            except OSError:
                pass
            return None

    def _trim_disk(self) -> None:
        """Oldest entries removed until the disk tier holds TRIM_TO of its budget; the running
        total is then what is left. (It stayed above the budget, and the trim stopped just
        under it, so that once the budget was reached every write walked and stat'ed the whole
        folder again: ~4000 files a frame for the editor's 8 GB.) Entries removed meanwhile
        (an invalidate, another editor) are passed over."""
        files = []
        for p in self.disk_dir.rglob("*.npz"):
            try:
                st = p.stat()
            except OSError:
                continue
            files.append((st.st_mtime, st.st_size, p))
        files.sort(key=lambda e: e[0])
        total = sum(size for _, size, _ in files)
        goal = self.disk_max_bytes * TRIM_TO     # room for the next writes without a walk each
        for _, size, p in files:
            if total <= goal:
                break
            try:
                p.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                continue
            total -= size
        self._disk_total = total
        self._disk_total = total


def _unpack(ab16: np.ndarray, conf8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return ab16.astype(np.float32), conf8.astype(np.float32) * (1.0 / 255.0)
