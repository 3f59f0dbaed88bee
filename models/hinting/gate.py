"""`gate` hint method: the classic geodesic blend of the strokes, with a learned confidence gate.

The geodesic blend (models.hinting.hints._geodesic_estimate, after Yatziv and Sapiro 2006) gives
every pixel a colour from the strokes; what it cannot say is how far a stroke's colour should
reach. `geo` fades it to grey with the geodesic distance by a hand-set curve, and over a base
(a correction on propagated colour) every classic method spreads only a few stroke radii. Here a
small per-pixel network (`GateNet`, a few hundred parameters) decides, from what the classic
method knows at that pixel (geodesic and straight-line distance to the nearest stroke, luma
difference to it, the blend's agreement, the base's colour against the stroke's...), the weight
w in [0, 1] of the strokes' colour against the fallback (grey, or the base when there is one):

    ab = fallback + w * (blend - fallback);   painted pixels keep their colour exactly.

It is trained (models.hinting.train_gate) on the licensed training photos with strokes placed
as the benchmark's robot editor places them (most-wrong region, true colour), to minimise the
ab error, and initialised to reproduce `geo`'s fade, so it starts at the classic method.
"""
from __future__ import annotations

from concurrent.futures import wait
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "gate.pt"
WORK_HEIGHT = 120
N_FEATURES = 12
N_FEATURES_SCENE = 16     # + how the nearest stroke sits in the whole frame (see features)


def geodesic_fields(L: np.ndarray, hint_ab: np.ndarray, mask: np.ndarray, work_height: int = WORK_HEIGHT,
                    power: float = 3.0, sigma_l: float = 15.0, max_sources: int = 400):
    """At the working size: the geodesic blend of the hints (h,w,2, no fade), the geodesic
    distance to the nearest hint, that hint's luma and chroma, the second-nearest distance, the
    blend's spread (weighted chroma variance) and the working luma. None without hints."""
    from models.hinting.hints import _hint_sources, geodesic_distance

    L = np.asarray(L, np.float32)
    H, W = L.shape
    s = min(1.0, work_height / H)
    w, h = max(8, int(round(W * s))), max(8, int(round(H * s)))
    Lr = cv2.resize(L, (w, h), interpolation=cv2.INTER_AREA) if s < 1 else L
    Ls = cv2.GaussianBlur(Lr, (0, 0), 0.7)
    sources = _hint_sources(L, np.asarray(hint_ab, np.float32), np.asarray(mask, np.float32), (w, h))
    if not sources:
        return None
    if len(sources) > max_sources:
        pick = np.linspace(0, len(sources) - 1, max_sources).round().astype(int)
        sources = [sources[i] for i in pick]
    Lf = Ls.ravel().astype(np.float64)
    n = h * w
    num = np.zeros((n, 2), np.float64)
    num2 = np.zeros(n, np.float64)
    den = np.full(n, 1e-30, np.float64)
    d1 = np.full(n, np.inf)
    d2 = np.full(n, np.inf)
    near_l = np.zeros(n)
    near_ab = np.zeros((n, 2))
    k_l = -0.5 / sigma_l ** 2
    for nodes, ab, l_hint in sources:
        D = geodesic_distance(Ls, nodes)
        wgt = (1.0 + D) ** (-power) * np.exp(k_l * (Lf - l_hint) ** 2)
        ab64 = ab.astype(np.float64)
        num += wgt[:, None] * ab64[None, :]
        num2 += wgt * float(ab64 @ ab64)
        den += wgt
        closer = D < d1
        d2 = np.where(closer, d1, np.minimum(d2, D))
        d1 = np.where(closer, D, d1)
        near_l = np.where(closer, l_hint, near_l)
        near_ab[closer] = ab64
    est = num / den[:, None]
    var = np.maximum(num2 / den - (est ** 2).sum(1), 0.0)
    m_small = cv2.resize(np.asarray(mask, np.float32), (w, h), interpolation=cv2.INTER_AREA) if s < 1 \
        else np.asarray(mask, np.float32)
    eucl = cv2.distanceTransform((m_small < 0.25).astype(np.uint8), cv2.DIST_L2, 3) / float(h)
    return {"est": est.reshape(h, w, 2).astype(np.float32), "d1": d1.reshape(h, w).astype(np.float32),
            "d2": np.minimum(d2, 1e4).reshape(h, w).astype(np.float32),
            "near_l": near_l.reshape(h, w).astype(np.float32),
            "near_ab": near_ab.reshape(h, w, 2).astype(np.float32),
            "std": np.sqrt(var).reshape(h, w).astype(np.float32), "eucl": eucl.astype(np.float32),
            "L": Ls.astype(np.float32), "size": (w, h), "n_sources": len(sources)}


