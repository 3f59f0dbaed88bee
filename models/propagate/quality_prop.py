"""The "match" propagator: the "flow" propagator plus a hand-made global matching branch.

Flow (models.propagate.flow_prop, used only through the Propagator interface) carries colour well where
every pixel can be followed back to a keyframe. It cannot carry colour into regions hidden at
the keyframe and revealed later, to objects that leave and come back, or past long drift; there
its confidence drops. For those pixels this branch looks the colour up by appearance instead of
by position, as in Deep Video Color Propagation's global branch and ColorMNet's memory:

  1. Features at 1/4 resolution, hand-made: a 5x5 patch of luma at 1/4 resolution plus a 3x3
     patch at 1/8 resolution (context), in luma units, so a squared feature distance is a patch
     SSD directly comparable with flow's own patch residual.
  2. Memory bank: every keyframe's features and chroma (at 1/4 resolution, on a stride-2 grid),
     plus a few frames already propagated with high confidence (their confident pixels only).
  3. For the low-confidence pixels of frame t (queries), batched matmul against the bank
     (torch, inference_mode, device from models.device.pick_device), soft attention over the
     top-k matches gives a global chroma and its match residual.
  4. Fusion per pixel by inverse squared residuals (flow's residual recovered from its
     confidence, the match's from its SSD); the chroma correction is computed at 1/4
     resolution, smoothed and upsampled, and added to the flow chroma.
Keyframes are yielded exactly (flow does that and this branch leaves them alone).
"""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import cv2
import numpy as np
import torch

from models.base import LumaFrames, PropagatedFrame


