"""`hueshot bench`: the colour-propagation benchmark of ../shared/BENCHMARK.md.

Protocols
- first-frame (default): frame 0 in colour is the keyframe, score frames 1..N-1.
- `--two-keys`: frames 0 and N-1 in colour, score frames 1..N-2.
- `--hints`: frame 0 colorized from K random 5x5 true-chroma patches (K = 5, 20, 50, fixed
  seed) by models.hinting.hints, scored on frame 0, then propagated and scored on 1..N-1.
- speed: every clip's first frames resized to 854x480, propagation only (luma precomputed),
  median ms per frame over clips, beside dis_chain in the same process.

Clips are decoded once with PyAV (`to_ndarray("rgb24")`; frame folders with cv2.imread),
resized to 480 lines with area interpolation and cached as .npy under
~/.cache/hueshot/bench (override with HUESHOT_BENCH_CACHE).

Usage: python -m app.core.benchmarks.bench [--frames 60] [--methods a,b] [--clip-filter re] [--json out.json]
The CLI calls `add_arguments(parser)` and `run(args)`.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.base import ListLuma
from models.color import protocol_rgb as compose_rgb, rgb_to_lab
from models import registry

REPO = Path(__file__).resolve().parents[3]
DEFAULT_CLIPS = (REPO / ".." / "shared" / "data" / "clips").resolve()
PROXY_HEIGHT = 480
SPEED_SIZE = (854, 480)
HINT_KS = (5, 20, 50)
HINT_SEED = 2026


def cache_dir() -> Path:
    d = Path(os.environ.get("HUESHOT_BENCH_CACHE", Path.home() / ".cache" / "hueshot" / "bench"))
    d.mkdir(parents=True, exist_ok=True)
    return d


# ----------------------------------------------------------------------------- clips
@dataclass
class Clip:
    name: str
    rgb: np.ndarray          # N x H x W x 3 uint8 (possibly memory-mapped)

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[2], self.rgb.shape[1]


def proxy_size(w: int, h: int, proxy_height: int = PROXY_HEIGHT) -> tuple[int, int]:
    if h <= proxy_height:
        return w, h
    nw = int(round(w * proxy_height / h / 2.0)) * 2
    return nw, proxy_height


def _resize(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    nw, nh = proxy_size(w, h)
    if (nw, nh) == (w, h):
        return np.ascontiguousarray(rgb)
    return cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)


def _decode(clips_dir: Path, entry: dict, n: int) -> np.ndarray:
    path = clips_dir / entry["file"]
    frames = []
    if entry.get("kind") == "frames":
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        for p in files[:n]:
            bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if bgr is None:
                raise RuntimeError(f"cannot read frame {p}")
            frames.append(_resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    else:
        import av
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                frames.append(_resize(frame.to_ndarray(format="rgb24")))
                if len(frames) >= n:
                    break
    if not frames:
        raise RuntimeError(f"no frames decoded from {path}")
    return np.stack(frames)


def load_clip(clips_dir: Path, entry: dict, n: int) -> Clip:
    """First n frames (fewer if the clip is shorter) at proxy size, cached on disk."""
    total = int(entry.get("frames") or n)
    want = min(n, total)
    name = entry["name"]
    cache = cache_dir()
    for p in sorted(cache.glob(f"{name}_{PROXY_HEIGHT}p_*.npy")):
        try:
            have = int(p.stem.rsplit("_", 1)[1])
        except ValueError:
            continue
        if have >= want:
            arr = np.load(p, mmap_mode="r")
            return Clip(name, arr[:want])
    n_dec = min(total, max(want, 120))
    arr = _decode(clips_dir, entry, n_dec)
    out = cache / f"{name}_{PROXY_HEIGHT}p_{len(arr)}.npy"
    tmp = out.with_suffix(".tmp.npy")
    np.save(tmp, arr)
    os.replace(tmp, out)
    return Clip(name, arr[:want])


def read_manifest(clips_dir: Path) -> list[dict]:
    with open(clips_dir / "manifest.json") as f:
        return json.load(f)


# ----------------------------------------------------------------------------- metrics
def psnr(a: np.ndarray, b: np.ndarray) -> float:
    d = a.astype(np.float32) - b.astype(np.float32)
    mse = float(np.mean(d * d))
    return 99.0 if mse <= 1e-10 else 10.0 * np.log10(255.0 ** 2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Standard SSIM (11x11 Gaussian, sigma 1.5), mean over RGB channels, data range 255."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    x = a.astype(np.float32)
    y = b.astype(np.float32)
    blur = lambda im: cv2.GaussianBlur(im, (11, 11), 1.5)
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))


class RefFlow:
    """Flow of the true luma between consecutive frames (DIS MEDIUM, t -> t-1) and the
    non-occluded mask (forward-backward consistency), for the temporal warp error."""

    def __init__(self, L: list[np.ndarray]):
        self.L8 = [cv2.convertScaleAbs(x, alpha=2.55) for x in L]
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        h, w = L[0].shape
        xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        self.grid = np.dstack([xs, ys])

    def get(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        fw = self.dis.calc(self.L8[t], self.L8[t - 1], None)        # t -> t-1
        bw = self.dis.calc(self.L8[t - 1], self.L8[t], None)        # t-1 -> t
        m = self.grid + fw
        bw_at = cv2.remap(bw, m, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        err = np.sum((fw + bw_at) ** 2, axis=2)
        mag = np.sum(fw ** 2, axis=2) + np.sum(bw_at ** 2, axis=2)
        h, w = fw.shape[:2]
        inside = (m[..., 0] >= 0) & (m[..., 0] <= w - 1) & (m[..., 1] >= 0) & (m[..., 1] <= h - 1)
        valid = (err < 0.01 * mag + 0.5) & inside
        return m, valid


def warp_error(cur_rgb: np.ndarray, prev_rgb: np.ndarray, ref: tuple[np.ndarray, np.ndarray]) -> float:
    m, valid = ref
    warped = cv2.remap(prev_rgb, m, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    d = np.abs(cur_rgb.astype(np.float32) - warped.astype(np.float32)).mean(axis=2)
    return float(d[valid].mean()) if valid.any() else 0.0


# ----------------------------------------------------------------------------- running
def run_method(method: str, L: list[np.ndarray], keys: dict[int, np.ndarray], keep: bool = True):
    """Propagate; return ({index: ab float16} (empty unless `keep`), seconds of the whole run).
    Wall time of the whole run, the caller's copies included: a propagator's worker threads
    (models.propagate.pipeline) go on while the caller holds a frame, so only the total is fair."""
    prop = registry.get_propagator(method)
    out: dict[int, np.ndarray] = {}
    count = 0
    t0 = time.perf_counter()
    for fr in prop.run(ListLuma(L), keys):
        count += 1
        if keep:
            out[fr.index] = fr.ab.astype(np.float16)
    spent = time.perf_counter() - t0
    assert count == len(L), (method, count, len(L))
    return out, spent


def score_clip(clip: Clip, L: list[np.ndarray], outputs: dict[str, dict[int, np.ndarray]],
               frames: list[int], full: bool = True) -> dict[str, dict]:
    """PSNR / last-frame PSNR (/ SSIM / warp error when full) for each method's output."""
    res = {m: {"psnr": [], "ssim": [], "warp": []} for m in outputs}
    res["truth"] = {"warp": []}
    ref = RefFlow(L) if full else None
    prev = {m: None for m in outputs}
    prev_true = None
    first = frames[0]
    for t in frames:
        true = np.asarray(clip.rgb[t])
        r = ref.get(t) if (full and t >= 1) else None
        if full and t >= 1:
            if prev_true is None:
                prev_true = np.asarray(clip.rgb[t - 1])
            res["truth"]["warp"].append(warp_error(true, prev_true, r))
        for m, o in outputs.items():
            rgb = compose_rgb(L[t], o[t].astype(np.float32))
            res[m]["psnr"].append(psnr(rgb, true))
            if full:
                res[m]["ssim"].append(ssim(rgb, true))
                if t >= 1:
                    p = prev[m]
                    if p is None:
                        p = compose_rgb(L[t - 1], o[t - 1].astype(np.float32)) if (t - 1) in o else None
                    if p is not None:
                        res[m]["warp"].append(warp_error(rgb, p, r))
                prev[m] = rgb
        prev_true = true
    summary = {}
    for m, d in res.items():
        s = {}
        if d.get("psnr"):
            s["psnr"] = float(np.mean(d["psnr"]))
            s["last_psnr"] = float(d["psnr"][-1])
        if d.get("ssim"):
            s["ssim"] = float(np.mean(d["ssim"]))
        if d.get("warp"):
            s["warp_err"] = float(np.mean(d["warp"]))
        summary[m] = s
    return summary


