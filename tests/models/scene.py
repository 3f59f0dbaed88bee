"""Generated moving scene for propagation tests: a textured, coloured disc moving over a
textured coloured background while the camera pans. Pure numpy/cv2, deterministic."""
from __future__ import annotations

import cv2
import numpy as np

from models.color import rgb_to_lab


def _texture(rng, h, w, blur):
    t = rng.random((h, w, 3)).astype(np.float32)
    t = cv2.GaussianBlur(t, (0, 0), blur)
    t = (t - t.min()) / (t.max() - t.min() + 1e-6)
    return t


def moving_scene(n: int = 16, h: int = 96, w: int = 128, seed: int = 0, pan: float = 1.5,
                 speed: tuple[float, float] = (2.5, 1.0)):
    """Returns (rgb list uint8, L list float32, ab list float32)."""
    rng = np.random.default_rng(seed)
    W = w + int(abs(pan) * n) + 8
    # Background: smooth colour regions plus fine luma texture.
    col = _texture(rng, h, W, 6.0)
    fine = _texture(rng, h, W, 1.0)[..., :1]
    bg = np.clip(0.15 + 0.7 * col * (0.6 + 0.4 * fine), 0, 1)
    # Object: saturated red/blue stripes, textured.
    oy, ox = np.mgrid[0:h, 0:w]
    frames = []
    for t in range(n):
        x0 = int(round(t * pan))
        img = bg[:, x0:x0 + w].copy()
        cx, cy = 30 + speed[0] * t, 40 + speed[1] * t
        d = np.sqrt((ox - cx) ** 2 + (oy - cy) ** 2)
        inside = d < 16
        stripes = ((ox - cx) // 4 % 2).astype(np.float32)
        obj = np.stack([0.85 - 0.3 * stripes, 0.15 + 0.1 * stripes, 0.2 + 0.5 * stripes], -1)
        img[inside] = obj[inside]
        frames.append(np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8))
    labs = [rgb_to_lab(f) for f in frames]
    L = [np.ascontiguousarray(x[..., 0]) for x in labs]
    AB = [np.ascontiguousarray(x[..., 1:]) for x in labs]
    return frames, L, AB


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    d = a.astype(np.float32) - b.astype(np.float32)
    return float(10 * np.log10(255.0 ** 2 / max(np.mean(d * d), 1e-10)))


def reveal_scene(n: int = 14, h: int = 96, w: int = 128, speed: float = 4.0, seed: int = 1):
    """A saturated red disc moving right over a static, textured green/blue background:
    background that the disc covered in frame 0 is revealed in later frames.
    Returns (rgb list, L list, ab list, revealed masks list: covered at 0, background at t)."""
    rng = np.random.default_rng(seed)
    col = _texture(rng, h, w, 8.0)
    fine = _texture(rng, h, w, 1.0)[..., :1]
    bg = np.empty((h, w, 3), np.float32)
    bg[..., 0] = 0.15 + 0.1 * col[..., 0]
    bg[..., 1] = 0.45 + 0.25 * col[..., 1]
    bg[..., 2] = 0.35 + 0.3 * col[..., 2]
    bg = np.clip(bg * (0.75 + 0.5 * fine), 0, 1)
    oy, ox = np.mgrid[0:h, 0:w]
    frames, masks = [], []
    for t in range(n):
        cx, cy = 28 + speed * t, h / 2
        inside = (ox - cx) ** 2 + (oy - cy) ** 2 < 18 ** 2
        img = bg.copy()
        img[inside] = (0.6, 0.05, 0.06)        # dark red: its luma differs from the background
        frames.append(np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8))
        masks.append(inside)
    revealed = [masks[0] & ~m for m in masks]
    labs = [rgb_to_lab(f) for f in frames]
    L = [np.ascontiguousarray(x[..., 0]) for x in labs]
    AB = [np.ascontiguousarray(x[..., 1:]) for x in labs]
    return frames, L, AB, revealed
