"""Hint protocol of ../shared/BENCHMARK.md on the keyframes only: classic spreaders vs. HintNet.

For frame 0 of every clip in ../shared/data/clips (resized to 480 lines with area
interpolation when taller, width even), K = 5, 20, 50 random 5x5 hint patches carrying their
true mean chroma (seed 2026, models.hinting.hints.sample_hint_points, as the bench) are colorized by

- `hints.spread`  models.hinting.hints.spread(L, hint_ab, mask) (the project's classic spreader),
                  when models/hinting/hints.py provides it;
- `fgs`           models.hinting.hintnet.fgs_spread (HintNet's own classic base);
- `net`           HintNet with its own fgs base (the shipped configuration);
- `net+hints`     HintNet given models.hinting.hints.spread's result as its base (when available).

and scored by PSNR of RGB composed from the true luma and the predicted chroma against the
true 8-bit frame. Prints per-clip and mean tables and the median time per keyframe.

Usage: python -m models.hinting.eval_hints [--weights PATH] [--clips DIR] [--threads 1] [--json out.json]
(models never imports app; the protocol's few lines are repeated here.)
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from models.color import protocol_rgb as compose_rgb, rgb_to_lab
from models.hinting.hintnet import HintNet, fgs_spread
from models.hinting.hints import sample_hint_points

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CLIPS = (REPO / ".." / "shared" / "data" / "clips").resolve()
KS = (5, 20, 50)
SEED = 2026


def proxy_resize(rgb: np.ndarray, proxy_height: int = 480) -> np.ndarray:
    h, w = rgb.shape[:2]
    if h <= proxy_height:
        return np.ascontiguousarray(rgb)
    nw = int(round(w * proxy_height / h / 2.0)) * 2
    return cv2.resize(rgb, (nw, proxy_height), interpolation=cv2.INTER_AREA)


def first_frame(clips_dir: Path, entry: dict) -> np.ndarray:
    path = clips_dir / entry["file"]
    if entry.get("kind") == "frames":
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        bgr = cv2.imread(str(files[0]), cv2.IMREAD_COLOR)
        return proxy_resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    import av
    with av.open(str(path)) as c:
        for frame in c.decode(c.streams.video[0]):
            return proxy_resize(frame.to_ndarray(format="rgb24"))
    raise RuntimeError(f"no frame in {path}")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    d = a.astype(np.float32) - b.astype(np.float32)
    mse = float(np.mean(d * d))
    return 99.0 if mse <= 1e-10 else 10.0 * np.log10(255.0 ** 2 / mse)


def classic_spread():
    """models.hinting.hints.spread when models/hinting/hints.py provides it, else None."""
    try:
        from models.hinting import hints
    except ImportError:
        return None
    return getattr(hints, "spread", None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=None, help="default: the shipped weights")
    ap.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    ap.add_argument("--threads", type=int, default=1, help="torch/OpenCV threads (default 1)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)

    net = HintNet.load(args.weights, device=args.device)
    spread = classic_spread()
    methods = (["hints.spread"] if spread else []) + ["fgs", "net"] + (["net+hints"] if spread else [])
    with open(args.clips / "manifest.json") as f:
        manifest = json.load(f)
    res: dict[str, dict[str, dict[str, float]]] = {}
    ms: dict[str, list[float]] = {m: [] for m in methods}
    for e in manifest:
        rgb = first_frame(args.clips, e)
        lab = rgb_to_lab(rgb)
        L, ab = np.ascontiguousarray(lab[..., 0]), np.ascontiguousarray(lab[..., 1:])
        res[e["name"]] = {}
        for k in KS:
            hint, mask = sample_hint_points(ab, k, SEED)
            row = {}
            t = time.perf_counter()
            base, conf = fgs_spread(L, hint, mask)
            t_fgs = time.perf_counter() - t
            row["fgs"] = psnr(compose_rgb(L, base), rgb)
            ms["fgs"].append(1000 * t_fgs)
            t = time.perf_counter()
            out = net.colorize(L, hint, mask, base, conf)
            ms["net"].append(1000 * (time.perf_counter() - t + t_fgs))
            row["net"] = psnr(compose_rgb(L, out), rgb)
            if spread:
                t = time.perf_counter()
                cab, cconf = spread(L, hint, mask)
                ms["hints.spread"].append(1000 * (time.perf_counter() - t))
                row["hints.spread"] = psnr(compose_rgb(L, cab), rgb)
                t = time.perf_counter()
                out2 = net.colorize(L, hint, mask, cab, cconf)
                ms["net+hints"].append(1000 * (time.perf_counter() - t) + ms["hints.spread"][-1])
                row["net+hints"] = psnr(compose_rgb(L, out2), rgb)
            res[e["name"]][f"K{k}"] = row
        print(f"{e['name']:<26}{L.shape[1]}x{L.shape[0]}  " +
              "  ".join(f"K{k}: " + "/".join(f"{res[e['name']][f'K{k}'][m]:.2f}" for m in methods)
                        for k in KS), flush=True)

    print(f"\n== hint protocol, frame 0 of {len(res)} clips (5x5 true-chroma patches, seed {SEED}) ==")
    print("key PSNR (dB), mean over clips; ms = median per keyframe incl. the base spread, "
          f"{args.threads} thread(s), device {net.device}")
    print("K".ljust(6) + "".join(m.rjust(14) for m in methods))
    mean = {}
    for k in KS:
        mean[f"K{k}"] = {m: float(np.mean([r[f"K{k}"][m] for r in res.values()])) for m in methods}
        print(f"K={k}".ljust(6) + "".join(f"{mean[f'K{k}'][m]:14.2f}" for m in methods))
    print("ms".ljust(6) + "".join(f"{statistics.median(ms[m]):14.1f}" for m in methods))
    wins = {k: sum(r[f"K{k}"]["net"] > r[f"K{k}"]["fgs"] for r in res.values()) for k in KS}
    print("net beats fgs on " + ", ".join(f"K={k}: {wins[k]}/{len(res)} clips" for k in KS))
    if args.json:
        args.json.write_text(json.dumps({"clips": res, "mean": mean, "seed": SEED,
                                         "median_ms": {m: statistics.median(v) for m, v in ms.items()},
                                         "weights": str(args.weights or "shipped"),
                                         "meta": {k: v for k, v in net.meta.items() if k != "sources"}},
                                        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
