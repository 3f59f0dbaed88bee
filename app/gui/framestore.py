"""Propagated frames the GUI can show again at once.

The core's ChromaCache holds the chroma (memory-bounded, float16, plus the project's cache
folder on disk) keyed by ``(frame key, frame)``, the frame key naming the inputs that made it
(app.core.cache.frame_keys). Each frame records which key it shows now (`sig_of`) and the
generation that key was confirmed for: an edit computes the frames' new keys, frames whose
new key is already cached (unchanged ones, an undone edit, a reopened project) are adopted
at once, the others wait for the worker. A small LRU holds composed RGB for the frames
looked at most recently, so scrubbing over computed frames needs no colour conversion.

The export tells frames that match the current edits (generation) from stale ones and waits
(`wait_fresh`) for the worker to bring the rest.
"""
from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from app.core.cache import ChromaCache
from models.color import compose_rgb


@functools.lru_cache(maxsize=1)
def gray_lut() -> np.ndarray:
    """uint8 luma code (L*2.55, the LumaCache storage) -> sRGB grey triplet, as compose_rgb
    would produce with zero chroma: the grey view and the colour view share one tone curve."""
    L = (np.arange(256, dtype=np.float32) / 2.55).reshape(1, 256)
    rgb = np.ascontiguousarray(compose_rgb(L, np.zeros((1, 256, 2), np.float32))[0])
    rgb.setflags(write=False)            # shared by every window (cached)
    return rgb


USER_CHROMA_DIRS = 4            # the user cache keeps the colour of this many shots' budgets


def _hold_and_evict(disk: Path, owner, budget: int) -> threading.Thread | None:
    """The chroma folder is held (a shared lock, until ``owner`` is dropped) so that no other
    editor evicts it; when it is one of the user cache's per-file folders (shots without a
    project), the least recently opened of those go past USER_CHROMA_DIRS budgets: one folder
    per video ever opened, up to 8 GB each, was never removed. The eviction (a walk of the
    whole user cache, and removing gigabytes) runs on a thread of its own, returned: the
    store is made on the GUI thread when a shot opens."""
    import os
    import weakref
    from app.core.reels.lumastore import evict_stores, hold_folder
    from app.gui.document import user_cache_root
    try:
        disk.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    fd = hold_folder(disk)
    if fd is not None:
        weakref.finalize(owner, os.close, fd)
    root = Path(user_cache_root()) / "chroma"
    if disk.parent != root:
        return None
    # an eviction cut short at exit leaves a renamed-away folder that the next one removes
    t = threading.Thread(target=evict_stores, args=(root, disk, USER_CHROMA_DIRS * budget),
                         name="hueshot-chroma-evict", daemon=True)
    t.start()
    return t