def features(f: dict, base_small: np.ndarray | None, n: int = N_FEATURES) -> np.ndarray:
    """Per-pixel inputs of the gate (h, w, n), each roughly of unit scale. With
    n = N_FEATURES_SCENE four inputs describe the nearest stroke against the whole frame: its
    luma against the frame's mean luma, its saturation, the share of the frame geodesically
    close to some stroke, and the frame's luma contrast (a dark object's stroke in a bright
    room, a pale colour: cases where a stroke's colour reaching far costs more than it gains)."""
    est = f["est"]
    sat = np.linalg.norm(est, axis=2)
    if base_small is None:
        has_base = np.zeros_like(sat)
        base_sat = np.zeros_like(sat)
        diff = sat
    else:
        has_base = np.ones_like(sat)
        base_sat = np.linalg.norm(base_small, axis=2)
        diff = np.linalg.norm(est - base_small, axis=2)
    cols = [np.log1p(f["d1"]) / 4.0, np.log1p(f["d2"]) / 4.0, np.abs(f["L"] - f["near_l"]) / 25.0,
            f["eucl"] * 4.0, f["std"] / 30.0, sat / 50.0, f["L"] / 100.0, has_base, base_sat / 50.0,
            diff / 50.0, np.full_like(sat, np.log1p(f["n_sources"]) / 4.0), _local_std(f["L"]) / 10.0]
    if n == N_FEATURES_SCENE:
        Lm = float(f["L"].mean())
        cols += [(f["near_l"] - Lm) / 25.0, np.linalg.norm(f["near_ab"], axis=2) / 50.0,
                 np.full_like(sat, float((f["d1"] < 20.0).mean()) * 2.0), np.full_like(sat, float(f["L"].std()) / 25.0)]
    elif n != N_FEATURES:
        raise ValueError(f"gate with {n} inputs: expected {N_FEATURES} or {N_FEATURES_SCENE}")
    return np.stack(cols, axis=2).astype(np.float32)


def _trained_gate(f: dict, base_small: np.ndarray | None) -> np.ndarray:
    g = _Gate.load()
    return g(features(f, base_small, g.n_in))


def _local_std(L: np.ndarray) -> np.ndarray:
    m = cv2.blur(L, (3, 3))
    return np.sqrt(np.maximum(cv2.blur(L * L, (3, 3)) - m * m, 0.0))


def geo_gate(f: dict, base_small=None, tau: float = 15.0) -> np.ndarray:
    """`geo`'s fade (floor 0) as a gate: 1 / (1 + (d / tau)^2)."""
    return (1.0 / (1.0 + (f["d1"] / tau) ** 2)).astype(np.float32)


class _Gate:
    """The trained per-pixel gate (numpy inference: no torch import on the editor's path)."""
    _cache: dict = {}

    def __init__(self, layers, meta):
        self.layers = layers
        self.meta = meta
        self.n_in = int(layers[0][0].shape[1])

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> "_Gate":
        key = str(path)
        if key not in cls._cache:
            if not Path(path).exists():
                raise FileNotFoundError(f"gate weights not found: {path} (train them: python -m models.hinting.train_gate)")
            import torch
            sd = torch.load(path, map_location="cpu", weights_only=True)
            n = len([k for k in sd["state"] if k.endswith(".weight")])
            layers = [(sd["state"][f"{2 * i}.weight"].float().numpy(), sd["state"][f"{2 * i}.bias"].float().numpy())
                      for i in range(n)]
            cls._cache[key] = cls(layers, sd.get("meta", {}))
        return cls._cache[key]

    # Rows per matrix product: OpenBLAS runs a product this small on one thread. One product
    # over the whole frame (25k rows) is spread over all cores and, on a busy host, took
    # 40-90 ms for ~70 MFLOP; in blocks of 256 rows it takes ~5-10 ms.
    BLOCK = 256

    def __call__(self, x: np.ndarray) -> np.ndarray:
        h, w, c = x.shape
        z = np.ascontiguousarray(x.reshape(-1, c), np.float32)
        if not hasattr(self, "_t"):
            self._t = [(np.ascontiguousarray(W_.T, np.float32), np.asarray(b, np.float32)) for W_, b in self.layers]
        out = np.empty(z.shape[0], np.float32)
        last = len(self._t) - 1
        for s in range(0, z.shape[0], self.BLOCK):
            y = z[s:s + self.BLOCK]
            for i, (Wt, b) in enumerate(self._t):
                y = y @ Wt
                y += b
                if i < last:
                    np.maximum(y, 0.0, out=y)
            out[s:s + self.BLOCK] = y[:, 0]
        return (1.0 / (1.0 + np.exp(-out))).reshape(h, w).astype(np.float32)


