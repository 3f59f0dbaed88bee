"""Benchmark baselines (../shared/BENCHMARK.md): `gray`, `copy_key`, `dis_chain`.

They implement the Propagator protocol of models.base. With several keyframes each frame
takes its colour from the nearest keyframe (ties go to the earlier one); `dis_chain`
chains frame after frame away from that keyframe. They exist to be beaten; they are kept
exactly as the benchmark defines them so figures stay comparable.
"""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import cv2
import numpy as np

from models.base import LumaFrames, PropagatedFrame


def luma_u8(L: np.ndarray) -> np.ndarray:
    """float L (0..100) -> uint8 0..255 for OpenCV's flow estimators."""
    return cv2.convertScaleAbs(L, alpha=2.55)


def flow_remap(img: np.ndarray, flow: np.ndarray, grid: np.ndarray | None = None,
               border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """Sample img at x + flow(x) with bilinear interpolation (backward warp)."""
    h, w = flow.shape[:2]
    if grid is None:
        grid = pixel_grid(h, w)
    m = grid + flow
    return cv2.remap(img, m, None, cv2.INTER_LINEAR, borderMode=border)


_GRIDS: dict[tuple[int, int], np.ndarray] = {}


def fixed_maps(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A float remap map (HxWx2 absolute x, y) as OpenCV's fixed-point maps, for
    `cv2.remap(src, *fixed_maps(m), ...)`. OpenCV rounds float maps to the same fixed-point
    positions for bilinear remapping, so the output is identical; remapping float data with
    them is faster (~40 % for 854x480 float chroma on 2 cores), and a map used several times
    is converted once."""
    return cv2.convertMaps(m, None, cv2.CV_16SC2)


def pixel_grid(h: int, w: int) -> np.ndarray:
    """HxWx2 float32 array of (x, y) pixel coordinates (cached)."""
    g = _GRIDS.get((h, w))
    if g is None:
        xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        g = np.ascontiguousarray(np.dstack([xs, ys]))
        _GRIDS[(h, w)] = g
    return g


def nearest_key_order(n: int, keys: Sequence[int], frames: Sequence[int] | None,
                      focus: int | None) -> list[int]:
    wanted = list(range(n)) if frames is None else [f for f in frames if 0 <= f < n]
    if focus is not None:
        wanted.sort(key=lambda f: (abs(f - focus), f))
    return wanted


def nearest_key(t: int, keys: Sequence[int]) -> int:
    return min(keys, key=lambda k: (abs(k - t), k))


class GrayPropagator:
    """Zero chroma everywhere (except keyframes, which are returned as given)."""

    name = "gray"

    def __init__(self, device=None, **kw):
        self.device = device

    def run(self, luma: LumaFrames, keys, frames=None, should_stop: Callable[[], bool] = lambda: False,
            focus=None) -> Iterator[PropagatedFrame]:
        n = len(luma)
        for t in nearest_key_order(n, list(keys), frames, focus):
            if should_stop():
                return
            if t in keys:
                ab = np.asarray(keys[t], np.float32)
                yield PropagatedFrame(t, ab, np.ones(ab.shape[:2], np.float32))
                continue
            h, w = luma[t].shape
            yield PropagatedFrame(t, np.zeros((h, w, 2), np.float32), np.zeros((h, w), np.float32))


class CopyKeyPropagator:
    """The nearest keyframe's chroma copied to every frame."""

    name = "copy_key"

    def __init__(self, device=None, **kw):
        self.device = device

    def run(self, luma: LumaFrames, keys, frames=None, should_stop: Callable[[], bool] = lambda: False,
            focus=None) -> Iterator[PropagatedFrame]:
        if not keys:
            raise ValueError("copy_key needs at least one keyframe")
        n = len(luma)
        klist = sorted(keys)
        for t in nearest_key_order(n, klist, frames, focus):
            if should_stop():
                return
            k = nearest_key(t, klist)
            ab = np.asarray(keys[k], np.float32)
            conf = np.full(ab.shape[:2], 1.0 if t == k else 0.5, np.float32)
            yield PropagatedFrame(t, ab.copy() if t != k else ab, conf)


class DisChainPropagator:
    """OpenCV DIS (FAST preset) flow from each frame to the previous one on the luma; the
    previous output's chroma is warped along it with bilinear remap, frame after frame."""

    name = "dis_chain"

    def __init__(self, device=None, preset: int = cv2.DISOPTICAL_FLOW_PRESET_FAST, **kw):
        self.device = device
        self.preset = preset

    def _chain(self, luma, start: int, stop: int, ab0: np.ndarray, should_stop):
        """Yield (t, ab) for t from start+step to stop inclusive, chaining from start."""
        dis = cv2.DISOpticalFlow_create(self.preset)
        step = 1 if stop > start else -1
        prev_u8 = luma_u8(luma[start])
        ab = ab0
        for t in range(start + step, stop + step, step):
            if should_stop():
                return
            cur_u8 = luma_u8(luma[t])
            flow = dis.calc(cur_u8, prev_u8, None)       # current -> previous
            ab = flow_remap(ab, flow)
            prev_u8 = cur_u8
            yield t, ab

    def run(self, luma: LumaFrames, keys, frames=None, should_stop: Callable[[], bool] = lambda: False,
            focus=None) -> Iterator[PropagatedFrame]:
        if not keys:
            raise ValueError("dis_chain needs at least one keyframe")
        n = len(luma)
        klist = sorted(keys)
        wanted = set(range(n) if frames is None else frames)
        # Each frame belongs to its nearest keyframe; chain outward from each key.
        results_order = []
        for i, k in enumerate(klist):
            lo = 0 if i == 0 else (klist[i - 1] + k) // 2 + 1
            hi = n - 1 if i == len(klist) - 1 else (k + klist[i + 1]) // 2
            results_order.append((k, lo, hi))
        if focus is not None:
            results_order.sort(key=lambda r: abs(r[0] - focus))
        for k, lo, hi in results_order:
            ab_k = np.asarray(keys[k], np.float32)
            if k in wanted:
                yield PropagatedFrame(k, ab_k, np.ones(ab_k.shape[:2], np.float32))
            for direction_stop in (hi, lo):
                if direction_stop == k:
                    continue
                # Only chain as far as the last wanted frame in that direction.
                rng = range(k, direction_stop + 1) if direction_stop > k else range(direction_stop, k + 1)
                if not any(f in wanted for f in rng if f != k):
                    continue
                for t, ab in self._chain(luma, k, direction_stop, ab_k, should_stop):
                    if t in wanted:
                        conf = np.full(ab.shape[:2], 1.0 / (1.0 + 0.05 * abs(t - k)), np.float32)
                        yield PropagatedFrame(t, ab, conf)
                if should_stop():
                    return