class FrameStore:
    def __init__(self, length: int, size: tuple[int, int], chroma_bytes: int = 384 * 2**20,
                 rgb_bytes: int = 192 * 2**20, disk_dir=None, read_dirs=(),
                 disk_max_bytes: int = 8 * 2**30):
        self.length = length
        self.size = size
        self.chroma = ChromaCache(max_bytes=chroma_bytes, disk_dir=disk_dir, read_dirs=read_dirs,
                                  disk_max_bytes=disk_max_bytes)
        # the user cache's eviction, on a thread of its own (None when there is none)
        self.evicting = _hold_and_evict(Path(disk_dir), self, disk_max_bytes) if disk_dir is not None else None
        self._rgb: OrderedDict[int, tuple[str, np.ndarray]] = OrderedDict()
        self._rgb_bytes = 0
        self.rgb_max = rgb_bytes
        self.luma = None                      # set by the owner to recompose evicted RGB
        self._lock = threading.Lock()         # read by the export thread too
        self._sig: dict[int, str] = {}        # frame -> key of the chroma it shows
        self._gen: dict[int, int] = {}        # frame -> generation that key was confirmed for
        self._arrived = threading.Condition()

    # ---- writing (worker) and adopting (GUI) ----
    def put(self, i: int, ab: np.ndarray, rgb: np.ndarray | None, generation: int, sig: str,
            confidence: np.ndarray | None = None, show: bool = True, persist: bool = True) -> None:
        """Store frame i's chroma under its key (memory and disk); with `show`, frame i shows
        it from now on unless a newer generation already confirmed another key. `persist=False`
        leaves the disk write to a later `persist(i, sig)` (the worker sends the frame first)."""
        self.chroma.put(i, ab, confidence, key=sig, persist=persist)
        if not show:
            return
        with self._arrived:
            if generation < self._gen.get(i, -1):
                return
            self._sig[i] = sig
            self._gen[i] = generation
            self._arrived.notify_all()
        if rgb is not None:
            self._put_rgb(i, sig, rgb)

    def persist(self, i: int, sig: str) -> None:
        """The disk write of a `put(..., persist=False)`."""
        self.chroma.persist(i, sig)

    def available(self, i: int, sig: str | None) -> bool:
        return sig is not None and (sig, i) in self.chroma

    def frames_cached(self, sig: str, held: dict) -> set[int]:
        """The frames cached under `sig`, listed once per batch (`held`: sig -> frames)."""
        if sig not in held:
            held[sig] = self.chroma.frames_held(sig)
        return held[sig]

    def adopt(self, i: int, sig: str, generation: int, held: dict | None = None) -> bool:
        """Frame i shows the cached chroma of key `sig` for `generation`; False if not cached.
        `held`: a dict shared by the calls of one batch, so the cache is listed once per key
        instead of stat'ed per frame."""
        if self._sig.get(i) != sig and not (i in self.frames_cached(sig, held) if held is not None
                                            else self.available(i, sig)):
            return False
        with self._arrived:
            self._sig[i] = sig
            self._gen[i] = max(generation, self._gen.get(i, -1))
            self._arrived.notify_all()
        return True

    def forget(self, i: int) -> None:
        """Frame i has no colour now (no keyframe left)."""
        with self._arrived:
            self._sig.pop(i, None)
            self._gen.pop(i, None)
        with self._lock:
            old = self._rgb.pop(i, None)
            if old is not None:
                self._rgb_bytes -= old[1].nbytes

    def forget_unkeyed(self, keyed) -> list[int]:
        """Every frame ``i`` with ``keyed[i]`` false (its shot has no key now) forgets its colour,
        in one pass over the frames that show colour (not a call per frame of the source: a
        film's 100,000 frames took the GUI thread 0.3 s at every edit). Returns the frames that
        showed colour before."""
        n = len(keyed)
        with self._arrived:
            gone = [i for i in self._sig if i < n and not keyed[i]]
            for i in gone:
                self._sig.pop(i, None)
                self._gen.pop(i, None)
        with self._lock:
            for i in [i for i in self._rgb if i < n and not keyed[i]]:
                self._rgb_bytes -= self._rgb.pop(i)[1].nbytes
        return gone

    def confirm_unchanged(self, sigs) -> list[int]:
        """The frames whose key in ``sigs`` (frame -> key, None: no key) is the one they show
        already: nothing to look up, they are kept (see `adopt`); returned, in one pass."""
        n = len(sigs)
        with self._arrived:
            return [i for i, s in self._sig.items() if i < n and sigs[i] == s]

    def confirm(self, frames, generation: int) -> None:
        """`adopt` of frames whose key is unchanged, in one lock."""
        with self._arrived:
            g = self._gen
            for i in frames:
                if g.get(i, -1) < generation:
                    g[i] = generation
            self._arrived.notify_all()

    def lookup(self, i: int, sig: str | None):
        """(ab, confidence) cached for frame i under key `sig`, or None."""
        return None if sig is None else self.chroma.get(i, key=sig)

    def sig_of(self, i: int) -> str | None:
        return self._sig.get(i)

    def generation_of(self, i: int) -> int | None:
        return self._gen.get(i)

    # ---- reading ----
    def fresh_ab(self, i: int, min_generation: int) -> np.ndarray | None:
        """The chroma of frame i if it was confirmed for `min_generation` or later, else None."""
        g = self._gen.get(i)
        if g is None or g < min_generation:
            return None
        return self.ab(i)

    def missing(self, frames, min_generation: int) -> list[int]:
        """Frames among `frames` without chroma of `min_generation` or later."""
        out, held = [], {}
        for i in frames:
            g, sig = self._gen.get(i), self._sig.get(i)
            if g is None or g < min_generation or sig is None or i not in self.frames_cached(sig, held):
                out.append(i)
        return out

    def wait_fresh(self, i: int, min_generation: int, timeout: float) -> np.ndarray | None:
        """Block (any thread but the GUI's) until frame i has chroma of `min_generation` or
        later, or `timeout` seconds pass (then None)."""
        with self._arrived:
            self._arrived.wait_for(lambda: self._gen.get(i, -1) >= min_generation, timeout)
        return self.fresh_ab(i, min_generation)

    def _put_rgb(self, i: int, sig: str, rgb: np.ndarray) -> None:
        with self._lock:
            old = self._rgb.pop(i, None)
            if old is not None:
                self._rgb_bytes -= old[1].nbytes
            self._rgb[i] = (sig, rgb)
            self._rgb_bytes += rgb.nbytes
            while self._rgb_bytes > self.rgb_max and self._rgb:
                _, (_s, o) = self._rgb.popitem(last=False)
                self._rgb_bytes -= o.nbytes

    def ab(self, i: int) -> np.ndarray | None:
        sig = self._sig.get(i)
        got = None if sig is None else self.chroma.get(i, key=sig)
        return None if got is None else got[0]

    def cached_rgb(self, i: int) -> np.ndarray | None:
        """Composed RGB of frame i if it is in memory now (no disk read, no conversion)."""
        sig = self._sig.get(i)
        with self._lock:
            got = self._rgb.get(i)
            return got[1] if got is not None and got[0] == sig else None

    def rgb(self, i: int) -> np.ndarray | None:
        sig = self._sig.get(i)
        if sig is None:
            return None
        with self._lock:
            got = self._rgb.get(i)
            if got is not None and got[0] == sig:
                self._rgb.move_to_end(i)
                return got[1]
        if self.luma is None:
            return None
        ab = self.ab(i)
        if ab is None:
            return None
        rgb = compose_rgb(self.luma[i], ab)
        self._put_rgb(i, sig, rgb)
        return rgb

    def has(self, i: int) -> bool:
        return self.available(i, self._sig.get(i))

    def clear(self) -> None:
        """Forget what every frame shows (cached chroma stays for its keys)."""
        with self._lock:
            self._rgb.clear()
            self._rgb_bytes = 0
        with self._arrived:
            self._gen.clear()
            self._sig.clear()

    @property
    def nbytes(self) -> int:
        return self.chroma.nbytes + self._rgb_bytes
