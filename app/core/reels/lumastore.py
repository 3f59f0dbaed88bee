"""The proxy luma of a whole source on disk: chunked files, a few chunks in memory.

`LumaCache` (app.core.media) holds a shot's proxy luma in RAM, +0.4 MB a frame at 854x480:
fine for a shot, not for a reel (a 90-minute film would need ~50 GB). `LumaStore` keeps it
in the cache folder instead, as raw uint8 chunks of CHUNK frames (L * 2.55, like LumaCache),
and holds at most `max_chunks` of them in memory (an LRU), so memory does not grow with the
length of the source. Chunks are read with plain file reads, not memory maps: mapped pages
would count towards the process's resident set as they are touched.

A store is usable at once (`LumaStore.begin`): its length and size come from the demuxer, and
a chunk that is not on disk yet is filled on demand (a seek and the chunk's frames decoded,
`fill`), so the editor shows its first frame without waiting for the whole source. `scan`
is the one sequential decode that writes every chunk and, in the same pass, detects the shots
(app.core.reels.shots.ShotDetector); the editor runs it on a background thread, the command
line before its render (`LumaStore.open`). An interrupted scan resumes where it stopped (the
cuts found so far and the frames scanned are kept in meta.json). Stores are keyed by the
source (path, size, mtime, a hash of sampled blocks: app.core.cache.source_identity) and the
proxy height, and reused when the same source is opened again:

    <cache root>/luma/<key>/meta.json          size, frame count, shots, error, "complete"
    <cache root>/luma/<key>/chunk_000000.u8    frames 0..CHUNK-1, then chunk_000001.u8, ...

Disk: a store writes at most `disk_budget()` bytes of chunks ($HUESHOT_LUMA_BUDGET_GB, 8 GB by
default: ~20000 frames, 14 minutes at 24 fps, at 854x480). Past it the scan still reads every
frame for the cuts but keeps no chunk, and frames there are decoded on demand, a chunk at a
time, held only in the in-memory LRU: a 1-hour 1080p film would otherwise need ~35 GB.

The cache root of a project is ``<name>.hueshot-cache/`` beside the project file; without a
project it is ``$HUESHOT_CACHE_DIR`` or ``$XDG_CACHE_HOME/hueshot`` (``~/.cache/hueshot``).
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np

from app.core.media import CorruptMediaError, LumaCache, MediaError, MediaSource, proxy_size
from app.core.reels.shots import MIN_SHOT_LEN, Shot, ShotDetector, shots_from_cuts

STORE_VERSION = 2               # 2: grey frames' luma from Y' (media.iter_proxy_luma); older stores rebuild
CHUNK = 32                      # frames per chunk file (13 MB at 854x480)
DEFAULT_BUDGET_GB = 8.0
CHECKPOINT_S = 2.0              # a partial scan's progress is saved this often
DETECT_WARMUP = 2 * MIN_SHOT_LEN  # frames a resumed scan's shot detector sees again before it goes on


def disk_budget() -> int:
    """Bytes of chunks one store may write ($HUESHOT_LUMA_BUDGET_GB, default 8 GB)."""
    v = os.environ.get("HUESHOT_LUMA_BUDGET_GB")
    if not v:
        return int(DEFAULT_BUDGET_GB * 2**30)
    from app.core.validate import ValidationError
    try:
        gb = float(v)
    except ValueError:
        gb = -1.0
    if not 0 <= gb <= 2**40:      # also nan and inf (which int() cannot take)
        raise ValidationError(f"HUESHOT_LUMA_BUDGET_GB must be a number of gigabytes (0 or more), got {v!r}")
    return int(gb * 2**30)


STORES_PER_ROOT = 4             # a cache root's stores together keep at most this many budgets
KEEP_SMALL = 64 * 1024          # a store this small (meta.json: the shots, no chunk) is never evicted:
                                # with HUESHOT_LUMA_BUDGET_GB=0 it is all a store keeps, and it is cheap


def hold_folder(folder: Path):
    """A shared lock on ``folder/.lock`` for as long as a store of this process uses the
    folder (None where it cannot be taken; the caller closes it): `evict_stores` leaves a
    folder alone while any process holds it."""
    try:
        import fcntl
    except ImportError:          # no flock (Windows): stores are then evicted by age alone
        return None
    try:
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        os.utime(fd)             # its mtime: when the store was last opened (eviction's order)
    except OSError:
        pass
    return fd


def _store_bytes(folder: str) -> int:
    n = 0
    for base, _dirs, files in os.walk(folder):      # (a chroma folder has a folder per key)
        for f in files:
            try:
                n += os.lstat(os.path.join(base, f)).st_size
            except OSError:
                pass
    return n


def evict_stores(luma_root: str | os.PathLike, keep: str | os.PathLike | None, total: int) -> list[Path]:
    """Remove the least recently opened stores under ``luma_root`` until its stores hold at
    most ``total`` bytes, never ``keep`` nor one that a running process holds (`hold_folder`); a
    store is renamed away under an exclusive lock first, so no process finds it half removed.
    Leftovers of an eviction that was killed are removed too. Returns what was removed."""
    import shutil
    try:
        import fcntl
    except ImportError:
        fcntl = None
    root = Path(luma_root)
    keep = str(Path(keep)) if keep is not None else None
    stores, removed = [], []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for e in entries:
        if e.name.startswith(".evicted-"):
            shutil.rmtree(e.path, ignore_errors=True)
            continue
        if e.name.startswith(".") or not e.is_dir(follow_symlinks=False):
            continue
        try:     # when last opened; a store just made has no .lock yet: its folder's mtime
            used = os.stat(os.path.join(e.path, ".lock")).st_mtime
        except OSError:
            try:
                used = e.stat(follow_symlinks=False).st_mtime
            except OSError:
                continue
        stores.append((used, e.path, _store_bytes(e.path)))
    held = sum(b for _, _, b in stores)
    for used, path, size in sorted(stores):
        if held <= total:
            break
        if path == keep or size < KEEP_SMALL:
            continue
        fd = None
        try:
            if fcntl is not None:
                fd = os.open(os.path.join(path, ".lock"), os.O_RDWR | os.O_CREAT, 0o666)
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)     # in use elsewhere: skipped
            from app.core.shutdown import temp_tag
            gone = root / f".evicted-{temp_tag()}"
            os.rename(path, gone)
        except OSError:
            continue
        finally:
            if fd is not None:
                os.close(fd)
        shutil.rmtree(gone, ignore_errors=True)
        removed.append(Path(path))
        held -= size
    return removed


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
    from app.core.cache import source_identity
    p = Path(path).absolute()
    p.stat()                # a source that is gone fails here, as opening it would
    # the 2 is the folder name's own version, not STORE_VERSION: a store of an older version is
    # found in the same folder and rebuilt there (begin() drops its chunks), not left on disk.
    # The source's identity hashes sampled blocks of its content (app.core.fsutil.content_stamp):
    # a file replaced in place with its old size and mtime gets a store of its own.
    parts = [source_identity(p), proxy_height, 2]
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]


def _trusted_meta(meta, size: list[int], frame_count: int) -> bool:
    """Whether a store's meta.json (any JSON) is one this version wrote for this source: every
    field of the right type and consistent with the source. Anything else (a hand edit, a
    truncated or foreign file) rebuilds the store instead of failing later."""
    from app.core.reels.shots import validate_shots

    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)
    if not isinstance(meta, dict) or meta.get("version") != STORE_VERSION:
        return False
    frames, complete, err = meta.get("frames"), meta.get("complete"), meta.get("error")
    if meta.get("size") != size or not is_int(frames) or not isinstance(complete, bool):
        return False
    if not 1 <= frames <= frame_count or (frames != frame_count and not (complete and err)):
        return False          # fewer frames only for a complete scan of a source that breaks
    if err is not None and not (isinstance(err, dict) and isinstance(err.get("problem"), str)
                                and is_int(err.get("frame")) and isinstance(err.get("path"), str)):
        return False
    if complete:
        try:
            validate_shots(meta.get("shots") or [], frames, "meta.json")
        except (ValueError, TypeError):
            return False
        return isinstance(meta.get("shots"), list) and len(meta["shots"]) > 0
    scanned, cuts = meta.get("scanned"), meta.get("cuts")
    return (is_int(scanned) and 0 <= scanned <= frames and isinstance(cuts, list)
            and all(is_int(c) and 0 < c < frames for c in cuts))


class _ScanSink:
    """The scan's work after the decode, on a thread of its own: the shot detector's frames and
    the full chunks' writes, in order. The luma pass then does not wait for the detector nor
    for the disk (on the 2-core host they were ~40 % of the pass: a 13 MB chunk took ~45 ms to
    write, the detector ~2 ms a frame). Two chunk buffers take turns: the scan fills one while
    the other is written. `cuts` are those found so far (they trail the decode by the frames
    still queued); `drain` waits for everything handed over. Errors other than the disk's
    (which `LumaStore._write` absorbs) are raised in the scan's thread by `drain` and `close`."""

    def __init__(self, store: "LumaStore", detector: ShotDetector, shape: tuple[int, int, int]):
        import queue
        self._store, self._detector = store, detector
        self._free: "queue.Queue[np.ndarray]" = queue.Queue()
        self._jobs: "queue.Queue" = queue.Queue(maxsize=2 * CHUNK)
        for _ in range(2):
            self._free.put(np.empty(shape, np.uint8))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="luma-scan-sink", daemon=True)
        self._thread.start()

    @property
    def cuts(self) -> list[int]:
        return list(self._detector.cuts)

    def take(self) -> np.ndarray:
        """A chunk buffer to fill (waits while both are being written)."""
        return self._free.get()

    def feed(self, index: int, y: np.ndarray) -> None:
        self._jobs.put((index, y))

    def put(self, c: int, frames: np.ndarray) -> None:
        """Write chunk ``c``; ``frames`` (a buffer from `take`) is the sink's until written."""
        self._jobs.put(("chunk", c, frames))

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                if self._error is None:
                    if job[0] == "chunk":
                        self._store._write(job[1], job[2])
                    else:
                        self._detector.feed(*job)
            except BaseException as exc:     # raised again in the scan's thread
                self._error = exc
            finally:
                if job is not None and job[0] == "chunk":
                    self._free.put(job[2])
                self._jobs.task_done()

    def check(self) -> None:
        if self._error is not None:
            raise self._error

    def drain(self) -> None:
        if self._thread is not None:
            self._jobs.join()
        self.check()

    def close(self, raise_error: bool = True) -> None:
        """Everything handed over done, the thread ended; its error raised unless the caller
        is already raising one of its own."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None
        if raise_error:
            self.check()


class LumaStore:
    """LumaFrames over a whole source (indices are source frame indices), chunks on disk,
    chunks not there yet decoded on demand (`fill`)."""

    SCALE = LumaCache.SCALE

    def __init__(self, folder: Path, meta: dict, max_chunks: int = 6):
        self.folder = Path(folder)
        self.meta = meta
        self.size: tuple[int, int] = (int(meta["size"][0]), int(meta["size"][1]))
        self.start = 0
        self.path = meta.get("source")
        self._n = int(meta["frames"])
        self.complete = bool(meta.get("complete"))
        self.scanned = self._n if self.complete else int(meta.get("scanned") or 0)
        if self.complete:
            self._shots: list[Shot] | None = [(int(a), int(b)) for a, b in meta.get("shots") or []]
            self.cuts = [a for a, _ in self._shots[1:]]
        else:
            self._shots, self.cuts = None, sorted(int(c) for c in meta.get("cuts") or [])
        err = meta.get("error")
        self.error = _corrupt(err) if err else None
        self._chunks: OrderedDict[int, np.ndarray] = OrderedDict()
        self._singles: OrderedDict[int, np.ndarray] = OrderedDict()   # frames peeked alone
        self._max = max(2, max_chunks)
        self._lock = threading.Lock()        # the LRU (the render's propagate and compose threads both read)
        self._fill_lock = threading.Lock()   # the on-demand decoder, one fill at a time
        self._src: MediaSource | None = None
        self._budget = disk_budget()
        # what kept this store off the disk (a cache folder that cannot be written, a full
        # disk): its frames are then held in memory and decoded again as needed; said once
        self.disk_error: str | None = None
        w, h = self.size
        self._chunk_bytes = CHUNK * w * h
        self._on_disk: set[int] = set()
        # chunk writes a killed process left half done (its temp files are never renamed)
        from app.core.shutdown import sweep_stale
        sweep_stale(self.folder, ".chunk_", ".tmp")
        fd = hold_folder(self.folder)   # released when this store is dropped
        if fd is not None:
            import weakref
            weakref.finalize(self, os.close, fd)
        try:
            for e in os.scandir(self.folder):
                if e.name.startswith("chunk_") and e.name.endswith(".u8"):
                    c = int(e.name[6:-3])
                    if e.stat().st_size == self._expected(c) * w * h:
                        self._on_disk.add(c)
        except (OSError, ValueError):
            pass

    def __getstate__(self):          # picklable (a farm task): the chunks are read again there
        return {"folder": str(self.folder), "meta": self.meta, "max": self._max}

    def __setstate__(self, state):
        self.__init__(Path(state["folder"]), state["meta"], state["max"])

    @property
    def shots(self) -> list[Shot]:
        """The shots: final once the scan is complete; before, the cuts found so far, the last
        shot running to the end of the source."""
        if self._shots is not None:
            return list(self._shots)
        return shots_from_cuts(self.cuts, self._n)

    def _expected(self, c: int) -> int:
        return max(0, min(CHUNK, self._n - c * CHUNK))

    # ------------------------------------------------------------------ LumaFrames
    def __len__(self) -> int:
        return self._n

    def ready(self, index: int) -> bool:
        """Frame ``index`` is read without decoding (its chunk in memory or on disk)."""
        c = index // CHUNK
        return c in self._chunks or c in self._on_disk or index in self._singles

    def in_memory(self, index: int) -> bool:
        """Frame ``index`` is read without touching the disk (its chunk, or the frame alone, is
        in the in-memory LRU): what the editor's GUI thread may read; the rest is read by its
        display loader (a 13 MB chunk read took ~100 ms on the loaded host)."""
        c = index // CHUNK
        return c in self._chunks or (index in self._singles and c not in self._on_disk)

    def peek(self, index: int) -> np.ndarray:
        """Frame ``index`` alone, decoded now if its chunk is not stored (a seek and the frames
        up to it, not the whole chunk: the first frame of a file opened for the first time),
        through the same scaling as the scan, so it equals what the scan will store."""
        if self.ready(index):
            return self.raw(index)
        if not 0 <= index < self._n:
            raise IndexError(f"frame {index} is outside the luma store (0..{self._n - 1})")
        with self._fill_lock:
            src = self._source()
            for _, y in src.iter_proxy_luma(index, index + 1, self.size):
                pass
            with self._lock:
                self._singles[index] = y
                while len(self._singles) > 8:
                    self._singles.popitem(last=False)
        return y.copy()

    def _source(self) -> MediaSource:
        if self._src is None:
            from app.core.media import open_media
            self._src = open_media(self.path)
        return self._src

    def raw(self, index: int) -> np.ndarray:
        """uint8 luma (L * 2.55) of source frame ``index`` (decoded now if not stored yet)."""
        if not 0 <= index < self._n:
            raise IndexError(f"frame {index} is outside the luma store (0..{self._n - 1})")
        c, r = divmod(index, CHUNK)
        with self._lock:
            chunk = self._chunks.get(c)
            if chunk is not None:
                self._chunks.move_to_end(c)
                # a copy: a view would keep its whole chunk alive for as long as a caller holds it
                return chunk[r].copy()
            one = self._singles.get(index) if c not in self._on_disk else None
            if one is not None:
                return one.copy()
        chunk = self._load(c) if c in self._on_disk else self.fill(c)
        self._keep(c, chunk)
        return chunk[r].copy()

    def __getitem__(self, index: int) -> np.ndarray:
        return self.raw(index).astype(np.float32) * (1.0 / self.SCALE)

    def _keep(self, c: int, chunk: np.ndarray) -> None:
        with self._lock:
            self._chunks[c] = chunk
            self._chunks.move_to_end(c)
            while len(self._chunks) > self._max:
                self._chunks.popitem(last=False)

    def _load(self, c: int) -> np.ndarray:
        w, h = self.size
        count = self._expected(c)
        path = self.folder / f"chunk_{c:06d}.u8"
        data = np.fromfile(path, np.uint8)
        if data.size != count * w * h:
            raise MediaError(path, f"luma cache chunk has {data.size} bytes, expected {count * w * h} "
                                   f"(delete {self.folder} to rebuild it)")
        return data.reshape(count, h, w)

    def fill(self, c: int) -> np.ndarray:
        """Chunk ``c`` decoded now (a seek, then its frames), written to disk within the budget."""
        with self._fill_lock:
            with self._lock:
                got = self._chunks.get(c)
            if got is not None:
                return got
            if c in self._on_disk:
                return self._load(c)
            a, count = c * CHUNK, self._expected(c)
            w, h = self.size
            out = np.empty((count, h, w), np.uint8)
            k = 0
            for _, y in self._source().iter_proxy_luma(a, a + count, self.size):
                out[k] = y
                k += 1
            self._write(c, out)
            return out

    def _write(self, c: int, frames: np.ndarray) -> bool:
        """Chunk file written whole (temp name, then renamed), unless past the disk budget."""
        if c in self._on_disk or len(frames) != self._expected(c):
            return False
        if (len(self._on_disk) + 1) * self._chunk_bytes > self._budget:
            return False
        path = self.folder / f"chunk_{c:06d}.u8"
        from app.core.shutdown import temp_tag
        tmp = self.folder / f".chunk_{c:06d}.{temp_tag()}.tmp"
        try:
            frames.tofile(tmp)
            os.replace(tmp, path)
        except OSError as exc:   # a full disk: the chunk stays in memory only
            Path(tmp).unlink(missing_ok=True)
            self._disk_failed(exc)
            return False
        self._on_disk.add(c)
        return True

    def _disk_failed(self, exc: OSError) -> None:
        if self.disk_error is None:
            self.disk_error = (f"the luma cache in {self.folder} cannot be written "
                               f"({exc.strerror or exc}); frames are read from the source as needed")

    def view(self, start: int, end: int):
        """Frames start..end-1 re-indexed from 0 (what a render of that range propagates)."""
        from app.core.reels.shots import SubLuma
        # a truncated source has fewer frames than its demuxer counted (none of a range past its break)
        end = max(start, min(end, self._n))
        v = SubLuma(self, start, end)
        v.start, v.error = start, (self.error if end >= self._n else None)
        return v

    def use_source(self, source: MediaSource) -> None:
        """Decode on demand from ``source`` (already open: its index is not read again); the
        store closes it."""
        with self._fill_lock:
            if self._src is not None and self._src is not source:
                self._src.close()
            self._src = source

    def close(self) -> None:
        """The on-demand decoder's file is closed (a later fill opens it again)."""
        with self._fill_lock:
            if self._src is not None:
                self._src.close()
                self._src = None

    # ------------------------------------------------------------------ building
    @classmethod
    def begin(cls, source: MediaSource, cache_root: str | os.PathLike, proxy_height: int = 480,
              max_chunks: int = 6, memory_if_unwritable: bool = False) -> "LumaStore":
        """The store for ``source`` at once: complete if cached, else partial (what an earlier
        scan left, or nothing yet); `scan` completes it, `raw` decodes what is missing.
        A cache folder that cannot be written raises MediaError, unless ``memory_if_unwritable``
        (the editor: a full or read-only cache disk must not stop it opening a file): the store
        then keeps nothing on disk and says why in ``disk_error``."""
        info = source.info
        folder = Path(cache_root) / "luma" / source_key(info.path, proxy_height)
        size = list(proxy_size(info.width, info.height, proxy_height))
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            if _trusted_meta(meta, size, info.frame_count):
                store = cls(folder, meta, max_chunks)
                evict_stores(folder.parent, folder, STORES_PER_ROOT * store._budget)
                return store
        except (OSError, ValueError):
            pass
        from app.core.project import atomic_write_bytes
        meta = {"version": STORE_VERSION, "source": info.path, "size": size, "frames": info.frame_count,
                "chunk": CHUNK, "complete": False, "scanned": 0, "cuts": [], "error": None}
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob("chunk_*.u8"):       # another build's chunks: not trusted
                old.unlink(missing_ok=True)
            atomic_write_bytes(folder / "meta.json", json.dumps(meta).encode("utf-8"))
        except OSError as exc:       # the cache, not the input: say so, and how to move it
            if memory_if_unwritable:
                store = cls(folder, meta, max_chunks)
                store._budget = 0         # no chunk is tried: the scan holds them in memory only
                store._disk_failed(exc)
                return store
            raise MediaError(folder, f"cannot write the luma cache there ({exc.strerror or exc}); "
                                     "set HUESHOT_CACHE_DIR to a writable folder") from None
        store = cls(folder, meta, max_chunks)
        # sources opened before (or an earlier version of this one): the least recently opened
        # go, so that a cache root does not grow by a store for every file ever opened
        evict_stores(folder.parent, folder, STORES_PER_ROOT * store._budget)
        return store

    @classmethod
    def open(cls, source: MediaSource, cache_root: str | os.PathLike, proxy_height: int = 480,
             progress: Callable[[int, int], None] | None = None,
             should_stop: Callable[[], bool] | None = None, max_chunks: int = 6) -> "LumaStore | None":
        """The complete store for ``source``: reused if cached, else scanned now (one sequential
        decode, shots detected on the way). None when ``should_stop`` cut it short."""
        store = cls.begin(source, cache_root, proxy_height, max_chunks)
        return store if store.scan(source, progress, should_stop) else None

    def scan(self, source: MediaSource | None = None, progress: Callable[[int, int], None] | None = None,
             should_stop: Callable[[], bool] | None = None,
             on_cuts: Callable[[], None] | None = None) -> bool:
        """The sequential pass from where an earlier one stopped to the end: every chunk written
        (within the budget), the cuts detected. True when the store is complete; False when
        ``should_stop`` cut it short (its progress is saved: the next scan goes on from there)."""
        total = self._n
        if self.complete:
            if progress is not None:
                progress(total, total)
            return True
        start = self.scanned - self.scanned % CHUNK
        own = source is None
        if own:
            from app.core.media import open_media
            source = open_media(self.path)
        # A resumed scan's detector first sees the frames before `start` again (from the store):
        # started cold at `start` it had no history there and missed every cut in the first
        # MIN_SHOT_LEN frames (a reel resumed at frame 32 lost its cuts at 32, 33 and 34). Its
        # cuts count from where it has a full history, beside the first scan's before `start`.
        # It also starts far enough before the last cut the first scan found that it finds that
        # cut itself: a cut's minimum shot length then suppresses the same cuts after it as in
        # an uninterrupted scan (else a 4-frame shot after a cut just before `start` appeared).
        # (a cut further back than that is past its minimum shot length: not fed again)
        prev = [c for c in self.cuts if start - DETECT_WARMUP - MIN_SHOT_LEN <= c < start]
        warm = max(0, min(start, prev[-1] if prev else start) - DETECT_WARMUP)
        detector = ShotDetector(start=warm)
        try:
            for i in range(warm, start):
                detector.feed(i, self.raw(i))
        except BaseException:
            if own:
                source.close()
            raise
        trusted = 0 if warm == 0 else warm + MIN_SHOT_LEN
        done_cuts = [c for c in self.cuts if c < start]     # the first scan's (found with history)

        def all_cuts(found):
            return sorted(set(done_cuts + [c for c in found if c >= trusted]))
        w, h = self.size
        sink = _ScanSink(self, detector, (CHUNK, h, w))
        buf = sink.take()
        count, error, failed = start, None, False
        last_save = time.monotonic()
        try:
            for _, y in source.iter_proxy_luma(start, total, self.size):
                if should_stop is not None and should_stop():
                    sink.close()
                    self._save_partial(all_cuts(detector.cuts))
                    return False
                buf[count % CHUNK] = y
                sink.feed(count, y)
                count += 1
                if count % CHUNK == 0:
                    sink.check()                    # the sink's own error stops the scan here
                    c = count // CHUNK - 1
                    if c not in self._on_disk:
                        sink.put(c, buf)            # written behind the decode; buf is the sink's now
                        buf = sink.take()
                    cuts = all_cuts(sink.cuts)
                    if len(cuts) != len(self.cuts):
                        self.cuts = cuts
                        if on_cuts is not None:
                            on_cuts()
                    if time.monotonic() - last_save > CHECKPOINT_S:
                        # a checkpoint counts only chunks on disk and frames the detector has seen
                        sink.drain()
                        self.scanned = count
                        self._save_partial(all_cuts(detector.cuts))
                        last_save = time.monotonic()
                    else:
                        self.scanned = count
                if progress is not None:
                    progress(count, total)
        except CorruptMediaError as e:
            if count == 0:
                failed = True
                raise
            error = {"path": e.path, "frame": e.frame_index, "problem": e.problem}
        except BaseException:
            failed = True
            raise
        finally:
            try:     # the sink's own error is raised only if no other is on its way
                sink.close(raise_error=not failed)
            finally:
                if own:
                    source.close()
        if count < total:                       # a truncated source: fewer frames than counted
            self._n = count
            self._on_disk.discard(count // CHUNK)
            with self._lock:
                self._chunks.pop(count // CHUNK, None)
        if count % CHUNK:                       # the last, shorter chunk
            self._write(count // CHUNK, np.ascontiguousarray(buf[:count % CHUNK]))
        cuts = all_cuts(a for a, _ in detector.shots(count)[1:])
        shots = shots_from_cuts(cuts, count)
        meta = {"version": STORE_VERSION, "source": self.path, "size": [w, h], "frames": count,
                "chunk": CHUNK, "shots": [list(s) for s in shots], "error": error, "complete": True}
        from app.core.project import atomic_write_bytes
        try:
            atomic_write_bytes(self.folder / "meta.json", json.dumps(meta).encode("utf-8"))
        except OSError as exc:  # a full disk: the store is complete in memory; a reopen scans again
            self._disk_failed(exc)
        self.meta, self.cuts, self._shots, self.scanned = meta, cuts, shots, count
        self.error = _corrupt(error) if error else None
        self.complete = True
        if on_cuts is not None:
            on_cuts()
        return True

    def _save_partial(self, cuts) -> None:
        from app.core.project import atomic_write_bytes
        meta = dict(self.meta, complete=False, scanned=self.scanned - self.scanned % CHUNK,
                    cuts=sorted(set(int(c) for c in cuts if c < self.scanned)))
        try:
            atomic_write_bytes(self.folder / "meta.json", json.dumps(meta).encode("utf-8"))
            self.meta = meta
        except OSError:
            pass


def _corrupt(err: dict) -> CorruptMediaError:
    """The CorruptMediaError a build met, as it was (its message already says where)."""
    e = CorruptMediaError.__new__(CorruptMediaError)
    MediaError.__init__(e, err["path"], err["problem"])
    e.frame_index = int(err["frame"])
    return e


def open_store(path: str | os.PathLike, cache_root: str | os.PathLike | None = None, proxy_height: int = 480,
               progress: Callable[[int, int], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> "LumaStore | None":
    """Open the media at ``path`` and return its (cached or newly built) LumaStore."""
    from app.core.media import open_media
    with open_media(path) as src:
        return LumaStore.open(src, cache_root if cache_root is not None else user_cache_dir(),
                              proxy_height, progress, should_stop)
