"""HintNet: a small learned network that colorizes a keyframe from sparse user hints.

In the spirit of Zhang et al. 2017 (real-time user-guided colorization): the input is the
luma L plus sparse hints (ab values and a mask channel); the output is ab for the whole
frame. Unlike Zhang's network it does not start from nothing: it also receives a classic
edge-aware spread of the same hints (and that spread's confidence) and predicts a
*correction* to it, so it only has to learn where the classic spread bleeds across edges and
what chroma the luma suggests far from any hint.

Shapes and units follow models.color: L float32 HxW in 0..100, ab float32 HxWx2 (OpenCV
Lab a, b), hint mask float32 HxW in [0, 1].

Architecture (HintUNet, ~0.65 M parameters): a 4x4 stride-4 stem (pixel-unshuffle + 1x1 conv
in one; all convolutions run at 1/4 resolution or lower, which keeps 854x480 interactive on a
CPU), a 4-level encoder (24/48/80/128 channels, down to 1/32), a dilated bottleneck, an FPN-style decoder (upsample,
add the skip, 3x3 conv) and a 4x pixel-shuffle head that emits a full-resolution ab
correction. The last layer starts at zero, so an untrained net returns the classic spread.

Usage
    net = HintNet.load()                       # shipped weights, device from pick_device
    ab = net.colorize(L, hint_ab, hint_mask)   # base spread computed here (fgs_spread)
    ab = net.colorize(L, hint_ab, hint_mask, base_ab, base_conf)   # or pass your own

The network was trained with `fgs_spread` as its base; a different base passed as `base_ab`
works only as far as it resembles that one (see models/weights/hintnet.md).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "hintnet.pt"
AB_SCALE = 100.0          # ab / AB_SCALE is what the network sees and predicts
STRIDE = 32               # input sizes are padded to a multiple of this
IN_CHANNELS = 7           # L, hint a, hint b, mask, base a, base b, base confidence

# Classic base spread (normalised fast global smoother); the net was trained on it.
FGS_LAMBDA = 5000.0
FGS_SIGMA = 4.0


# ----------------------------------------------------------------------------- classic base
def fgs_spread(L: np.ndarray, hint_ab: np.ndarray, hint_mask: np.ndarray,
               lam: float = FGS_LAMBDA, sigma: float = FGS_SIGMA) -> tuple[np.ndarray, np.ndarray]:
    """Edge-aware spread of sparse hints: normalised convolution with OpenCV's fast global
    smoother guided by the luma. Returns (ab HxWx2 float32, confidence HxW float32 in [0, 1]).

    With no hint at all it returns zero chroma and zero confidence.
    """
    h, w = L.shape
    mask = np.ascontiguousarray(hint_mask, np.float32)
    if not np.any(mask > 0):
        return np.zeros((h, w, 2), np.float32), np.zeros((h, w), np.float32)
    guide = cv2.convertScaleAbs(np.ascontiguousarray(L, np.float32), alpha=2.55)
    stack = np.empty((h, w, 3), np.float32)
    stack[..., 0] = hint_ab[..., 0] * mask
    stack[..., 1] = hint_ab[..., 1] * mask
    stack[..., 2] = mask
    out = cv2.ximgproc.fastGlobalSmootherFilter(guide, stack, lam, sigma)
    den = np.maximum(out[..., 2], 1e-8)
    ab = out[..., :2] / den[..., None]
    # Keep the result inside the hints' own range (the division can overshoot where den is tiny).
    sel = mask > 0
    lo = hint_ab[sel].min(axis=0)
    hi = hint_ab[sel].max(axis=0)
    ab = np.clip(ab, lo, hi).astype(np.float32)
    # Confidence: log-density of the smoothed mask, 1 on hints, ~0 a long way from any.
    conf = np.clip(1.0 + np.log10(den) / 5.0, 0.0, 1.0).astype(np.float32)
    conf[sel] = 1.0
    return ab, conf


def rasterize_strokes(strokes: Iterable, height: int, width: int,
                      frame: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Minimal rasteriser of models.base.HintStroke objects -> (hint_ab HxWx2, mask HxW).

    Strokes are drawn in order (later strokes win); `erase` strokes clear hints. Points are
    normalised (x, y); the radius is a fraction of the frame height. If `frame` is given,
    only strokes on that frame are drawn. models.hinting.hints has the project's own rasteriser;
    this one exists so the network can be used and tested on its own.
    """
    from models.color import srgb_to_ab
    hint = np.zeros((height, width, 2), np.float32)
    mask = np.zeros((height, width), np.uint8)
    for s in strokes:
        if frame is not None and s.frame != frame:
            continue
        r = max(1, int(round(s.radius * height)))
        pts = [(int(round(x * (width - 1))), int(round(y * (height - 1)))) for x, y in s.points]
        if not pts:
            continue
        m = np.zeros((height, width), np.uint8)
        if len(pts) == 1:
            cv2.circle(m, pts[0], r, 1, -1, lineType=cv2.LINE_8)
        else:
            cv2.polylines(m, [np.array(pts, np.int32)], False, 1, thickness=2 * r + 1,
                          lineType=cv2.LINE_8)
            for p in pts:
                cv2.circle(m, p, r, 1, -1)
        sel = m > 0
        if s.erase:
            mask[sel] = 0
            hint[sel] = 0
        else:
            a, b = srgb_to_ab(tuple(s.color))
            hint[sel] = (a, b)
            mask[sel] = 1
    return hint, mask.astype(np.float32)


