"""``hueshot bench --farm``: the render farm's wall time beside the plain render.

    hueshot bench --farm [--shots 6] [--frames-per-shot 24] [--width 640 --height 360]
                         [--method NAME] [--workers 1,2] [--work DIR] [--keep]

Generates a reel of SHOTS hard-cut shots (each a different textured scene panning under a
moving object, a colour keyframe on its first frame, shots saved in the project), then, in
this one run and on the same reel:

* the plain render (app.core.render.render with the project's shots, in this process),
* a farm render on a local Ray cluster of N workers for each N of --workers,

and prints one table: wall time, fps, and for the farm the cluster start-up, the time until
the last task finished, the join, the speed-up over the plain render, and per task: its own
time on the worker (median), the fixed cost of a shot inside a task (task time minus its
frames at the plain render's per-frame time), and the overhead Ray adds per task (with one
worker: the task phase's wall time minus the sum of the tasks' own times, over the tasks; it
includes starting the worker process and importing the pipeline there). Every farm run's
frames are compared with the plain render's (PNG-exact through lossless FFV1).
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


# ------------------------------------------------------------------------------ the reel
def _scene_frames(k: int, n: int, w: int, h: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Shot k: its own texture scale, palette and motion. Returns (grey frames, colour key)."""
    from models.color import rgb_to_luma
    rng = np.random.default_rng(1000 + k)
    pan, speed = 2 + k, 3 + k % 3
    g = 6 + 4 * k
    tex = rng.random((h // g + 2, (w + pan * n) // g + 2)).astype(np.float32)
    tex = cv2.resize(tex, (w + pan * n, h), interpolation=cv2.INTER_CUBIC)
    tex = np.clip(0.55 + 0.4 * (tex - 0.5), 0, 1)
    bg_col = np.array([(40, 90, 200), (200, 80, 60), (30, 30, 110), (90, 200, 90), (150, 120, 60),
                       (120, 60, 160)][k % 6], np.float32)
    ob_col = np.array([(200, 40, 40), (40, 200, 60), (220, 200, 40), (160, 60, 200), (40, 180, 200),
                       (230, 120, 30)][k % 6], np.float32)
    s = h // 3
    otex = cv2.resize(rng.random((s // 6 + 2, s // 6 + 2)).astype(np.float32), (s, s))
    ramp = rgb_to_luma(np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2))[0]
    grey, key = [], None
    for i in range(n):
        img = tex[:, pan * i:pan * i + w, None] * bg_col
        x = min(w - s, 8 + speed * i)
        y = (h - s) // 2
        img[y:y + s, x:x + s] = (0.4 + 0.6 * otex[..., None]) * ob_col
        rgb = np.clip(img + 0.5, 0, 255).astype(np.uint8)
        if i == 0:
            key = rgb
        L = rgb_to_luma(rgb)
        gv = np.clip(np.searchsorted(ramp, L), 0, 255).astype(np.uint8)
        grey.append(np.repeat(gv[..., None], 3, axis=2))
    return grey, key


def make_reel(folder: Path, shots: int, per_shot: int, w: int, h: int, fps: int = 24) -> Path:
    """The reel (H.264 with a sine-tone audio track) and its project; returns the project path."""
    import av
    from fractions import Fraction
    from app.core.project import Project
    folder.mkdir(parents=True, exist_ok=True)
    src = folder / "reel.mp4"
    keys, ranges, frames = {}, [], []
    for k in range(shots):
        grey, key = _scene_frames(k, per_shot, w, h)
        keys[len(frames)] = key
        ranges.append((len(frames), len(frames) + per_shot - 1))
        frames += grey
    with av.open(str(src), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "12"}
        aus = out.add_stream("aac", rate=48000)
        aus.layout = "mono"
        for i, rgb in enumerate(frames):
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="itu709", src_color_range="JPEG", dst_color_range="MPEG")
            f.pts, f.time_base = i, Fraction(1, fps)
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        n = int(len(frames) / fps * 48000)
        pcm = (0.2 * np.sin(2 * np.pi * 440 * np.arange(n) / 48000)).astype(np.float32)
        for k in range(0, n, 1024):
            af = av.AudioFrame.from_ndarray(pcm[None, k:k + 1024].copy(), format="fltp", layout="mono")
            af.sample_rate, af.pts, af.time_base = 48000, k, Fraction(1, 48000)
            for p in aus.encode(af):
                out.mux(p)
        for p in aus.encode():
            out.mux(p)
    p = Project(src)
    for f, rgb in keys.items():
        p.set_keyframe(f, rgb)
    p.set_shots(ranges)
    return p.save(folder / "reel.hueshot")


def _frames(path: Path) -> list[np.ndarray]:
    import av
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


# ------------------------------------------------------------------------------ the runs
def run(args) -> int:
    from app.core.export import ExportSettings
    from app.core.renderfarm.farm import Farm
    from app.core.project import Project
    from app.core.render import job_from_project, render

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="hueshot-farm-timing-"))
    try:
        proj = make_reel(work / "reel", args.shots, args.frames_per_shot, args.width, args.height)
        doc = Project.load(proj)
        n = args.shots * args.frames_per_shot

        def job(out):
            j = job_from_project(doc, out, device="cpu", export=ExportSettings(format="ffv1"))
            if args.method:
                j.method = args.method
            j.shots = list(doc.shots)
            return j

        print(f"reel: {args.shots} shots x {args.frames_per_shot} frames, {args.width}x{args.height}, "
              f"method {job(work / 'x.mkv').method or 'default'}; output FFV1 (lossless) with audio")
        # warm-up (imports, weights) on the first shot, untimed: a farm worker pays the same
        # once (it shows as its first, cold task)
        warm = job(work / "warm.mkv")
        warm.end = doc.shots[0][1] + 1
        warm.shots = [doc.shots[0]]
        warm.keys = {f: v for f, v in warm.keys.items() if f < warm.end}
        render(warm)
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            render(job(work / "plain.mkv"))
            times.append(time.perf_counter() - t)
        plain_s = statistics.median(times)
        ref = _frames(work / "plain.mkv")
        per_frame = plain_s / n
        rows = []
        for workers in args.workers:
            out = work / f"farm{workers}.mkv"
            t = time.perf_counter()
            with Farm(f"local:{workers}") as farm:
                started = farm.started_seconds
                res = farm.render(job(out), doc.shots, n)
            total = time.perf_counter() - t
            if res.failures:
                print(f"farm local:{workers}: {len(res.failures)} shot(s) failed: {res.failures[0].message}")
                return 1
            got = _frames(out)
            diff = max(int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max()) for a, b in zip(got, ref))
            ts = sorted(res.task_seconds)
            warm_ts = ts[:-workers] or ts          # each worker's first task is its cold one
            rows.append(dict(
                name=f"farm local:{workers}", workers=workers, wall=total, start=started, tasks=res.seconds_tasks,
                join=res.seconds_join, cold=max(ts), warm=statistics.median(warm_ts),
                fixed=statistics.median(warm_ts) - args.frames_per_shot * per_frame,
                overhead=(res.seconds_tasks * workers - sum(ts)) / len(ts),
                same="identical" if diff == 0 and len(got) == len(ref) else f"max {diff} levels"))
        f = lambda v: f"{v:.2f}"
        print(f"\nplain render (median of {args.repeat}, warm): {plain_s:.2f} s, {n / plain_s:.1f} fps, "
              f"{per_frame * 1000:.1f} ms a frame\n")
        print("| run | wall s | cluster start s | tasks s | join s | tasks+join vs plain | task s cold | "
              "task s warm (median) | fixed s per shot (warm) | Ray s per task | frames vs plain |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['name']} | {f(r['wall'])} | {f(r['start'])} | {f(r['tasks'])} | {f(r['join'])} | "
                  f"{plain_s / (r['tasks'] + r['join']):.2f}x | {f(r['cold'])} | {f(r['warm'])} | "
                  f"{f(r['fixed'])} | {f(r['overhead'])} | {r['same']} |")
        print(f"\njoin on the head: {min(r['join'] for r in rows) / n * 1000:.1f} ms a frame (decode the lossless segments + "
              f"encode the output); task s cold = a worker's first shot (process start, imports, weights)")
        print("Ray s per task = (tasks s x workers - sum of the tasks' own times) / tasks: dispatch, "
              "argument and result transfer, idle cores while the last shots finish")
        return 0
    finally:
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="hueshot bench --farm", description=__doc__.split("\n\n")[0])
    p.add_argument("--shots", type=int, default=6)
    p.add_argument("--frames-per-shot", type=int, default=24)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--method", default=None, help="propagation method (default: the registry's default)")
    p.add_argument("--repeat", type=int, default=2, help="plain renders timed (median; default 2)")
    p.add_argument("--workers", default="1,2", help="local worker counts to run, comma-separated (default 1,2)")
    p.add_argument("--work", default=None, help="folder for the reel and the outputs (default: a temp folder)")
    p.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = p.parse_args(argv)
    try:
        args.workers = [int(x) for x in args.workers.split(",") if x.strip()]
    except ValueError:
        p.error(f"--workers {args.workers!r}: expected numbers like 1,2")
    if args.shots < 1 or args.frames_per_shot < 8 or not args.workers or min(args.workers) < 1:
        p.error("need --shots >= 1, --frames-per-shot >= 8 and worker counts >= 1")
    return run(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
