"""Chroma cache for propagated frames: a bytes-bounded in-memory LRU plus an optional disk tier.

Entries are the propagator's output at proxy size: ``ab`` (HxWx2) and ``confidence`` (HxW).
They are keyed by ``(key, frame)`` where ``key`` is a generation/settings hash (e.g.
``Project.propagation_key()``): a hint edit changes the key, so stale entries are never
served, and scrubbing back over frames already computed under the current key is instant.

Storage: ab as float16 (0.06 resolution at |ab| = 127, far below what is visible) and
confidence as uint8, ~5 bytes per proxy pixel, about 2 MB per 854x480 frame. The memory tier
never exceeds ``max_bytes``; evicted entries stay on disk when a disk folder is given
(``<dir>/<key>/<frame>.npz``, compressed), written atomically so a crash never leaves a
truncated entry that would be read back. Thread-safe: the propagation worker puts while the
viewer gets.
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


class ChromaCache:
    def __init__(self, max_bytes: int = 512 * 2**20, disk_dir: str | os.PathLike | None = None,
                 disk_max_bytes: int | None = None, spill_on_evict: bool = False):
        """``spill_on_evict``: entries pushed out of memory are written to the disk tier (if not
        already there) instead of being dropped; with ``put(..., persist=False)`` this makes a
        buffer that only touches the disk when memory is full."""
        self.max_bytes = int(max_bytes)
        self.spill_on_evict = spill_on_evict
        self.disk_dir = Path(disk_dir) if disk_dir is not None else None
        self.disk_max_bytes = disk_max_bytes
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
        return p is not None and p.exists()

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

    def disk_bytes(self) -> int:
        if self.disk_dir is None or not self.disk_dir.exists():
            return 0
        return sum(p.stat().st_size for p in self.disk_dir.rglob("*.npz"))

    def frames(self, key: str = "") -> set[int]:
        """Frames available under ``key`` (memory or disk), e.g. for the timeline's 'done' band."""
        with self._lock:
            out = {f for k, f in self._mem if k == key}
        p = self._disk_key_dir(key)
        if p is not None and p.exists():
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
                np.savez_compressed(f, ab=ab16, conf=conf8)
            os.replace(tmp, path)
        except OSError:
            # A full or read-only disk only costs recomputation later; never fail the caller.
            try:
                tmp.unlink()
            except Exception:
                pass
            return
        if self.disk_max_bytes is not None and self.disk_bytes() > self.disk_max_bytes:
            self._trim_disk()

    def _read_disk(self, key: str, frame: int):
        path = self._disk_path(key, frame)
        if path is None or not path.exists():
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
        files = sorted(self.disk_dir.rglob("*.npz"), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        for p in files:
            if total <= self.disk_max_bytes:
                break
            total -= p.stat().st_size
            p.unlink(missing_ok=True)


def _unpack(ab16: np.ndarray, conf8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return ab16.astype(np.float32), conf8.astype(np.float32) * (1.0 / 255.0)