def _area(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (img.shape[1], img.shape[0]) == size:
        return img
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


class _Features:
    """Hand-made per-pixel features at the work resolution (see module doc)."""

    def __init__(self, size: tuple[int, int], patch: int = 5, ctx_patch: int = 3, ctx_weight: float = 1.0):
        self.size = size
        self.patch = patch
        self.ctx_patch = ctx_patch
        self.ctx_weight = ctx_weight
        w, h = size
        self.ctx_size = (max(4, w // 2), max(4, h // 2))

    @staticmethod
    def _patches(img: np.ndarray, k: int) -> np.ndarray:
        """HxW -> HxWx(k*k) neighbourhood stack (replicated border)."""
        r = k // 2
        p = cv2.copyMakeBorder(img, r, r, r, r, cv2.BORDER_REPLICATE)
        h, w = img.shape
        return np.stack([p[dy:dy + h, dx:dx + w] for dy in range(k) for dx in range(k)], -1)

    def __call__(self, L: np.ndarray) -> np.ndarray:
        """L float 0..100 at proxy size -> HxWxD float32 at work size (luma units x2.55)."""
        u = _area(np.asarray(L, np.float32), self.size) * np.float32(2.55)
        f1 = self._patches(u, self.patch)
        c = _area(u, self.ctx_size)
        f2 = self._patches(c, self.ctx_patch)
        f2 = cv2.resize(f2, self.size, interpolation=cv2.INTER_LINEAR) if f2.shape[2] <= 512 else f2
        if f2.ndim == 2:
            f2 = f2[..., None]
        # Per-element scale so each group contributes like one patch of its own size.
        s2 = np.float32(self.ctx_weight * np.sqrt(self.patch ** 2 / self.ctx_patch ** 2))
        return np.ascontiguousarray(np.concatenate([f1, f2 * s2], -1), np.float32)


class QualityPropagator:
    name = "match"

    def __init__(self, device=None, work_scale: float = 0.25, query_conf: float = 0.4,
                 key_stride: int = 2, topk: int = 8, tau: float = 0.5, match_scale: float = 4.0,
                 flow_eps: float = 1.0, max_queries: int = 3000, max_entries: int = 20_000_000, memory_every: int = 10,
                 memory_conf: float = 0.85, memory_frames: int = 0, memory_stride: int = 2,
                 smooth: int = 3, chunk: int = 256, cpu_threads: int = 1, flow_kw: dict | None = None, **kw):
        from models.device import pick_device
        self.device = pick_device(device if device is not None else "auto")
        self.work_scale = work_scale
        self.query_conf = query_conf
        self.key_stride = key_stride
        self.topk = topk
        self.tau = tau
        self.match_scale = match_scale
        self.flow_eps = flow_eps
        self.max_queries = max_queries
        self.max_entries = max_entries
        self.memory_every = memory_every
        self.memory_conf = memory_conf
        self.memory_frames = memory_frames
        self.memory_stride = memory_stride
        self.smooth = smooth
        self.chunk = chunk
        self.cpu_threads = cpu_threads
        self.flow_kw = dict(flow_kw or {})

    # ------------------------------------------------------------------ bank
    def _setup(self, shape: tuple[int, int]):
        H, W = shape
        self.H, self.W = H, W
        self.wsize = (max(8, int(round(W * self.work_scale))), max(8, int(round(H * self.work_scale))))
        self.feat = _Features(self.wsize)
        self.bank_keys: list[tuple[torch.Tensor, torch.Tensor]] = []   # (feats NxD, ab Nx2)
        self.bank_mem: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._bank = None

    def _add(self, L: np.ndarray, ab: np.ndarray, mask: np.ndarray | None, stride: int, memory: bool):
        f = self.feat(L)
        a = _area(np.asarray(ab, np.float32), self.wsize)
        f = f[::stride, ::stride].reshape(-1, f.shape[2])
        a = a[::stride, ::stride].reshape(-1, 2)
        if mask is not None:
            m = mask[::stride, ::stride].reshape(-1)
            f, a = f[m], a[m]
        if len(f) == 0:
            return
        ft = torch.from_numpy(np.ascontiguousarray(f)).to(self.device)
        at = torch.from_numpy(np.ascontiguousarray(a)).to(self.device)
        if memory:
            self.bank_mem.append((ft, at))
            if len(self.bank_mem) > self.memory_frames:
                self.bank_mem.pop(0)
        else:
            self.bank_keys.append((ft, at))
        self._bank = None

    def _get_bank(self):
        if self._bank is None:
            parts = self.bank_keys + self.bank_mem
            F = torch.cat([p[0] for p in parts])
            A = torch.cat([p[1] for p in parts])
            # [-2k, |k|^2] so one plain matmul with [q, 1] gives |k|^2 - 2 q.k
            B = torch.cat([-2.0 * F, (F * F).sum(1, keepdim=True)], 1).t().contiguous()
            self._bank = (B, A)
        return self._bank

    # ------------------------------------------------------------------ global branch
    def _refine(self, L: np.ndarray, ab: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # The matching blocks are small: on the CPU one torch thread is faster than a pool that
        # contends with OpenCV's threads (measured here: softmax of 256x8 took ms with 2 threads).
        if self.device.type != "cpu" or not self.cpu_threads:
            return self._refine_impl(L, ab, conf)
        prev = torch.get_num_threads()
        torch.set_num_threads(self.cpu_threads)
        try:
            return self._refine_impl(L, ab, conf)
        finally:
            torch.set_num_threads(prev)

    def _refine_impl(self, L: np.ndarray, ab: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ws = self.wsize
        conf_w = _area(np.asarray(conf, np.float32), ws)
        q = conf_w < self.query_conf
        nq = int(q.sum())
        if nq == 0:
            return ab, conf
        f = self.feat(L)
        ab_w = _area(np.asarray(ab, np.float32), ws)
        idx = np.flatnonzero(q.reshape(-1))
        B, A = self._get_bank()
        cap = max(64, min(self.max_queries, self.max_entries // B.shape[1]))
        if nq > cap:        # keep the least confident
            order = np.argsort(conf_w.reshape(-1)[idx], kind="stable")[:cap]
            idx = np.sort(idx[order])
            nq = len(idx)
        fq = f.reshape(-1, f.shape[2])[idx]
        D = fq.shape[1]
        Fq = torch.from_numpy(np.ascontiguousarray(np.concatenate([fq, np.ones((len(fq), 1), np.float32)], 1)))
        Fq = Fq.to(self.device)
        # Squared distance up to the query's own norm: |k|^2 - 2 q.k
        k = min(self.topk, B.shape[1])
        gabs, errs = [], []
        for c0 in range(0, nq, self.chunk):        # chunks keep the similarity block in cache
            Fc = Fq[c0:c0 + self.chunk]
            sim = Fc @ B
            vals, ids = torch.topk(sim, k, dim=1, largest=False, sorted=True)
            ssd = (vals + (Fc[:, :D] * Fc[:, :D]).sum(1, keepdim=True)).clamp_min(0) / D   # mean sq. luma diff
            w = torch.softmax(-(ssd - ssd[:, :1]) / (self.tau * (ssd[:, :1] + 1.0)), dim=1)
            gabs.append((w[..., None] * A[ids]).sum(1))
            errs.append((ssd * w).sum(1).sqrt())                  # RMS patch residual
        gab = torch.cat(gabs)
        err_g = torch.cat(errs)
        gab = gab.cpu().numpy()
        err_g = err_g.cpu().numpy() * np.float32(self.match_scale)
        # Flow's own residual from its confidence: conf = 1 / (1 + err / 4).
        cq = np.clip(conf_w.reshape(-1)[idx], 1e-3, 1.0)
        err_f = 4.0 * (1.0 / cq - 1.0)
        wf = 1.0 / (err_f * err_f + self.flow_eps)
        wg = 1.0 / (err_g * err_g + self.flow_eps)
        a = (wg / (wg + wf)).astype(np.float32)
        delta = np.zeros((ws[1] * ws[0], 2), np.float32)
        delta[idx] = a[:, None] * (gab - ab_w.reshape(-1, 2)[idx])
        delta = delta.reshape(ws[1], ws[0], 2)
        if self.smooth > 1:
            delta = cv2.blur(delta, (self.smooth, self.smooth))
        up = cv2.resize(delta, (self.W, self.H), interpolation=cv2.INTER_LINEAR)
        out = cv2.add(np.asarray(ab, np.float32), up)
        cg = np.zeros(ws[1] * ws[0], np.float32)
        cg[idx] = a * (1.0 / (1.0 + err_g / 4.0))
        cg = cv2.resize(cg.reshape(ws[1], ws[0]), (self.W, self.H), interpolation=cv2.INTER_LINEAR)
        conf_out = np.maximum(np.asarray(conf, np.float32), cg)
        return out, conf_out

    def _maybe_remember(self, t: int, L: np.ndarray, ab: np.ndarray, conf: np.ndarray, count: int):
        if self.memory_every <= 0 or self.memory_frames <= 0 or count % self.memory_every:
            return
        m = _area(np.asarray(conf, np.float32), self.wsize) >= self.memory_conf
        if m.mean() < 0.05:
            return
        self._add(L, ab, m, self.memory_stride, memory=True)

    # ------------------------------------------------------------------ run
    def run(self, luma: LumaFrames, keys: dict[int, np.ndarray], frames: Sequence[int] | None = None,
            should_stop: Callable[[], bool] = lambda: False, focus: int | None = None
            ) -> Iterator[PropagatedFrame]:
        from models.registry import get_propagator
        n = len(luma)
        klist = sorted(k for k in keys if 0 <= k < n)
        if not klist:
            raise ValueError("quality propagation needs a keyframe inside the shot")
        flow = get_propagator("flow", **self.flow_kw)
        self._setup(np.asarray(luma[klist[0]]).shape)
        with torch.inference_mode():
            for k in klist:
                self._add(np.asarray(luma[k], np.float32), keys[k], None, self.key_stride, memory=False)
            count = 0
            for fr in flow.run(luma, keys, frames=frames, should_stop=should_stop, focus=focus):
                if fr.index in keys:
                    yield fr
                    continue
                L = np.asarray(luma[fr.index], np.float32)
                ab, conf = self._refine(L, fr.ab, fr.confidence)
                count += 1
                self._maybe_remember(fr.index, L, ab, conf, count)
                yield PropagatedFrame(fr.index, np.ascontiguousarray(ab, np.float32),
                                      np.clip(conf, 0, 1).astype(np.float32))
                if should_stop():
                    return
