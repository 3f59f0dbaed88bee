"""`hueshot bench --interactive`: the interactive protocol of ../shared/BENCHMARK.md.

A robot editor paints one stroke per round on grey frames (no keyframe):
- round 1 on frame 0, later rounds on the frame whose mean chroma error |ab - true ab| is largest;
- where: the error map thresholded at 8, opened with a 5x5 ellipse; the connected region with
  the largest summed error; its centre is the point farthest from the region's edge (the frame
  border counts as an edge); a straight stroke through the centre along the region's principal
  axis, at most 0.1 H each way, stopping where it would leave the region; radius half the
  centre's distance to the edge, clipped to [2 px, 0.02 H];
- colour: the median true L, a, b over the stroke's pixels, as sRGB.
After each round the whole method runs again from all strokes so far, through the code path of
`hueshot propagate GREY -o OUT --hints STROKES.json` (models.keys.build_keys, then the
propagator), in process, and frames 0..N-1 are scored (true luma, predicted chroma, PSNR in RGB).

Every hint method (models.hinting.hints.HINT_METHODS) runs side by side beside `gray`. With `--hints` the
hint protocol (K random 5x5 true-chroma patches on frame 0, K = 0 being the automatic colour) is
scored on the keyframe for every hint method too.

    hueshot bench --interactive [--rounds 10] [--frames 60] [--clips DIR] [--clip-filter RE]
                                [--max-clips N] [--hint-methods a,b] [--hints] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from app.core.benchmarks.bench import DEFAULT_CLIPS, clip_luma_ab, load_clip, psnr, read_manifest
from models import registry
from models.base import HintStroke, ListLuma
from models.color import protocol_rgb as compose_rgb
from models.hinting.hints import HINT_METHODS, colorize_hints, sample_hint_points
from models.keys import build_keys

ERR_THRESHOLD = 8.0
HINT_PROTOCOL_KS = (0, 5, 20, 50)
HINT_SEED = 2026


# ----------------------------------------------------------------------------- the robot
def error_map(ab: np.ndarray, true_ab: np.ndarray) -> np.ndarray:
    d = np.asarray(ab, np.float32) - np.asarray(true_ab, np.float32)
    return np.sqrt(d[..., 0] ** 2 + d[..., 1] ** 2)


def robot_stroke(err: np.ndarray, true_lab: np.ndarray, frame: int) -> HintStroke | None:
    """The robot's stroke on one frame from its error map (None: nothing above threshold)."""
    h, w = err.shape
    m = (err > ERR_THRESHOLD).astype(np.uint8)
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    n, lab, _st, _c = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n <= 1:
        return None
    sums = np.bincount(lab.ravel(), weights=err.ravel(), minlength=n)
    sums[0] = -1
    region = (lab == int(np.argmax(sums))).astype(np.uint8)
    # the frame border counts as an edge: pad with background before the distance transform
    dist = cv2.distanceTransform(np.pad(region, 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    cy, cx = np.unravel_index(int(np.argmax(dist)), dist.shape)
    dc = float(dist[cy, cx])
    ys, xs = np.nonzero(region)
    pts = np.stack([xs, ys], 1).astype(np.float64)
    cov = np.cov((pts - pts.mean(0)).T) if len(pts) > 2 else np.eye(2)
    evals, evecs = np.linalg.eigh(cov)
    ux, uy = evecs[:, int(np.argmax(evals))]
    reach = 0.1 * h
    ends = []
    for sgn in (1.0, -1.0):
        k = 0
        while k + 1 <= reach:
            x = int(round(cx + sgn * (k + 1) * ux))
            y = int(round(cy + sgn * (k + 1) * uy))
            if not (0 <= x < w and 0 <= y < h) or not region[y, x]:
                break
            k += 1
        ends.append((int(round(cx + sgn * k * ux)), int(round(cy + sgn * k * uy))))
    r = int(round(np.clip(dc / 2.0, 2.0, 0.02 * h)))
    stamp = np.zeros((h, w), np.uint8)
    if ends[0] == ends[1]:
        cv2.circle(stamp, ends[0], r, 1, -1, lineType=cv2.LINE_8)
        points = [ends[0]]
    else:
        cv2.polylines(stamp, [np.array(ends, np.int32)], False, 1, thickness=2 * r + 1, lineType=cv2.LINE_8)
        for p in ends:
            cv2.circle(stamp, p, r, 1, -1, lineType=cv2.LINE_8)
        points = ends
    sel = stamp.astype(bool)
    med = np.median(true_lab[sel].reshape(-1, 3), axis=0).astype(np.float32)
    rgb = cv2.cvtColor(med.reshape(1, 1, 3), cv2.COLOR_Lab2RGB)[0, 0]
    color = tuple(int(v) for v in np.clip(np.rint(rgb * 255.0), 0, 255))
    return HintStroke(frame=frame, points=[(x / (w - 1), y / (h - 1)) for x, y in points],
                      radius=r / h, color=color)


# ----------------------------------------------------------------------------- one method
def run_strokes(L: list[np.ndarray], strokes: list[HintStroke], prop_method: str, hint_method: str):
    """All frames' chroma from the strokes, as `hueshot propagate --hints` computes them."""
    luma = ListLuma(L)
    prop = registry.get_propagator(prop_method)
    by_frame: dict[int, list[HintStroke]] = {}
    for s in strokes:
        by_frame.setdefault(s.frame, []).append(s)
    keys = build_keys(luma, {}, by_frame, prop, hint_method=hint_method)
    out = [None] * len(L)
    for fr in prop.run(luma, keys):
        out[fr.index] = fr.ab
    return out


def score(L, RGB, out) -> tuple[float, np.ndarray]:
    vals = np.array([psnr(compose_rgb(L[t], np.asarray(out[t], np.float32)), RGB[t]) for t in range(len(L))])
    return float(vals.mean()), vals


def interactive_clip(L, AB, LAB, RGB, rounds: int, prop_method: str, hint_method: str, log=None):
    """PSNR after 1..rounds strokes and seconds per round for one clip and hint method."""
    strokes: list[HintStroke] = []
    zero = np.zeros_like(AB[0])
    cur = [zero] * len(L)
    res = {"psnr": [], "round_s": [], "frames": [], "strokes": []}
    for r in range(rounds):
        if r == 0:
            f = 0
        else:
            errs = [float(error_map(cur[t], AB[t]).mean()) for t in range(len(L))]
            f = int(np.argmax(errs))
        s = robot_stroke(error_map(cur[f], AB[f]), LAB[f], f)
        if s is not None:
            strokes.append(s)
            t0 = time.perf_counter()
            cur = run_strokes(L, strokes, prop_method, hint_method)
            res["round_s"].append(time.perf_counter() - t0)
        p, _ = score(L, RGB, cur)
        res["psnr"].append(p)
        res["frames"].append(f)
        res["strokes"].append(None if s is None else {"frame": s.frame, "points": s.points, "radius": s.radius,
                                                       "color": list(s.color)})
        if log:
            log(f"    {hint_method} round {r + 1}: frame {f} -> {p:.2f} dB"
                + (f" ({res['round_s'][-1]:.1f} s)" if s is not None else " (no region above threshold)"))
    return res


# ----------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clips", type=Path, default=DEFAULT_CLIPS, help="folder with manifest.json")
    p.add_argument("--frames", type=int, default=60, help="first N frames per clip (default 60)")
    p.add_argument("--rounds", type=int, default=10, help="strokes per clip (default 10)")
    p.add_argument("--clip-filter", default=None, help="regular expression on clip names")
    p.add_argument("--max-clips", type=int, default=None, help="only the first N selected clips")
    p.add_argument("--hint-methods", default=None,
                   help=f"comma-separated hint methods (default all: {', '.join(HINT_METHODS)})")
    # the protocol runs `hueshot propagate GREY -o OUT --hints STROKES.json`: the CLI's default
    # propagator (quality, the export method), not the editor's preview method (flow)
    p.add_argument("--method", default=registry.QUALITY_METHOD,
                   help=f"propagator (default {registry.QUALITY_METHOD}, the CLI's default; "
                        f"{registry.DEFAULT_METHOD} is the editor's preview)")
    p.add_argument("--hints", action="store_true",
                   help="also score the hint protocol on frame 0 (K = 0 automatic, 5, 20, 50 points)")
    p.add_argument("--no-interactive", action="store_true", help="only the hint protocol (with --hints)")
    p.add_argument("--quiet", action="store_true", help="no per-round lines")
    p.add_argument("--json", type=Path, default=None, help="write the results as JSON here")


def _table(title, rows: dict[str, list[float]], cols: list[str]):
    print(f"\n== {title} ==")
    w = max(24, max(len(k) for k in rows) + 2)
    print("".ljust(w) + "".join(c.rjust(8) for c in cols))
    for k, v in rows.items():
        print(k.ljust(w) + "".join((f"{x:8.2f}" if x is not None else "       -") for x in v))


def run(args) -> int:
    manifest = read_manifest(Path(args.clips))
    if args.clip_filter:
        rx = re.compile(args.clip_filter)
        manifest = [e for e in manifest if rx.search(e["name"])]
    if args.max_clips:
        manifest = manifest[:args.max_clips]
    if not manifest:
        print("no clips selected", file=sys.stderr)
        return 2
    methods = [m.strip() for m in (args.hint_methods.split(",") if args.hint_methods else HINT_METHODS) if m.strip()]
    for m in methods:
        if m not in HINT_METHODS:
            print(f"unknown hint method {m!r}; available: {', '.join(HINT_METHODS)}", file=sys.stderr)
            return 2
    registry.get_propagator(args.method)
    log = None if args.quiet else (lambda s: print(s, flush=True))
    report = {"config": {"frames": args.frames, "rounds": args.rounds, "methods": methods, "propagator": args.method,
                         "clips": [e["name"] for e in manifest], "clips_dir": str(args.clips),
                         "time": time.strftime("%Y-%m-%d %H:%M:%S")}, "clips": {}}
    t_start = time.perf_counter()
    for e in manifest:
        clip = load_clip(Path(args.clips), e, args.frames)
        L, AB = clip_luma_ab(clip)
        RGB = [np.asarray(f) for f in clip.rgb]
        LAB = [np.dstack([l, ab]) for l, ab in zip(L, AB)]
        zero = [np.zeros_like(AB[0])] * len(L)
        gray, _ = score(L, RGB, zero)
        rec = {"gray": gray, "gray_key": psnr(compose_rgb(L[0], zero[0]), RGB[0]), "n": len(L),
               "size": list(clip.size)}
        print(f"[{time.perf_counter() - t_start:6.0f}s] {e['name']} {clip.size[0]}x{clip.size[1]} n={len(L)} "
              f"gray={gray:.2f}", flush=True)
        if not args.no_interactive:
            for m in methods:
                rec[m] = interactive_clip(L, AB, LAB, RGB, args.rounds, args.method, m, log)
                print(f"  {m}: " + " ".join(f"{p:.2f}" for p in rec[m]["psnr"])
                      + f"  ({np.median(rec[m]['round_s']) if rec[m]['round_s'] else 0:.1f} s/round)", flush=True)
        if args.hints:
            rec["hint_protocol"] = {}
            for m in methods:
                row = {}
                for k in HINT_PROTOCOL_KS:
                    if k == 0:
                        hint, mask = np.zeros_like(AB[0]), np.zeros(L[0].shape, np.float32)
                    else:
                        hint, mask = sample_hint_points(AB[0], k, HINT_SEED)
                    t0 = time.perf_counter()
                    ab0, _ = colorize_hints(L[0], hint, mask, method=m, fill=True)
                    row[f"K{k}"] = {"key_psnr": psnr(compose_rgb(L[0], ab0), RGB[0]),
                                    "ms": 1000 * (time.perf_counter() - t0)}
                rec["hint_protocol"][m] = row
            print("  hint protocol key PSNR (K=" + "/".join(map(str, HINT_PROTOCOL_KS)) + "): " + "  ".join(
                f"{m} " + "/".join(f"{rec['hint_protocol'][m][f'K{k}']['key_psnr']:.2f}" for k in HINT_PROTOCOL_KS)
                for m in methods) + f"  (gray {rec['gray_key']:.2f})", flush=True)
        report["clips"][e["name"]] = rec
        del clip, L, AB, RGB, LAB

    clips = report["clips"]
    names = list(clips)
    summary = {}
    if not args.no_interactive:
        cols = [str(i + 1) for i in range(args.rounds)]
        mean_rows = {"gray": [float(np.mean([clips[c]["gray"] for c in names]))] * args.rounds}
        for m in methods:
            mean_rows[m] = [float(np.mean([clips[c][m]["psnr"][i] for c in names])) for i in range(args.rounds)]
        for m in methods:
            _table(f"interactive protocol, {m}: PSNR per clip after 1..{args.rounds} strokes (gray first)",
                   {c: [clips[c][m]["psnr"][i] for i in range(args.rounds)] for c in names}, cols)
            print("gray per clip: " + ", ".join(f"{c} {clips[c]['gray']:.2f}" for c in names))
        _table(f"interactive protocol, mean over {len(names)} clips, {args.frames} frames, "
               f"propagator {args.method}: PSNR after 1..{args.rounds} strokes", mean_rows, cols)
        print("\nmethod".ljust(16) + "  +dB@1  +dB@5 +dB@10  clips<gray@1  worst@1 vs gray   s/round(median)")
        for m in methods:
            d = [np.array(clips[c][m]["psnr"]) - clips[c]["gray"] for c in names]
            at = lambda i: float(np.mean([x[i] for x in d])) if len(d[0]) > i else None
            below = [c for c, x in zip(names, d) if x[0] < 0]
            worst = min((x[0], c) for c, x in zip(names, d))
            rs = [s for c in names for s in clips[c][m]["round_s"]]
            summary[m] = {"gain_1": at(0), "gain_5": at(4), "gain_10": at(9), "below_gray_after_1": below,
                          "worst_1": {"clip": worst[1], "delta_db": worst[0]}, "mean_psnr": mean_rows[m],
                          "median_round_s": float(np.median(rs)) if rs else None}
            f = lambda v: "     -" if v is None else f"{v:+6.2f}"
            print(m.ljust(15) + f(at(0)) + " " + f(at(4)) + " " + f(at(9)) + f"  {len(below):>8}      "
                  f"{worst[0]:+6.2f} ({worst[1]})   {summary[m]['median_round_s'] or 0:.2f}")
        summary["gray"] = mean_rows["gray"][0]
    if args.hints:
        gk = float(np.mean([clips[c]["gray_key"] for c in names]))
        rows = {"gray": [gk] * len(HINT_PROTOCOL_KS)}
        hp = {}
        for m in methods:
            rows[m] = [float(np.mean([clips[c]["hint_protocol"][m][f"K{k}"]["key_psnr"] for c in names]))
                       for k in HINT_PROTOCOL_KS]
            worst0 = min((clips[c]["hint_protocol"][m]["K0"]["key_psnr"] - clips[c]["gray_key"], c) for c in names)
            hp[m] = {"mean_key_psnr": dict(zip([f"K{k}" for k in HINT_PROTOCOL_KS], rows[m])),
                     "auto_worst_vs_gray": {"clip": worst0[1], "delta_db": worst0[0]},
                     "median_ms": float(np.median([clips[c]["hint_protocol"][m][f"K{k}"]["ms"]
                                                   for c in names for k in HINT_PROTOCOL_KS]))}
        _table(f"hint protocol on frame 0 (5x5 true-chroma patches, seed {HINT_SEED}; K=0: automatic): "
               f"key PSNR, mean over {len(names)} clips", rows, [f"K={k}" for k in HINT_PROTOCOL_KS])
        for m in methods:
            print(f"{m}: automatic (K=0) worst clip vs gray {hp[m]['auto_worst_vs_gray']['delta_db']:+.2f} dB "
                  f"({hp[m]['auto_worst_vs_gray']['clip']}); median {hp[m]['median_ms']:.0f} ms per keyframe")
        summary["hint_protocol"] = hp
        summary["gray_key"] = gk
    report["summary"] = summary
    report["elapsed_s"] = time.perf_counter() - t_start
    print(f"\nelapsed {report['elapsed_s']:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
        print(f"wrote {args.json}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="hueshot bench --interactive", description=__doc__.split("\n")[0])
    add_arguments(p)
    args = p.parse_args(argv)
    if args.frames < 2 or args.rounds < 1 or (args.max_clips is not None and args.max_clips < 1):
        p.error("--frames must be >= 2, --rounds and --max-clips >= 1")
    if args.method not in registry.available_methods():
        p.error(f"--method: unknown propagation method {args.method!r} "
                f"(one of {', '.join(registry.available_methods())})")
    if args.clip_filter:
        try:
            re.compile(args.clip_filter)
        except re.error as exc:
            p.error(f"--clip-filter {args.clip_filter!r} is not a regular expression ({exc})")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
