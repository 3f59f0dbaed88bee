"""PriorNet: a small U-Net that maps (luma, sparse hint ab, hint mask) to ab for the whole frame.

Two heads share the decoder:
- regression: ab (trained with MSE on ab, the PSNR-optimal estimate: where nothing tells the
  colour it stays near the prior's mean, often near-neutral, instead of copying the nearest
  hint);
- classification: logits over a grid of ab bins at 1/8 resolution (`N_BINS`), whose softmax gives
  the suggested colours under the cursor (`Prior.suggest`).

The network runs at a reduced working size (short side `WORK_SHORT` px); its chroma is brought
to the caller's size by models.upsample (guided by the full-size luma) and painted hint pixels
keep their colour exactly. Luma is never changed.
"""
from __future__ import annotations

import copy
import threading
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "prior.pt"
AB_SCALE = 110.0
STRIDE = 16
WORK_SHORT = 176          # working short side at inference (training crops are 128-176 px)
BIN_SIZE = 10.0
BIN_EDGE = 110.0           # bins cover a, b in [-110, 110)
N_SIDE = int(2 * BIN_EDGE / BIN_SIZE)      # 22 x 22 grid
N_BINS = N_SIDE * N_SIDE


def ab_to_bin(ab: torch.Tensor) -> torch.Tensor:
    """ab (..., 2) in Lab units -> bin index (...) of the 22x22 grid."""
    q = torch.clamp(((ab + BIN_EDGE) / BIN_SIZE).long(), 0, N_SIDE - 1)
    return q[..., 0] * N_SIDE + q[..., 1]


def bin_centres() -> np.ndarray:
    c = -BIN_EDGE + BIN_SIZE * (np.arange(N_SIDE) + 0.5)
    a, b = np.meshgrid(c, c, indexing="ij")
    return np.stack([a.ravel(), b.ravel()], 1).astype(np.float32)


def _cbr(cin, cout, stride=1, dil=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, dil, dilation=dil), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


def _fuse(cin, cout):
    """1x1 projection of the concatenated skip, then a 3x3 conv (cheap decoder levels)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 1), nn.ReLU(inplace=True), _cbr(cout, cout))


class PriorNet(nn.Module):
    def __init__(self, width: int = 32):
        super().__init__()
        c1, c2, c3, c4 = width, 2 * width, 3 * width, 5 * width
        self.e1 = nn.Sequential(_cbr(4, c1 // 2), _cbr(c1 // 2, c1, 2))            # 1/2
        self.e2 = nn.Sequential(_cbr(c1, c2, 2), _cbr(c2, c2))                      # 1/4
        self.e3 = nn.Sequential(_cbr(c2, c3, 2), _cbr(c3, c3))                      # 1/8
        self.e4 = nn.Sequential(_cbr(c3, c4, 2), _cbr(c4, c4, dil=2), _cbr(c4, c4, dil=4))  # 1/16
        self.glob = nn.Sequential(nn.Linear(c4, c4), nn.ReLU(inplace=True))
        self.d3 = _fuse(c4 + c3, c3)
        self.d2 = _fuse(c3 + c2, c2 * 3 // 4)
        self.d1 = _fuse(c2 * 3 // 4 + c1, c1)
        self.reg = nn.Conv2d(c1 + 4, 2, 3, 1, 1)     # full-resolution ab, sees the hints again
        self.cls = nn.Conv2d(c3, N_BINS, 1)          # ab-bin logits at 1/8

    def forward(self, x):
        f1 = self.e1(x)
        f2 = self.e2(f1)
        f3 = self.e3(f2)
        f4 = self.e4(f3)
        f4 = f4 + self.glob(f4.mean((2, 3)))[:, :, None, None]
        up = lambda t, ref: F.interpolate(t, size=ref.shape[2:], mode="bilinear", align_corners=False)
        g3 = self.d3(torch.cat([up(f4, f3), f3], 1))
        g2 = self.d2(torch.cat([up(g3, f2), f2], 1))
        g1 = self.d1(torch.cat([up(g2, f1), f1], 1))
        ab = self.reg(torch.cat([up(g1, x), x], 1))
        return torch.tanh(ab) * 1.2, self.cls(g3)


def make_input(L: np.ndarray, hint_ab: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """4xHxW float32 network input from L (0..100), hint ab (Lab units) and mask (0/1)."""
    m = mask.astype(np.float32)
    return np.stack([L / 50.0 - 1.0, hint_ab[..., 0] * m / AB_SCALE, hint_ab[..., 1] * m / AB_SCALE, m]
                    ).astype(np.float32)


def _fold_batch_norms(net: nn.Module) -> nn.Module:
    """An eval-mode net with every Conv2d -> BatchNorm2d pair (as _cbr builds them) made one
    Conv2d: one pass over the activations fewer per layer."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    for mod in net.modules():
        if isinstance(mod, nn.Sequential):
            for i in range(len(mod) - 1):
                if isinstance(mod[i], nn.Conv2d) and isinstance(mod[i + 1], nn.BatchNorm2d):
                    mod[i], mod[i + 1] = fuse_conv_bn_eval(mod[i], mod[i + 1]), nn.Identity()
    return net


