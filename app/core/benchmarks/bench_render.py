"""End-to-end render benchmark: `hueshot propagate` on a generated 1080p H.264 clip, beside the
machine's own limit on the same clip.

    python -m app.core.benchmarks.bench_render [--frames 300] [--width 1920 --height 1080]
        [--methods flow,quality] [--repeat 3] [--output out.mp4] [--keep] [--work DIR]

Generates a grey clip (a textured background panning under a moving textured square) and a
colour keyframe for frame 0. Each round measures the decode+encode limit (PyAV decode and an
x264 superfast CRF 18 yuv420p encode of the same frames, nothing else) and then runs
`python -m app propagate` once per method in a child process (wall time of the whole command:
start-up, the luma pass and the render), and divides each render's fps by that round's limit.
The table gives the median, minimum and maximum over the rounds, the median ratio, each
child's peak RSS (wait4) and cores busy, and the median busy seconds per render stage. Below it,
per method: the limit's own work run with that render's output as the pictures encoded (what
the colour itself costs x264, which no render of that output escapes) and the time of the
first frame (start-up and the luma pass).
Targets: ratio >= 0.6 for flow (0.8 the aim), < 1.5 GB.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np


MAX_WIDTH, MAX_HEIGHT = 7680, 4320      # 8K UHD: the largest clip the benchmark generates


def _textures(w: int, h: int, pan_total: int, seed: int = 3):
    rng = np.random.default_rng(seed)
    bg = rng.random((h // 16 + 2, (w + pan_total) // 16 + 2)).astype(np.float32)
    bg = cv2.resize(bg, (w + pan_total, h), interpolation=cv2.INTER_CUBIC)
    fine = rng.random((h // 4 + 1, (w + pan_total) // 4 + 1)).astype(np.float32)
    bg = 0.6 * bg + 0.4 * cv2.resize(fine, (w + pan_total, h), interpolation=cv2.INTER_LINEAR)
    colour_bg = np.empty((h, w + pan_total, 3), np.uint8)
    for c, (lo, hi) in enumerate([(20, 70), (60, 140), (120, 230)]):   # a blue-green landscape
        colour_bg[..., c] = np.clip(lo + (hi - lo) * bg, 0, 255)
    s = h // 4
    obj = rng.random((s // 8 + 2, s // 8 + 2)).astype(np.float32)
    obj = cv2.resize(obj, (s, s), interpolation=cv2.INTER_CUBIC)
    colour_obj = np.empty((s, s, 3), np.uint8)
    for c, (lo, hi) in enumerate([(150, 250), (40, 90), (20, 60)]):     # an orange-red object
        colour_obj[..., c] = np.clip(lo + (hi - lo) * obj, 0, 255)
    return colour_bg, colour_obj


def colour_frame(i: int, n: int, w: int, h: int, tex) -> np.ndarray:
    bg, obj = tex
    off = min(i * 2, bg.shape[1] - w)
    frame = bg[:, off:off + w].copy()
    s = obj.shape[0]
    x = int((w - s) * i / max(n - 1, 1))
    y = (h - s) // 2 + int(h / 8 * np.sin(i / 15.0))
    frame[y:y + s, x:x + s] = obj
    return frame


def write_grey_h264(path: Path, frames, fps: int = 25, crf: int = 18) -> None:
    """Encode RGB frames (any iterable) as grey H.264, BT.709 limited range (the benchmarks' inputs)."""
    import av
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.options = {"preset": "ultrafast", "crf": str(crf)}
        for i, rgb in enumerate(frames):
            if i == 0:
                h, w = np.asarray(rgb).shape[:2]
                st.width, st.height, st.pix_fmt = w, h, "yuv420p"
            grey = cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2GRAY)
            f = av.VideoFrame.from_ndarray(grey, format="gray").reformat(
                format="yuv420p", dst_colorspace="itu709", dst_color_range="MPEG")
            f.pts, f.time_base = i, Fraction(1, fps)
            for p in st.encode(f):
                out.mux(p)
        for p in st.encode():
            out.mux(p)