_FALLBACK_POOL = None


def _submit(fn: Callable[[], np.ndarray]):
    """fn() on the one fallback thread (a concurrent.futures future)."""
    global _FALLBACK_POOL
    if _FALLBACK_POOL is None:
        from concurrent.futures import ThreadPoolExecutor
        _FALLBACK_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hint-fallback")
    return _FALLBACK_POOL.submit(fn)


def gate_colorize(L: np.ndarray, hint_ab: np.ndarray, mask: np.ndarray, base_ab: np.ndarray | None = None,
                  gate=None, fields: dict | None = None, fallback: np.ndarray | Callable[[], np.ndarray] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(ab, gate) at full size: fallback + w (blend - fallback), painted pixels exact.
    `gate(fields, base_small)`: the gate at the working size (default the trained one);
    `fields`: geodesic_fields(L, hint_ab, mask) when the caller has them; `fallback`: full-size
    ab that replaces grey where the strokes do not reach on a frame with no base (the gate is
    computed as for a grey frame). A callable `fallback` is called on a thread of its own beside
    the gate's geodesic fields (the colour prior: torch releases the GIL, and the two do not
    depend on each other until the blend), so a stroke's preview waits for the longer of them,
    not for both."""
    L = np.asarray(L, np.float32)
    H, W = L.shape
    if base_ab is None and fallback is not None:
        fut = _submit(fallback) if callable(fallback) else None
        # ab = w * blend + (1 - w) * fallback; painted pixels have w = 1, so they keep their colour
        try:
            ab, g_full = gate_colorize(L, hint_ab, mask, gate=gate, fields=fields)
        except BaseException:
            if fut is not None:
                wait([fut])     # the fallback ends here too (its own error, if any, is dropped)
            raise
        fb = fallback if fut is None else fut.result()
        ab += (1.0 - g_full)[..., None] * np.asarray(fb, np.float32)
        return np.ascontiguousarray(ab, np.float32), g_full
    f = fields if fields is not None else geodesic_fields(L, hint_ab, mask)
    if f is None:
        ab = np.zeros((H, W, 2), np.float32) if base_ab is None else np.asarray(base_ab, np.float32).copy()
        return ab, np.zeros((H, W), np.float32)
    w, h = f["size"]
    base_small = None if base_ab is None else cv2.resize(np.asarray(base_ab, np.float32), (w, h),
                                                          interpolation=cv2.INTER_AREA)
    g = (gate or _trained_gate)(f, base_small)
    est = f["est"]
    fb = np.zeros_like(est) if base_small is None else base_small
    delta = (est - fb) * g[..., None]
    delta = cv2.resize(delta, (W, H), interpolation=cv2.INTER_LINEAR)
    g_full = cv2.resize(g, (W, H), interpolation=cv2.INTER_LINEAR)
    out = delta if base_ab is None else np.asarray(base_ab, np.float32) + delta
    sel = np.asarray(mask) > 0.5
    out[sel] = np.asarray(hint_ab, np.float32)[sel]
    g_full[sel] = 1.0
    return np.ascontiguousarray(out, np.float32), g_full


def gate_method(L, hint_ab, mask, base_ab=None, fill=False):
    """The `gate` entry of models.hinting.hints.HINT_METHODS: the same learned gate on a grey
    keyframe, for the hint protocol's points (`fill`) and over a base (a correction)."""
    return gate_colorize(L, hint_ab, mask, base_ab=base_ab)
