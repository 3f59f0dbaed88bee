"""RefineNet: a small learned network that refines propagated chroma.

The refinement stage of Deep Video Color Propagation, small enough for a CPU: the classic
propagator (models.propagate.flow_prop) carries the keyframe's colour along optical flow and says per
pixel how much it trusts that (its confidence, from the key-luma residual). Flow's failures
have a shape a CNN can learn: colour bleeding across luma edges where the flow is smooth,
revealed regions filled with the wrong neighbour, saturated guesses where nothing is known
(where a less saturated guess costs less error). The net sees the current luma, the
propagated chroma and its confidence, and predicts a chroma correction. It never sees its own
earlier outputs (no recurrence), so its errors cannot compound from frame to frame; the luma
is never touched.

Shapes and units follow models.color: L float32 HxW in 0..100, ab float32 HxWx2.

Architecture (RefineUNet, 188 k parameters): a 4x4 stride-4 stem (all later work at 1/4
resolution or lower), an encoder to 1/8 and 1/16 with a dilated context block at 1/16
(receptive field of several hundred proxy pixels, enough to reach across a revealed region),
an FPN-style decoder back to 1/4, and a 1x1 head that emits, for every pixel of a 4x4 block,
an ab correction plus a gate in [0, 1] that says how much of it to apply. The head starts at
zero, so an untrained net returns its input unchanged.

Usage
    net = RefineNet.load()                     # shipped weights, device from pick_device
    ab2 = net.refine(L, ab, conf)
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from models.hinting.hintnet import count_parameters  # noqa: F401  (one helper for both nets)

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "refinenet.pt"
AB_SCALE = 100.0          # ab / AB_SCALE is what the network sees and predicts
STRIDE = 16               # input sizes are padded to a multiple of this
IN_CHANNELS = 4           # L, a, b, confidence


def _conv(cin: int, cout: int, stride: int = 1, dil: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dil, dilation=dil),
                         nn.LeakyReLU(0.1, inplace=True))


class RefineUNet(nn.Module):
    def __init__(self, widths: tuple[int, int, int] = (24, 40, 64)):
        super().__init__()
        c1, c2, c3 = widths
        self.widths = tuple(widths)
        # 4x4 stride-4 stem (pixel-unshuffle + conv in one): every later layer runs at 1/4
        # resolution or lower, which is what a 2-core CPU affords at 854x480.
        self.stem = nn.Sequential(nn.Conv2d(IN_CHANNELS, c1, 4, 4), nn.LeakyReLU(0.1, inplace=True))
        self.e1 = _conv(c1, c1)                                         # 1/4
        self.d2 = _conv(c1, c2, stride=2)                               # 1/8
        self.e2 = _conv(c2, c2)
        self.d3 = _conv(c2, c3, stride=2)                               # 1/16
        self.ctx = nn.Sequential(_conv(c3, c3, dil=2), _conv(c3, c3, dil=4), _conv(c3, c3, dil=8))
        self.lat2 = nn.Conv2d(c3, c2, 1)
        self.u2 = _conv(c2, c2)
        self.lat1 = nn.Conv2d(c2, c1, 1)
        self.u1 = _conv(c1, c1)
        # (da, db, gate) for each pixel of a 4x4 block, from the 1/4-resolution features
        self.head = nn.Conv2d(c1, 3 * 16, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: N x 4 x H x W (H, W multiples of STRIDE) -> refined ab/AB_SCALE, N x 2 x H x W."""
        s1 = self.e1(self.stem(x))
        s2 = self.e2(self.d2(s1))
        s3 = self.ctx(self.d3(s2))
        y = self.u2(s2 + F.interpolate(self.lat2(s3), size=s2.shape[-2:], mode="bilinear",
                                       align_corners=False))
        y = self.u1(s1 + F.interpolate(self.lat1(y), size=s1.shape[-2:], mode="bilinear",
                                       align_corners=False))
        o = F.pixel_shuffle(self.head(y), 4)
        delta, gate = o[:, :2], torch.sigmoid(o[:, 2:3] + 2.0)          # gate starts near 0.88
        return x[:, 1:3] + gate * delta