def clip_luma_ab(clip: Clip) -> tuple[list[np.ndarray], list[np.ndarray]]:
    L, AB = [], []
    for f in clip.rgb:
        lab = rgb_to_lab(np.asarray(f))
        L.append(np.ascontiguousarray(lab[..., 0]))
        AB.append(np.ascontiguousarray(lab[..., 1:]))
    return L, AB


def speed_test(clip: Clip, methods: list[str], n_frames: int, reps: int) -> dict[str, float]:
    """ms per frame at 854x480 (frames resized), luma precomputed; best of reps per method."""
    w, h = SPEED_SIZE
    rgb = [cv2.resize(np.asarray(f), (w, h), interpolation=cv2.INTER_LINEAR) for f in clip.rgb[:n_frames]]
    L = [np.ascontiguousarray(rgb_to_lab(f)[..., 0]) for f in rgb]
    keys = {0: np.ascontiguousarray(rgb_to_lab(rgb[0])[..., 1:])}
    best = {m: float("inf") for m in methods}
    for _ in range(reps):
        for m in methods:
            _, sec = run_method(m, L, keys, keep=False)
            best[m] = min(best[m], 1000.0 * sec / max(1, len(L) - 1))
    return best


# ----------------------------------------------------------------------------- hints
# ----------------------------------------------------------------------------- report
def _fmt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def print_table(title: str, per_clip: dict[str, dict], methods: list[str], key: str = "psnr"):
    print(f"\n== {title}: {key} per clip ==")
    w = max(24, max((len(c) for c in per_clip), default=0) + 2)
    print("clip".ljust(w) + "".join(m[:12].rjust(13) for m in methods))
    for c, d in per_clip.items():
        print(c.ljust(w) + "".join(_fmt(d.get(m, {}).get(key)).rjust(13) for m in methods))


