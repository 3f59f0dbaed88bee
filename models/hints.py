"""Keyframe colorization from hint strokes.

`colorize(L, strokes, base_ab=None) -> (ab, confidence)`:
  1. rasterise the strokes (normalised coordinates, radius as a fraction of the frame height,
     sRGB colour; erase strokes remove earlier paint) into a hint chroma plane and a mask;
  2. spread the hint colours edge-aware, guided by the luma: normalised fast global smoothing
     (cv2.ximgproc FGS, a weighted-least-squares solver) of [ab * mask, mask], divided through,
     computed at reduced resolution and brought back with models.upsample;
  3. where the spread is weak (far from any hint, across strong luma edges) the base chroma is
     kept: `base_ab` (e.g. the propagated chroma of that frame) or grey when None.
     (`spread()` without a base fills the whole frame from the hints, as the benchmark's hint
     protocol wants.)
Without a base the painted pixels keep exactly their hint colour. Over a base (a correction)
the spreading is local: a stroke's influence falls off with distance and stops at luma edges,
the base stays elsewhere, and the stroke is blended smoothly (its outline does not show).
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from .base import HintStroke
from .color import srgb_to_ab
from .upsample import upsample_ab


def rasterize(shape: tuple[int, int], strokes: Sequence[HintStroke]) -> tuple[np.ndarray, np.ndarray]:
    """(hint_ab HxWx2 float32, mask HxW float32 in {0,1}) from strokes, painted in order."""
    h, w = shape
    a = np.zeros((h, w), np.float32)
    b = np.zeros((h, w), np.float32)
    m = np.zeros((h, w), np.uint8)
    for s in strokes:
        if not s.points:
            continue
        r = max(0, int(round(s.radius * h)))
        pts = [(int(round(x * (w - 1))), int(round(y * (h - 1)))) for x, y in s.points]
        stamp = np.zeros((h, w), np.uint8)
        if len(pts) == 1:
            cv2.circle(stamp, pts[0], r, 1, -1, lineType=cv2.LINE_8)
        else:
            cv2.polylines(stamp, [np.array(pts, np.int32)], False, 1, thickness=max(1, 2 * r + 1),
                          lineType=cv2.LINE_8)
            for p in (pts[0], pts[-1]):
                cv2.circle(stamp, p, r, 1, -1, lineType=cv2.LINE_8)
        sel = stamp.astype(bool)
        if s.erase:
            m[sel] = 0
            continue
        ca, cb = srgb_to_ab(tuple(int(c) for c in s.color))
        a[sel] = ca
        b[sel] = cb
        m[sel] = 1
    mask = m.astype(np.float32)
    return cv2.merge([cv2.multiply(a, mask), cv2.multiply(b, mask)]), mask


def spread(L: np.ndarray, hint_ab: np.ndarray, mask: np.ndarray, lam: float | None = None,
           sigma: float = 12.0, work_height: int = 240, lam_scale: float = 6000.0, base_ab: np.ndarray | None = None,
           local: bool | None = None, reach: float = 3.0, local_sigma: float = 6.0,
           nonlocal_mix: float = 0.75) -> tuple[np.ndarray, np.ndarray]:
    """Edge-aware spreading of sparse chroma hints over the luma L (float 0..100).

    Global mode (default without a base): the hints fill the frame (smoothness scaled by the
    hint spacing) and painted pixels keep their colour exactly.
    Local mode (`local=True`, the default when a base is given): a correction. Each stroke's
    influence falls off with distance (about `reach` stroke radii to half strength, at the
    working resolution) and at luma edges (`local_sigma`); the base is kept elsewhere, and the
    strokes themselves are blended like their surroundings (no flat patch with the stroke's
    outline). Returns (ab HxWx2 float32, confidence HxW float32 in [0, 1])."""
    if local is None:
        local = base_ab is not None
    L = np.asarray(L, np.float32)
    H, W = L.shape
    mask = np.asarray(mask, np.float32)
    if not mask.any():
        if base_ab is not None:
            return np.asarray(base_ab, np.float32).copy(), np.zeros((H, W), np.float32)
        return np.zeros((H, W, 2), np.float32), np.zeros((H, W), np.float32)
    s = min(1.0, work_height / H)
    w, h = max(8, int(round(W * s))), max(8, int(round(H * s)))
    Ls = cv2.resize(L, (w, h), interpolation=cv2.INTER_AREA) if s < 1 else L
    guide = cv2.convertScaleAbs(Ls, alpha=2.55)
    ha, hb = cv2.split(np.ascontiguousarray(hint_ab, np.float32))
    stack = cv2.merge([cv2.multiply(ha, mask), cv2.multiply(hb, mask), mask])
    if s < 1:
        # Area-average keeps the hint mass; tiny hints survive as fractional weights.
        stack = cv2.resize(stack, (w, h), interpolation=cv2.INTER_AREA)
    if local and lam is None:
        # Smoothness from the stroke thickness at the working resolution: FGS's response to
        # a blob of radius r falls to half at about 1.5 sqrt(lam) on flat luma.
        m8 = (stack[..., 2] > 0.25).astype(np.uint8)
        r = float(cv2.distanceTransform(m8, cv2.DIST_L2, 3).max()) if m8.any() else 1.0
        lam = float(np.clip((reach * max(r, 1.0) / 1.5) ** 2, 16.0, 4000.0))
        sigma = local_sigma
    elif lam is None:
        # Sparse hints need wider spreading: scale the smoothness with the hint spacing.
        n_blobs = cv2.connectedComponents((mask > 0.5).astype(np.uint8))[0] - 1
        lam = float(np.clip(lam_scale / np.sqrt(max(1, n_blobs)), 300.0, 10000.0))
    fgs = cv2.ximgproc.createFastGlobalSmootherFilter(guide, lam, sigma)
    sm = fgs.filter(stack)
    den = np.maximum(sm[..., 2], 1e-6)
    ab_s = sm[..., :2] / den[..., None]
    # Confidence: how much hint weight reaches a pixel relative to the weight near a hint.
    ref = float(np.percentile(sm[..., 2][stack[..., 2] > 0], 50)) if (stack[..., 2] > 0).any() else 1.0
    conf_s = np.clip(sm[..., 2] / max(ref, 1e-6), 0.0, 1.0)
    if s < 1:
        ab = upsample_ab(ab_s, L, L_proxy=Ls)
        conf = cv2.resize(conf_s, (W, H), interpolation=cv2.INTER_LINEAR)
    else:
        ab, conf = ab_s, conf_s
    if base_ab is not None:
        base = np.ascontiguousarray(base_ab, np.float32)
        conf = np.ascontiguousarray(conf, np.float32)
        ab = cv2.add(base, cv2.multiply(cv2.subtract(np.ascontiguousarray(ab, np.float32), base),
                                        cv2.merge([conf, conf])))
    if not local and nonlocal_mix > 0:
        # Far from any hint (low spread confidence) the edge-aware spread only repeats the
        # nearest hint; a non-local estimate (hints weighted by distance and by luma
        # similarity, a bilateral kernel) is often closer there. +0.4 dB at 20 points on the
        # hint protocol (README).
        nl = _nonlocal_estimate(L, hint_ab, mask)
        if nl is not None:
            nl, nl_conf = nl
            u = np.float32(nonlocal_mix) * (np.float32(1.0) - np.ascontiguousarray(conf, np.float32)) * nl_conf
            ab = cv2.add(np.ascontiguousarray(ab, np.float32),
                         cv2.multiply(cv2.subtract(nl, np.ascontiguousarray(ab, np.float32)), cv2.merge([u, u])))
    if not local:
        # Painted pixels keep their colour exactly.
        sel = mask > 0.5
        ab[sel] = hint_ab[sel]
        conf[sel] = 1.0
    return np.ascontiguousarray(ab, np.float32), np.clip(conf, 0, 1).astype(np.float32)


def _nonlocal_estimate(L: np.ndarray, hint_ab: np.ndarray, mask: np.ndarray, sigma_xy: float = 0.3,
                       sigma_l: float = 6.0, work_height: int = 120, max_samples: int = 256
                       ) -> tuple[np.ndarray, np.ndarray] | None:
    """(chroma, confidence) from every hint at once, weighted by a bilateral kernel: exp(-d^2 / 2 (sigma_xy H)^2
    - (L - L_hint)^2 / 2 sigma_l^2). Hint pixels are subsampled (at most `max_samples`, a fixed
    pattern), the estimate is computed at `work_height` lines and upsampled (it is smooth)."""
    H, W = L.shape
    s = min(1.0, work_height / H)
    w, h = max(8, int(round(W * s))), max(8, int(round(H * s)))
    Ls = cv2.GaussianBlur(cv2.resize(np.asarray(L, np.float32), (w, h), interpolation=cv2.INTER_AREA), (0, 0), 1.0)
    ms = cv2.resize(np.asarray(mask, np.float32), (w, h), interpolation=cv2.INTER_AREA)
    hs = cv2.resize(np.ascontiguousarray(hint_ab, np.float32) * np.asarray(mask, np.float32)[..., None],
                    (w, h), interpolation=cv2.INTER_AREA)
    ys, xs = np.nonzero(ms > 0.2)
    if len(ys) == 0:
        return None
    if len(ys) > max_samples:
        pick = np.linspace(0, len(ys) - 1, max_samples).round().astype(int)
        ys, xs = ys[pick], xs[pick]
    abj = hs[ys, xs] / ms[ys, xs][:, None]
    lj = Ls[ys, xs]
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    num = np.zeros((h, w, 2), np.float32)
    den = np.full((h, w), 1e-12, np.float32)
    k_xy = np.float32(-0.5 / (sigma_xy * h) ** 2)
    k_l = np.float32(-0.5 / sigma_l ** 2)
    for y, x, l, ab in zip(ys, xs, lj, abj):
        wgt = np.exp(k_xy * ((gy - y) ** 2 + (gx - x) ** 2) + k_l * (Ls - l) ** 2)
        num += wgt[..., None] * ab.astype(np.float32)
        den += wgt
    est = num / den[..., None]
    # Its own confidence: how much hint weight reaches the pixel (a pixel whose luma matches
    # no hint, like the far side of an edge from a single stroke, keeps the spread's grey).
    conf = np.float32(1.0) - np.exp(-den)
    up = lambda a: np.ascontiguousarray(cv2.resize(a, (W, H), interpolation=cv2.INTER_LINEAR), np.float32)
    return up(est), up(conf)


def colorize(L: np.ndarray, strokes: Sequence[HintStroke], base_ab: np.ndarray | None = None,
             **kw) -> tuple[np.ndarray, np.ndarray]:
    """Chroma for one frame from its hint strokes (see module doc)."""
    hint_ab, mask = rasterize(np.asarray(L).shape[:2], strokes)
    if base_ab is None:
        # Without a base (a grey frame, hints only) the hints spread over the regions they
        # are painted in; where they do not reach, grey stays.
        base_ab = np.zeros(np.asarray(L).shape[:2] + (2,), np.float32)
        kw.setdefault("local", False)
    else:
        # Over a base (an imported image, the propagated colour of a later frame) a stroke is
        # a local correction: its influence stays in the luma region around it.
        kw.setdefault("local", True)
    return spread(L, hint_ab, mask, base_ab=base_ab, **kw)


def sample_hint_points(ab: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The hint protocol of BENCHMARK.md: K random 5x5 patches carrying their true mean chroma
    (hint_ab HxWx2, mask HxW); shared by the benchmark and models/eval_hints.py."""
    h, w = ab.shape[:2]
    rng = np.random.default_rng(seed)
    ys = rng.integers(2, h - 2, size=k)
    xs = rng.integers(2, w - 2, size=k)
    hint = np.zeros_like(ab, dtype=np.float32)
    mask = np.zeros((h, w), np.float32)
    for y, x in zip(ys, xs):
        patch = ab[y - 2:y + 3, x - 2:x + 3]
        hint[y - 2:y + 3, x - 2:x + 3] = patch.reshape(-1, 2).mean(axis=0)
        mask[y - 2:y + 3, x - 2:x + 3] = 1.0
    return hint, mask