def _cpu_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:
        return False


def make_input(L: np.ndarray, ab: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """4 x H x W float32 network input (L centred, ab scaled, confidence as is)."""
    L = np.asarray(L, np.float32)
    ab = np.asarray(ab, np.float32)
    x = np.empty((4,) + L.shape, np.float32)
    np.multiply(L, np.float32(1 / 50.0), out=x[0])
    x[0] -= np.float32(1.0)
    np.multiply(ab[..., 0], np.float32(1 / AB_SCALE), out=x[1])
    np.multiply(ab[..., 1], np.float32(1 / AB_SCALE), out=x[2])
    x[3] = conf
    return x


class RefineNet:
    """Inference wrapper: padding, device, inference mode."""

    def __init__(self, net: RefineUNet, device: torch.device | str | None = None, meta: dict | None = None,
                 precision: str = "auto"):
        from models.device import pick_device
        self.device = device if isinstance(device, torch.device) else pick_device(device or "auto")
        # bf16 on CPUs with native bf16 (oneDNN): 17 -> 12 ms a frame at 854x480 here, output
        # within 0.01 ab units of fp32 (measured on random inputs and the benchmark clips).
        self.scale = 1.0
        self.bf16 = precision == "bf16" or (precision == "auto" and self.device.type == "cpu"
                                            and _cpu_bf16())
        # channels_last: about twice as fast as NCHW for these convolutions on a CPU
        self.net = net.to(self.device).to(memory_format=torch.channels_last).eval()
        self.meta = meta or {}

    @classmethod
    def load(cls, path: Path | str = WEIGHTS, device=None, precision: str = "auto") -> "RefineNet":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"RefineNet weights not found: {path} "
                                    "(retrain with: python -m models.propagate.train_refinenet)")
        try:
            ck = torch.load(path, map_location="cpu", weights_only=True)
            net = RefineUNet(tuple(ck.get("widths", (24, 40, 64))))
            net.load_state_dict(ck["state_dict"])
        except Exception as e:          # a truncated or foreign file: say which and why
            raise ValueError(f"cannot load RefineNet weights from {path}: {e}") from e
        return cls(net, device, {k: v for k, v in ck.items() if k != "state_dict"}, precision)

    def refine(self, L: np.ndarray, ab: np.ndarray, conf: np.ndarray) -> np.ndarray:
        """Refined chroma (HxWx2 float32). With `scale` < 1 the net runs on a downscaled copy
        and only its correction is upsampled and added (cheaper, coarser)."""
        if self.scale >= 1.0:
            return self._refine(L, ab, conf)
        H, W = np.asarray(L).shape[:2]
        size = (max(16, int(round(W * self.scale))), max(16, int(round(H * self.scale))))
        small = [cv2.resize(np.ascontiguousarray(a, np.float32), size, interpolation=cv2.INTER_AREA)
                 for a in (L, ab, conf)]
        d = cv2.subtract(self._refine(*small), small[1])
        return cv2.add(np.ascontiguousarray(ab, np.float32), cv2.resize(d, (W, H), interpolation=cv2.INTER_LINEAR))

    @torch.inference_mode()
    def _refine(self, L: np.ndarray, ab: np.ndarray, conf: np.ndarray) -> np.ndarray:
        H, W = np.asarray(L).shape[:2]
        x = torch.from_numpy(make_input(L, ab, conf))[None].to(self.device)
        x = x.contiguous(memory_format=torch.channels_last)
        ph, pw = (-H) % STRIDE, (-W) % STRIDE
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        if self.bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                y = self.net(x)[0, :, :H, :W]
        else:
            y = self.net(x)[0, :, :H, :W]
        out = (y * AB_SCALE).permute(1, 2, 0).float().cpu().numpy()
        return np.ascontiguousarray(out, np.float32)