# ----------------------------------------------------------------------------- network
def _conv(cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    pad = dilation * (k // 2)
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation),
                         nn.LeakyReLU(0.1, inplace=True))


class HintUNet(nn.Module):
    """Compact U-Net working at 1/4 resolution and below (see the module docstring)."""

    def __init__(self, widths: tuple[int, int, int, int] = (24, 48, 80, 128), unshuffle: int = 4):
        super().__init__()
        c1, c2, c3, c4 = widths
        self.widths = tuple(widths)
        self.unshuffle = unshuffle
        u2 = unshuffle * unshuffle
        # A k=s=4 convolution is pixel-unshuffle + 1x1 conv in one (and much faster on CPU).
        self.stem = nn.Sequential(
            nn.Conv2d(IN_CHANNELS, c1, unshuffle, stride=unshuffle), nn.LeakyReLU(0.1, inplace=True),
            _conv(c1, c1))
        self.enc2 = nn.Sequential(_conv(c1, c2, stride=2), _conv(c2, c2))
        self.enc3 = nn.Sequential(_conv(c2, c3, stride=2), _conv(c3, c3))
        self.enc4 = nn.Sequential(_conv(c3, c4, stride=2), _conv(c4, c4, dilation=2),
                                  _conv(c4, c4, dilation=4))
        self.lat4 = nn.Conv2d(c4, c3, 1)
        self.dec3 = _conv(c3, c3)
        self.lat3 = nn.Conv2d(c3, c2, 1)
        self.dec2 = _conv(c2, c2)
        self.lat2 = nn.Conv2d(c2, c1, 1)
        self.dec1 = _conv(c1, c1)
        self.head = nn.Conv2d(c1, 2 * u2, 1)
        self.up = nn.PixelShuffle(unshuffle)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: N x 7 x H x W (H, W multiples of STRIDE) -> ab/AB_SCALE, N x 2 x H x W."""
        base = x[:, 4:6]
        e1 = self.stem(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        e4 = self.enc4(e3)
        d = self.lat4(e4)
        d = self.dec3(F.interpolate(d, size=e3.shape[-2:], mode="bilinear", align_corners=False) + e3)
        d = self.lat3(d)
        d = self.dec2(F.interpolate(d, size=e2.shape[-2:], mode="bilinear", align_corners=False) + e2)
        d = self.lat2(d)
        d = self.dec1(F.interpolate(d, size=e1.shape[-2:], mode="bilinear", align_corners=False) + e1)
        return base + self.up(self.head(d))


def make_input(L: np.ndarray, hint_ab: np.ndarray, hint_mask: np.ndarray,
               base_ab: np.ndarray, base_conf: np.ndarray) -> np.ndarray:
    """Stack the network input (7 x H x W float32) from numpy planes."""
    h, w = L.shape
    x = np.empty((IN_CHANNELS, h, w), np.float32)
    m = hint_mask.astype(np.float32)
    x[0] = L * (1.0 / 50.0) - 1.0
    x[1] = hint_ab[..., 0] * m * (1.0 / AB_SCALE)
    x[2] = hint_ab[..., 1] * m * (1.0 / AB_SCALE)
    x[3] = m
    x[4] = base_ab[..., 0] * (1.0 / AB_SCALE)
    x[5] = base_ab[..., 1] * (1.0 / AB_SCALE)
    x[6] = base_conf
    return x


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------- inference
class HintNet:
    """Inference wrapper: `HintNet.load()`, then `colorize(L, hint_ab, hint_mask)`."""

    def __init__(self, model: HintUNet, device: torch.device, meta: dict | None = None):
        self.model = model.to(device).eval()
        self.device = device
        self.meta = meta or {}

    @classmethod
    def load(cls, path: str | Path | None = None, device=None) -> "HintNet":
        """Load weights (default: the shipped models/weights/hintnet.pt) onto `device`
        ("auto"/None: CUDA, then MPS, else CPU via models.device.pick_device; an explicit
        device that is not available raises DeviceUnavailable)."""
        try:
            from models.device import pick_device
            dev = pick_device(device if device is not None else "auto")
        except ImportError:            # pragma: no cover - device.py is part of the package
            dev = torch.device(device or "cpu")
        ckpt = torch.load(Path(path) if path else WEIGHTS, map_location="cpu", weights_only=True)
        cfg = ckpt.get("config", {})
        model = HintUNet(widths=tuple(cfg.get("widths", (24, 48, 80, 128))),
                         unshuffle=int(cfg.get("unshuffle", 4)))
        model.load_state_dict({k: v.float() for k, v in ckpt["state_dict"].items()})
        return cls(model, dev, ckpt.get("meta"))

    def colorize(self, L: np.ndarray, hint_ab: np.ndarray, hint_mask: np.ndarray,
                 base_ab: np.ndarray | None = None, base_conf: np.ndarray | None = None) -> np.ndarray:
        """ab (HxWx2 float32) for the whole frame from luma and sparse hints, at any size.

        base_ab/base_conf: a classic spread of the same hints; computed when not given with
        the spreader the weights were trained on (meta["base"]: fgs_spread, or
        models.hinting.hints.spread for weights trained with --base hints) (base_conf defaults to 1 on hints and 0.5 elsewhere when only base_ab is).
        With no hint at all the result is the net's chroma-from-luma guess (weak; near grey).
        """
        L = np.asarray(L, np.float32)
        h, w = L.shape
        hint_ab = np.asarray(hint_ab, np.float32)
        hint_mask = np.asarray(hint_mask, np.float32)
        if base_ab is None:
            if self.meta.get("base") == "hints":      # weights trained on models.hinting.hints.spread
                from models.hinting.hints import spread
                base_ab, conf = spread(L, hint_ab, hint_mask)
            else:
                base_ab, conf = fgs_spread(L, hint_ab, hint_mask)
            if base_conf is None:
                base_conf = conf
        elif base_conf is None:
            base_conf = np.where(hint_mask > 0, 1.0, 0.5).astype(np.float32)
        x = make_input(L, hint_ab, hint_mask, np.asarray(base_ab, np.float32),
                       np.asarray(base_conf, np.float32))
        ph = (-h) % STRIDE
        pw = (-w) % STRIDE
        with torch.inference_mode():
            t = torch.from_numpy(x)[None].to(self.device)
            if ph or pw:
                t = F.pad(t, (0, pw, 0, ph), mode="replicate")
            y = self.model(t)[0, :, :h, :w]
            ab = (y * AB_SCALE).permute(1, 2, 0).float().cpu().numpy()
        return np.ascontiguousarray(ab, np.float32)