def mean_over(per_clip: dict[str, dict], method: str, key: str):
    vals = [d[method][key] for d in per_clip.values() if method in d and key in d[method]]
    return float(np.mean(vals)) if vals else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS,
                        help=f"folder with manifest.json (default {DEFAULT_CLIPS})")
    parser.add_argument("--frames", type=int, default=60, help="first N frames per clip (default 60)")
    parser.add_argument("--methods", default=None,
                        help="comma-separated methods (default: gray, copy_key, dis_chain and every "
                             f"registered propagator: {', '.join(registry.available_methods())})")
    parser.add_argument("--clip-filter", default=None, help="regular expression on clip names")
    parser.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--hints", action="store_true", help="also run the hint protocol")
    parser.add_argument("--two-keys", action="store_true", help="also run the two-keyframe protocol")
    parser.add_argument("--no-first-frame", action="store_true", help="skip the first-frame protocol")
    parser.add_argument("--no-speed", action="store_true", help="skip the 854x480 speed test")
    parser.add_argument("--speed-frames", type=int, default=30, help="frames per clip in the speed test")
    parser.add_argument("--speed-reps", type=int, default=3,
                        help="repetitions per clip, the fastest kept: the host is shared and noisy (default 3)")
    parser.add_argument("--hint-method", default=registry.DEFAULT_METHOD,
                        help="propagator used after hint colorization")


def check_args(args) -> str | None:
    """A bad value of the command line as one line (before any clip is read), or None."""
    if args.frames < 2 or args.speed_frames < 2 or args.speed_reps < 1:
        return "--frames and --speed-frames must be >= 2, --speed-reps >= 1"
    known = registry.available_methods()
    methods = [m.strip() for m in (args.methods.split(",") if args.methods is not None else known) if m.strip()]
    if not methods:
        return "--methods names no method"
    for opt, name in [("--methods", m) for m in methods] + [("--hint-method", args.hint_method)]:
        if name not in known:
            return f"{opt}: unknown propagation method {name!r} (one of {', '.join(known)})"
    if args.clip_filter:
        try:
            re.compile(args.clip_filter)
        except re.error as exc:
            return f"--clip-filter {args.clip_filter!r} is not a regular expression ({exc})"
    return None