class Prior:
    """Inference wrapper: `Prior.load()` (shipped weights, cached per process),
    `colorize(L, hint_ab, mask) -> ab` at L's size, `suggest(L, hint_ab, mask, x, y)`."""

    _cache: dict = {}
    _lock = threading.Lock()

    def __init__(self, net: PriorNet, meta: dict, device: str = "cpu"):
        # inference only: batch norms folded into their convolutions (the same outputs to 2e-6)
        # and channels-last memory, ~30-40 % faster on this CPU at the working size (batch 1)
        # (a copy: the caller's net keeps its batch norms and its training state)
        self.net = _fold_batch_norms(copy.deepcopy(net).eval()).to(device).to(memory_format=torch.channels_last)
        self.meta = meta
        self.device = device

    @classmethod
    def load(cls, path: Path | str | None = None, device: str = "cpu") -> "Prior":
        p = Path(path) if path else WEIGHTS
        key = (str(p), device)
        with cls._lock:
            if key not in cls._cache:
                if not p.exists():
                    raise FileNotFoundError(f"{p}: colour prior weights missing (train with "
                                            "`python -m models.prior.train`)")
                ck = torch.load(p, map_location="cpu", weights_only=False)
                net = PriorNet(ck.get("width", 32))
                net.load_state_dict(ck["state"])
                cls._cache[key] = cls(net, ck.get("meta", {}), device)
            return cls._cache[key]

    @staticmethod
    def work_size(h: int, w: int, short: int = WORK_SHORT) -> tuple[int, int]:
        s = min(1.0, short / min(h, w))
        hh = max(STRIDE, int(round(h * s / STRIDE)) * STRIDE)
        ww = max(STRIDE, int(round(w * s / STRIDE)) * STRIDE)
        return hh, ww

    def _forward(self, L, hint_ab, mask, short):
        H, W = L.shape
        hh, ww = self.work_size(H, W, short)
        L = np.asarray(L, np.float32)
        Ls = cv2.resize(L, (ww, hh), interpolation=cv2.INTER_AREA)
        m = np.asarray(mask, np.float32)
        hab = np.asarray(hint_ab, np.float32) * m[..., None]
        # Area-average the hint mass, then renormalise: a small dab survives the reduction.
        ms = cv2.resize(m, (ww, hh), interpolation=cv2.INTER_AREA)
        hs = cv2.resize(hab, (ww, hh), interpolation=cv2.INTER_AREA)
        sel = ms > 1e-3
        hs[sel] /= ms[sel][:, None]
        hs[~sel] = 0
        # Mostly covered cells count as hints; a thin stroke still leaves its mark.
        mk = (ms >= 0.25).astype(np.float32)
        if m.any() and not mk.any():
            mk = (ms == ms.max()).astype(np.float32) * (ms > 0)
        x = torch.from_numpy(make_input(Ls, hs, mk))[None].to(self.device).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            ab, logits = self.net(x)
        return Ls, ab[0].permute(1, 2, 0).cpu().numpy() * AB_SCALE, logits[0].cpu().numpy()

    def colorize(self, L: np.ndarray, hint_ab: np.ndarray | None = None, mask: np.ndarray | None = None,
                 short: int = WORK_SHORT) -> np.ndarray:
        """ab HxWx2 float32 for luma L (HxW, 0..100); no hints = automatic colour."""
        from models.upsample import upsample_ab
        L = np.asarray(L, np.float32)
        H, W = L.shape
        if mask is None or hint_ab is None:
            mask = np.zeros((H, W), np.float32)
            hint_ab = np.zeros((H, W, 2), np.float32)
        Ls, ab_s, _ = self._forward(L, hint_ab, mask, short)
        ab = upsample_ab(np.ascontiguousarray(ab_s, np.float32), L, L_proxy=Ls)
        sel = np.asarray(mask) > 0.5
        if sel.any():
            ab[sel] = np.asarray(hint_ab, np.float32)[sel]
        return np.ascontiguousarray(ab, np.float32)

    def distribution(self, L: np.ndarray, hint_ab=None, mask=None, short: int = WORK_SHORT) -> np.ndarray:
        """Per-bin probabilities, N_BINS x h x w at 1/8 of the working size."""
        L = np.asarray(L, np.float32)
        if mask is None or hint_ab is None:
            mask = np.zeros(L.shape, np.float32)
            hint_ab = np.zeros(L.shape + (2,), np.float32)
        _, _, logits = self._forward(L, hint_ab, mask, short)
        e = np.exp(logits - logits.max(0, keepdims=True))
        return e / e.sum(0, keepdims=True)

    def suggest(self, L: np.ndarray, x: float, y: float, hint_ab=None, mask=None, k: int = 9,
                probs: np.ndarray | None = None) -> list[tuple[tuple[int, int, int], float]]:
        """The k most likely colours at normalised point (x, y): [(sRGB, probability)], best first.
        Local maxima of the predicted ab distribution there (3x3 non-maximum suppression on the
        bin grid), each shown at the pixel's own luma."""
        from models.color import compose_rgb
        L = np.asarray(L, np.float32)
        P = probs if probs is not None else self.distribution(L, hint_ab, mask)
        _, h, w = P.shape
        px = int(np.clip(round(x * (w - 1)), 0, w - 1))
        py = int(np.clip(round(y * (h - 1)), 0, h - 1))
        p = P[:, max(0, py - 1):py + 2, max(0, px - 1):px + 2].mean((1, 2)).reshape(N_SIDE, N_SIDE)
        mx = cv2.dilate(p.astype(np.float32), np.ones((3, 3), np.uint8))
        peaks = np.argwhere((p >= mx) & (p > 1e-4))
        order = sorted(peaks.tolist(), key=lambda ij: -p[ij[0], ij[1]])
        picks = order[:k]
        if len(picks) < k:      # fill with the next most likely bins
            rest = [list(divmod(int(i), N_SIDE)) for i in np.argsort(-p.ravel())]
            picks += [ij for ij in rest if ij not in picks][:k - len(picks)]
        Hl, Wl = L.shape
        lum = float(L[int(np.clip(round(y * (Hl - 1)), 0, Hl - 1)), int(np.clip(round(x * (Wl - 1)), 0, Wl - 1))])
        c = bin_centres().reshape(N_SIDE, N_SIDE, 2)
        ab = np.ascontiguousarray(np.stack([c[i, j] for i, j in picks])[None], np.float32)   # 1 x k x 2
        rgb = compose_rgb(np.full((2, len(picks)), lum, np.float32), np.repeat(ab, 2, 0))[0]
        return [((int(q[0]), int(q[1]), int(q[2])), float(p[i, j])) for q, (i, j) in zip(rgb, picks)]