def make_clip(path: Path, key_png: Path, n: int, w: int, h: int, fps: int = 24) -> None:
    tex = _textures(w, h, 2 * n + 2)

    def frames():
        for i in range(n):
            rgb = colour_frame(i, n, w, h, tex)
            if i == 0:
                cv2.imwrite(str(key_png), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            yield rgb
    write_grey_h264(path, frames(), fps=fps, crf=20)


def decode_encode_limit(clip: Path, out: Path) -> tuple[float, float]:
    """What this machine can do with the same frames and nothing else: PyAV decode to RGB and an
    x264 superfast CRF 18 yuv420p encode (the render's output settings), wall time."""
    return _decode_encode(clip, out, None)


def _decode_encode(clip: Path, out: Path, pics: list[np.ndarray] | None) -> tuple[float, float]:
    """(fps, wall seconds) of decoding `clip` to RGB and encoding pictures as the render's
    output is encoded: each decoded frame itself, or with `pics` the pictures given, one per
    decoded frame (as many frames as pictures)."""
    import av
    t = time.perf_counter()
    n = 0
    with av.open(str(clip)) as inp, av.open(str(out), "w") as dst:
        src = inp.streams.video[0]
        src.thread_type = "AUTO"
        rate = Fraction(src.average_rate or 24)
        st = dst.add_stream("libx264", rate=rate)
        st.width, st.height, st.pix_fmt = src.codec_context.width, src.codec_context.height, "yuv420p"
        st.options = {"preset": "superfast", "crf": "18"}
        for frame in inp.decode(src):
            if pics is not None and n >= len(pics):
                break
            rgb = frame.to_ndarray(format="rgb24")
            pic = rgb if pics is None else pics[n]
            f = av.VideoFrame.from_ndarray(pic, format="rgb24").reformat(format="yuv420p", dst_colorspace="itu709")
            f.pts, f.time_base = n, 1 / rate
            for p in st.encode(f):
                dst.mux(p)
            n += 1
        for p in st.encode():
            dst.mux(p)
    wall = time.perf_counter() - t
    return n / wall if wall > 0 else 0.0, wall


CEILING_BYTES = 1 << 30      # rendered frames colour_encode_ceiling holds (RGB): ~170 at 1080p


def colour_encode_ceiling(clip: Path, rendered: Path, out: Path) -> float:
    """The limit's own work (decode, RGB conversions, x264) with the render's output as the
    encoded pictures: the grey source decoded as the limit decodes it, and the rendered frames
    (decoded to RGB into memory beforehand, not timed; the first CEILING_BYTES of them)
    converted and encoded as the limit does its grey ones. Coloured pictures cost x264 more
    than grey ones: the ratio of this rate to the limit is what the colour itself costs the
    encoder (fps)."""
    import av
    pics = []
    with av.open(str(rendered)) as r:
        for f in r.decode(video=0):
            pics.append(f.to_ndarray(format="rgb24"))
            if len(pics) >= 2 and len(pics) * pics[0].nbytes >= CEILING_BYTES:
                break       # a rate: the first frames are enough (300 frames of 8K would be 30 GB)
    return _decode_encode(clip, out, pics)[0]


def _ceiling_in_child(clip: Path, rendered: Path, out: Path, env: dict) -> float:
    """colour_encode_ceiling in a child process: it holds every rendered frame in memory, and
    a parent grown so large handed its size to the later renders' peak RSS (a child's maxrss
    counts what it inherits at the fork: 1162 MB for flow instead of ~540)."""
    code = ("import sys; from pathlib import Path; from app.core.benchmarks.bench_render import "
            "colour_encode_ceiling as c; print(c(*map(Path, sys.argv[1:4])))")
    p = subprocess.run([sys.executable, "-c", code, str(clip), str(rendered), str(out)], env=env,
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"the colour-encode measurement failed: {p.stderr.strip()[-500:]}")
    return float(p.stdout.strip().splitlines()[-1])


def _render_once(cmd: list[str], env: dict, frames: int) -> dict:
    """One `hueshot propagate` child: fps, peak RSS and CPU of that child alone, stage seconds."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    stages = {}
    first = None
    for line in err.splitlines():
        if line.startswith("first frame after "):
            first = float(line.split()[3])
        if line.startswith("busy seconds per stage"):
            for part in line.split(": ", 1)[1].split(", "):
                k, v = part.rsplit(" ", 1)
                stages[k] = float(v)
    if p.returncode != 0:
        sys.stderr.write(err[-2000:])
    cpu = ru.ru_utime + ru.ru_stime
    return {"rc": p.returncode, "wall": wall, "fps": frames / wall if wall > 0 else 0.0,
            "rss_mb": ru.ru_maxrss / 1024.0, "cores": cpu / wall if wall > 0 else 0.0, "stages": stages,
            "first_s": first}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hueshot bench --render", description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--methods", default="flow", help="comma-separated methods to render (default flow; "
                    "flow,quality puts the editor's export method beside it)")
    ap.add_argument("--method", default=None, help="one method (the same as --methods NAME)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds of limit + renders (medians over them)")
    ap.add_argument("--no-limit", action="store_true", help="skip the decode+encode limit measurement")
    ap.add_argument("--proxy-height", type=int, default=480)
    ap.add_argument("--output", default=None, help="output file (default: out.mp4 in the work folder)")
    ap.add_argument("--work", default=None, help="folder for the generated clip (reused if present)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args(argv)
    methods = [args.method] if args.method else [m.strip() for m in args.methods.split(",") if m.strip()]
    if args.repeat < 1 or args.frames < 2 or not methods:
        ap.error("--repeat must be >= 1, --frames >= 2 and --methods not empty")
    if args.height < 64 or args.width < max(32, args.height // 4):
        # the clip's moving object is a quarter of the height square; a render needs 32x64
        ap.error("--height must be >= 64 and --width >= 32 and >= a quarter of --height")
    if args.width > MAX_WIDTH or args.height > MAX_HEIGHT:
        # a frame of 100000x100000 was a 40 GB allocation: an internal error after a while
        ap.error(f"--width {args.width} --height {args.height}: at most {MAX_WIDTH}x{MAX_HEIGHT}")
    from app.core.export import ExportError, _check_writable_dir, check_sequence_target, detect_format
    from app.core.validate import ValidationError, check_proxy_height
    try:
        check_proxy_height(args.proxy_height, "", "--proxy-height")
        if args.output is not None:
            # every render of the benchmark writes it: a bad one failed each render after the
            # clip was made, and the table still gave those renders' fps
            if not args.output.strip():
                raise ValidationError("--output is empty; give a video file or a folder")
            target = Path(args.output)
            fmt = detect_format(target)
            _check_writable_dir(target)
            if fmt in ("png", "tiff"):
                check_sequence_target(target)
    except (ExportError, ValidationError) as exc:
        ap.error(str(exc))
    if args.work is not None and Path(args.work).exists() and not Path(args.work).is_dir():
        ap.error(f"--work {args.work}: is a file; give a folder for the generated clip")
    from models.registry import available_methods
    unknown = [m for m in methods if m not in available_methods()]
    if unknown:
        ap.error(f"unknown method {unknown[0]!r} (one of {', '.join(available_methods())})")

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="hueshot-bench-render-"))
    work.mkdir(parents=True, exist_ok=True)
    clip = work / f"grey_{args.width}x{args.height}_{args.frames}.mp4"
    key = work / f"key0_{args.width}x{args.height}.png"
    if not clip.exists() or not key.exists():
        t = time.perf_counter()
        make_clip(clip, key, args.frames, args.width, args.height)
        print(f"generated {clip.name} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    out = Path(args.output) if args.output else work / "out.mp4"
    root = Path(__file__).resolve().parents[3]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in [str(root), os.environ.get("PYTHONPATH", "")] if p))
    # each round renders from a fresh copy of the clip, with its luma cache in the work folder:
    # no luma pass of an earlier round is reused, and nothing is left in the user's cache
    env["HUESHOT_CACHE_DIR"] = str(work / "cache")
    limits: list[float] = []
    runs: dict[str, list[dict]] = {m: [] for m in methods}
    rc = 0
    for r in range(args.repeat):
        if not args.no_limit:
            limits.append(decode_encode_limit(clip, work / "limit.mp4")[0])
        for m in methods:
            src = work / f"round{r}_{m}_{clip.name}"
            shutil.copyfile(clip, src)
            cmd = [sys.executable, "-m", "app", "propagate", str(src), "-o", str(out), "--key", f"0={key}",
                   "--proxy-height", str(args.proxy_height), "--verbose", "--quiet", "--method", m]
            res = _render_once(cmd, env, args.frames)
            if res["rc"] == 0 and not args.no_limit and detect_format(out) == "h264":
                try:
                    res["ceiling"] = _ceiling_in_child(src, out, work / "ceiling.mp4", env)
                except RuntimeError as exc:      # the render's own figures still stand
                    print(f"hueshot bench --render: {exc}", file=sys.stderr)
            src.unlink()
            shutil.rmtree(work / "cache", ignore_errors=True)
            if res["rc"] != 0:
                # a failed render has no speed: its fps (frames over the time it took to fail)
                # went into the table as a result
                print(f"hueshot bench --render: the {m} render of round {r + 1} failed (exit {res['rc']}; "
                      f"its error is above): no figures are given", file=sys.stderr)
                if not args.keep and not args.work:
                    shutil.rmtree(work, ignore_errors=True)
                return res["rc"]
            runs[m].append(res)
            rc = rc or res["rc"]
            lim = f", limit {limits[-1]:.1f} fps" if limits else ""
            print(f"round {r + 1}/{args.repeat} {m}: {res['fps']:.2f} fps{lim}", file=sys.stderr)

    med = lambda xs: float(np.median(xs)) if xs else float("nan")
    print(f"\n{args.width}x{args.height}, {args.frames} frames, H.264 -> H.264 (x264 superfast CRF 18), "
          f"proxy {args.proxy_height}, {args.repeat} round(s), load average {os.getloadavg()[0]:.1f}")
    print("| run | fps median | min..max | ratio to limit (median) | peak RSS MB | cores busy |")
    print("|---|---|---|---|---|---|")
    if limits:
        print(f"| decode+encode limit | {med(limits):.2f} | {min(limits):.2f}..{max(limits):.2f} | 1 | - | - |")
    for m in methods:
        fps = [x["fps"] for x in runs[m]]
        ratio = med([x["fps"] / lim for x, lim in zip(runs[m], limits)]) if limits else float("nan")
        print(f"| {m} | {med(fps):.2f} | {min(fps):.2f}..{max(fps):.2f} | {ratio:.3f} | "
              f"{max(x['rss_mb'] for x in runs[m]):.0f} | {med([x['cores'] for x in runs[m]]):.2f} |")
    for m in methods:
        ceil = [x["ceiling"] / lim for x, lim in zip(runs[m], limits) if "ceiling" in x]
        first = [x["first_s"] for x in runs[m] if x["first_s"] is not None]
        if ceil:
            print(f"{m}: the limit's work with its output's coloured frames as the pictures encoded: "
                  f"{med([x['ceiling'] for x in runs[m] if 'ceiling' in x]):.2f} fps, ratio {med(ceil):.3f} "
                  "to the limit" + (f"; first frame {med(first):.2f} s after the command started" if first else ""))
    for m in methods:
        keys = runs[m][0]["stages"].keys()
        if keys:
            print(f"{m}: median busy seconds per stage (threads overlap): " +
                  ", ".join(f"{k} {med([x['stages'].get(k, 0.0) for x in runs[m]]):.1f}" for k in keys))
    if not args.keep and not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