def run(args) -> int:
    clips_dir = Path(args.clips)
    manifest = read_manifest(clips_dir)
    if args.clip_filter:
        rx = re.compile(args.clip_filter)
        manifest = [e for e in manifest if rx.search(e["name"])]
    if not manifest:
        print("no clips selected", file=sys.stderr)
        return 2
    methods = (args.methods.split(",") if args.methods else registry.available_methods())
    methods = [m.strip() for m in methods if m.strip()]
    for m in methods:
        registry.get_propagator(m)      # fail early on a bad name
    speed_methods = [m for m in methods if m != "gray"]
    if "dis_chain" not in speed_methods:
        speed_methods.insert(0, "dis_chain")

    report = {"config": {"frames": args.frames, "methods": methods, "clips": [e["name"] for e in manifest],
                         "clips_dir": str(clips_dir), "cv2": cv2.__version__,
                         "cv2_threads": cv2.getNumThreads(), "cpu_count": os.cpu_count(),
                         "time": time.strftime("%Y-%m-%d %H:%M:%S")}}
    first, ms, two, hints, speed = {}, {}, {}, {}, {}
    first_no_last = {}
    t_start = time.perf_counter()
    for e in manifest:
        clip = load_clip(clips_dir, e, args.frames)
        L, AB = clip_luma_ab(clip)
        n = len(L)
        w, h = clip.size
        line = f"[{time.perf_counter() - t_start:6.1f}s] {e['name']} {w}x{h} n={n}"
        if not args.no_first_frame:
            outs, ms[e["name"]] = {}, {}
            for m in methods:
                outs[m], sec = run_method(m, L, {0: AB[0]})
                ms[e["name"]][m] = 1000.0 * sec / (n - 1)
            first[e["name"]] = score_clip(clip, L, outs, list(range(1, n)))
            if args.two_keys and n >= 3:
                first_no_last[e["name"]] = score_clip(clip, L, outs, list(range(1, n - 1)), full=False)
            for m in methods:
                first[e["name"]][m]["ms_per_frame"] = ms[e["name"]][m]
            first[e["name"]]["_frames"] = n
            first[e["name"]]["_size"] = [w, h]
            del outs
            line += "  " + " ".join(f"{m}={first[e['name']][m]['psnr']:.2f}" for m in methods)
        if args.two_keys and n >= 3:
            outs = {}
            for m in methods:
                outs[m], _ = run_method(m, L, {0: AB[0], n - 1: AB[n - 1]})
            two[e["name"]] = score_clip(clip, L, outs, list(range(1, n - 1)), full=False)
            del outs
        if args.hints:
            from models.hinting.hints import sample_hint_points, spread
            hints[e["name"]] = {}
            for k in HINT_KS:
                hint_ab, mask = sample_hint_points(AB[0], k, HINT_SEED)
                t0 = time.perf_counter()
                ab0, _conf = spread(L[0], hint_ab, mask)
                hint_ms = 1000 * (time.perf_counter() - t0)
                key_psnr = psnr(compose_rgb(L[0], ab0), np.asarray(clip.rgb[0]))
                out, _ = run_method(args.hint_method, L, {0: ab0})
                s = score_clip(clip, L, {"p": out}, list(range(1, n)), full=False)["p"]
                hints[e["name"]][f"K{k}"] = {"key_psnr": key_psnr, "prop_psnr": s["psnr"],
                                             "prop_last_psnr": s["last_psnr"], "hint_ms": hint_ms}
        if not args.no_speed:
            speed[e["name"]] = speed_test(clip, speed_methods, args.speed_frames, args.speed_reps)
        print(line, flush=True)
        del clip, L, AB

    if first:
        report["first_frame"] = {"clips": first, "mean": {}}
        for key in ("psnr", "last_psnr", "ssim", "warp_err", "ms_per_frame"):
            print_table("first-frame protocol", first, methods, key) if key in ("psnr", "last_psnr") else None
        print(f"\n== first-frame protocol, mean over {len(first)} clips, {args.frames} frames ==")
        print("method".ljust(12) + "PSNR".rjust(8) + "last".rjust(8) + "SSIM".rjust(8)
              + "warpErr".rjust(9) + "ms/frame".rjust(10))
        for m in methods + ["truth"]:
            row = {k: mean_over(first, m, k) for k in ("psnr", "last_psnr", "ssim", "warp_err", "ms_per_frame")}
            report["first_frame"]["mean"][m] = row
            print(m.ljust(12) + _fmt(row["psnr"]).rjust(8) + _fmt(row["last_psnr"]).rjust(8)
                  + _fmt(row["ssim"], ".4f").rjust(8) + _fmt(row["warp_err"], ".3f").rjust(9)
                  + _fmt(row["ms_per_frame"], ".1f").rjust(10))
        # Per-clip floor check: best of copy_key / dis_chain.
        if "copy_key" in methods and "dis_chain" in methods:
            for m in methods:
                if m in registry.BASELINES:
                    continue
                worst = min(((d[m]["psnr"] - max(d["copy_key"]["psnr"], d["dis_chain"]["psnr"]), c)
                             for c, d in first.items()), default=None)
                if worst:
                    print(f"{m}: worst clip vs max(copy_key, dis_chain): {worst[0]:+.2f} dB ({worst[1]})")
                    report["first_frame"].setdefault("worst_vs_baselines", {})[m] = \
                        {"delta_db": worst[0], "clip": worst[1]}
        # Against the default method (per clip) and dis_chain (mean, last frame).
        ref = registry.DEFAULT_METHOD
        for m in methods:
            if m in registry.BASELINES or m == ref:
                continue
            if ref in methods:
                worst = min((d[m]["psnr"] - d[ref]["psnr"], c) for c, d in first.items())
                print(f"{m}: worst clip vs {ref}: {worst[0]:+.2f} dB ({worst[1]})")
                report["first_frame"].setdefault("worst_vs_default", {})[m] = \
                    {"delta_db": worst[0], "clip": worst[1]}
        if "dis_chain" in methods:
            mean = report["first_frame"]["mean"]
            for m in methods:
                if m in registry.BASELINES:
                    continue
                print(f"{m}: vs dis_chain: mean {mean[m]['psnr'] - mean['dis_chain']['psnr']:+.2f} dB, "
                      f"last frame {mean[m]['last_psnr'] - mean['dis_chain']['last_psnr']:+.2f} dB, "
                      f"warp error {mean[m]['warp_err'] - mean['dis_chain']['warp_err']:+.3f}")
    if two:
        report["two_keys"] = {"clips": two, "mean": {}}
        print_table("two-keyframe protocol (frames 0 and N-1 given)", two, methods)
        print("mean".ljust(max(24, max(len(c) for c in two) + 2))
              + "".join(_fmt(mean_over(two, m, "psnr")).rjust(13) for m in methods))
        for m in methods:
            report["two_keys"]["mean"][m] = {"psnr": mean_over(two, m, "psnr")}
        if first:
            # the same frames (1..N-2) scored with only the first keyframe given
            print("first key only, frames 1..N-2".ljust(max(24, max(len(c) for c in two) + 2))
                  + "".join(_fmt(mean_over(first_no_last, m, "psnr")).rjust(13) for m in methods))
            for m in methods:
                report["two_keys"]["mean"][m]["first_key_only_psnr"] = mean_over(first_no_last, m, "psnr")
    if hints:
        report["hints"] = {"clips": hints, "method": args.hint_method, "seed": HINT_SEED, "mean": {}}
        print(f"\n== hint protocol (5x5 true-chroma patches, seed {HINT_SEED}; propagation: {args.hint_method}) ==")
        print("K".ljust(6) + "key PSNR".rjust(10) + "prop PSNR".rjust(11) + "prop last".rjust(11) + "hint ms".rjust(9))
        for k in HINT_KS:
            r = {f: float(np.mean([d[f"K{k}"][f] for d in hints.values()]))
                 for f in ("key_psnr", "prop_psnr", "prop_last_psnr", "hint_ms")}
            report["hints"]["mean"][f"K{k}"] = r
            print(f"K={k}".ljust(6) + f"{r['key_psnr']:10.2f}{r['prop_psnr']:11.2f}"
                  f"{r['prop_last_psnr']:11.2f}{r['hint_ms']:9.1f}")
    if speed:
        med = {m: statistics.median(d[m] for d in speed.values()) for m in speed_methods}
        report["speed"] = {"size": list(SPEED_SIZE), "frames": args.speed_frames, "reps": args.speed_reps,
                           "clips": speed, "median_ms_per_frame": med,
                           "median_fps": {m: 1000.0 / v for m, v in med.items()},
                           "ratio_vs_dis_chain": {m: med["dis_chain"] / v for m, v in med.items()}}
        print(f"\n== speed at {SPEED_SIZE[0]}x{SPEED_SIZE[1]}, propagation only, median over "
              f"{len(speed)} clips ({args.speed_frames} frames, best of {args.speed_reps}) ==")
        for m in speed_methods:
            print(f"{m.ljust(12)}{med[m]:8.1f} ms/frame {1000 / med[m]:7.1f} fps  "
                  f"x{med['dis_chain'] / med[m]:.2f} vs dis_chain")
    report["elapsed_s"] = time.perf_counter() - t_start
    print(f"\nelapsed {report['elapsed_s']:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
        print(f"wrote {args.json}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="hueshot bench", description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    problem = check_args(args)
    if problem:
        parser.error(problem)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
