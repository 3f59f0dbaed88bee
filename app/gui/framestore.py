"""Propagated frames the GUI can show again at once: the core's ChromaCache holds the
chroma (memory-bounded, float16), and a small LRU holds composed RGB for the frames
looked at most recently, so scrubbing over computed frames needs no colour conversion.

Both are bounded in bytes; a frame evicted from both is simply shown as stale/grey
until the next propagation brings it back.

Each frame also records the generation it was computed for, so the export can tell the
frames that match the current edits from stale ones, and wait (`wait_fresh`) for the worker
to bring the rest.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from app.core.cache import ChromaCache
from models.color import compose_rgb


def gray_lut() -> np.ndarray:
    """uint8 luma code (L*2.55, the LumaCache storage) -> sRGB grey triplet, as compose_rgb
    would produce with zero chroma: the grey view and the colour view share one tone curve."""
    L = (np.arange(256, dtype=np.float32) / 2.55).reshape(1, 256)
    rgb = compose_rgb(L, np.zeros((1, 256, 2), np.float32))[0]
    return np.ascontiguousarray(rgb)


class FrameStore:
    def __init__(self, length: int, size: tuple[int, int], chroma_bytes: int = 384 * 2**20,
                 rgb_bytes: int = 192 * 2**20, spill_dir=None):
        self.length = length
        self.size = size
        # Spill to disk only when the shot's chroma cannot stay in memory: compressing
        # every frame would slow propagation for nothing on short shots.
        per_frame = size[0] * size[1] * 5
        self.spill = spill_dir is not None and per_frame * length > chroma_bytes
        self.chroma = ChromaCache(max_bytes=chroma_bytes, disk_dir=spill_dir if self.spill else None)
        self._rgb: OrderedDict[int, np.ndarray] = OrderedDict()
        self._rgb_bytes = 0
        self.rgb_max = rgb_bytes
        self.luma = None                      # set by the owner to recompose evicted RGB
        self._lock = threading.Lock()        # read by the export thread too
        self._gen: dict[int, int] = {}        # frame -> generation its chroma was computed for
        self._arrived = threading.Condition()

    def put(self, i: int, ab: np.ndarray, rgb: np.ndarray | None, generation: int = 0) -> None:
        self.chroma.put(i, ab, None, persist=self.spill)
        if rgb is not None:
            self._put_rgb(i, rgb)
        with self._arrived:
            self._gen[i] = generation
            self._arrived.notify_all()

    def generation_of(self, i: int) -> int | None:
        return self._gen.get(i)

    def fresh_ab(self, i: int, min_generation: int) -> np.ndarray | None:
        """The chroma of frame i if it was computed for `min_generation` or later, else None."""
        g = self._gen.get(i)
        if g is None or g < min_generation:
            return None
        return self.ab(i)

    def missing(self, frames, min_generation: int) -> list[int]:
        """Frames among `frames` without chroma of `min_generation` or later."""
        out = []
        for i in frames:
            g = self._gen.get(i)
            if g is None or g < min_generation or ("", i) not in self.chroma:
                out.append(i)
        return out

    def wait_fresh(self, i: int, min_generation: int, timeout: float) -> np.ndarray | None:
        """Block (any thread but the GUI's) until frame i has chroma of `min_generation` or
        later, or `timeout` seconds pass (then None)."""
        with self._arrived:
            self._arrived.wait_for(lambda: self._gen.get(i, -1) >= min_generation, timeout)
        return self.fresh_ab(i, min_generation)

    def _put_rgb(self, i: int, rgb: np.ndarray) -> None:
        with self._lock:
            old = self._rgb.pop(i, None)
            if old is not None:
                self._rgb_bytes -= old.nbytes
            self._rgb[i] = rgb
            self._rgb_bytes += rgb.nbytes
            while self._rgb_bytes > self.rgb_max and self._rgb:
                _, o = self._rgb.popitem(last=False)
                self._rgb_bytes -= o.nbytes

    def ab(self, i: int) -> np.ndarray | None:
        got = self.chroma.get(i)
        return None if got is None else got[0]

    def rgb(self, i: int) -> np.ndarray | None:
        with self._lock:
            rgb = self._rgb.get(i)
            if rgb is not None:
                self._rgb.move_to_end(i)
                return rgb
        if self.luma is None:
            return None
        ab = self.ab(i)
        if ab is None:
            return None
        rgb = compose_rgb(self.luma[i], ab)
        self._put_rgb(i, rgb)
        return rgb

    def has(self, i: int) -> bool:
        return (("", i) in self.chroma) or i in self._rgb

    def clear(self) -> None:
        self.chroma.clear()
        with self._lock:
            self._rgb.clear()
            self._rgb_bytes = 0
        with self._arrived:
            self._gen.clear()

    @property
    def nbytes(self) -> int:
        return self.chroma.nbytes + self._rgb_bytes
