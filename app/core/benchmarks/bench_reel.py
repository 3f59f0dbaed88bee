"""`hueshot bench --reel`: reels of many shots, built at run time, cuts known.

    hueshot bench --reel [--clips DIR] [--short 300] [--long 3000] [--method flow] [--size WxH]
                         [--skip-cuts] [--skip-psnr] [--skip-memory] [--editor]
                         [--hour [--hour-seconds 3600] [--hour-size 1920x1080]]
                         [--film [--film-shots 2000] [--film-seconds 8] [--film-runs 3]]

Reports, each measured in this run:
- cut detection: montages of the shared clips (every clip a shot, resized to one size, greyed,
  H.264-encoded in a temp folder and read back through the app's own luma pass), precision and
  recall of the detected cuts at +-1 frame; and the cuts reported inside each single clip (want 0).
- per-shot propagation: the montage's luma with the true colour of each shot's first frame as
  its key, propagated as one reel (shots detected, app.core.reels.shots.propagate_shots) and each shot
  on its own; mean PSNR of both (the first-frame protocol's scoring: true luma + predicted
  chroma) and the largest chroma difference between the two on any frame (a frame that took
  colour from another shot's key would differ).
- memory and time to first frame: `hueshot propagate` on synthetic reels of two lengths (shots
  of a textured panning scene, a new scene at each cut), peak RSS of the child process and the
  seconds until its first output frame was written.
- with --editor: the editor (offscreen, a real MainWindow) opening the same reels and showing
  every frame (waiting for each one read on demand), peak RSS and time to the first frame.
- with --hour: the editor on a 1-hour 1080p H.264 file (4-shot 10 s clip whose packets are
  copied with shifted timestamps): seconds to the first frame, peak RSS while it plays and
  scrubs far into frames the background scan has not read.
- with --film: the editor's GUI thread while it opens a film-scale reel (2,000 generated shots of
  8-62 frames at 160x96, ~70,000 frames, H.264): the longest stall of its event loop over the
  open and the seconds after (each split into the GUI thread's own work, its wait for a CPU,
  and the rest: blocked, e.g. on the GIL), as `hueshot FILE` opens it (first open and reopen)
  and as an editor that was idle opens it; --film-runs rounds, the conditions alternating.
Nothing generated is kept (temp folders), except the --hour file (made once, in the temp
folder's hueshot-bench-hour/); the shared clips are only read.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from app.core.benchmarks.bench_render import write_grey_h264

REPO = Path(__file__).resolve().parents[3]
MONTAGE_SIZE = (640, 360)


# ------------------------------------------------------------------------ montages
def montage_shots(clips_dir: Path, max_len: int = 40, min_len: int = 20, seed: int = 14):
    """[(clip name, RGB frames at MONTAGE_SIZE)] one shot per clip, lengths min_len..max_len."""
    from app.core.benchmarks.bench import load_clip, read_manifest
    rng = np.random.default_rng(seed)
    shots = []
    for e in read_manifest(clips_dir):
        clip = load_clip(clips_dir, e, 120)
        n = len(clip.rgb)
        length = int(rng.integers(min_len, max_len + 1))
        length = min(length, n)
        off = int(rng.integers(0, max(1, n - length)))
        frames = np.stack([cv2.resize(np.asarray(f), MONTAGE_SIZE, interpolation=cv2.INTER_AREA)
                           for f in clip.rgb[off:off + length]])
        shots.append((e["name"], frames))
    return shots


def cut_scores(found: list[int], truth: list[int], tol: int = 1) -> tuple[float, float, int, int]:
    """(precision, recall, true positives, false positives) with one-to-one matching at +-tol."""
    left = sorted(truth)
    tp = 0
    for c in sorted(found):
        hit = next((t for t in left if abs(t - c) <= tol), None)
        if hit is not None:
            left.remove(hit)
            tp += 1
    fp = len(found) - tp
    p = tp / len(found) if found else 1.0
    r = tp / len(truth) if truth else 1.0
    return p, r, tp, fp


def detect_file(path: Path, cache: Path) -> tuple[list[tuple[int, int]], int]:
    """Shots of a file through the app's own luma pass (app.core.reels.lumastore)."""
    from app.core.reels.lumastore import open_store
    store = open_store(path, cache)
    return store.shots, len(store)


def bench_cuts(clips_dir: Path, work: Path, montages: int = 4) -> dict:
    shots_all = []
    found_all, truth_all = [], []
    for m in range(montages):
        shots = montage_shots(clips_dir, seed=14 + m)
        if m % 2:
            shots = shots[::-1]
        if m >= 2:   # other neighbours at each cut
            shots = [shots[i] for i in np.random.default_rng(m).permutation(len(shots))]
        shots_all.append(shots)
        path = work / f"montage_{m}.mp4"
        write_grey_h264(path, (f for _, fr in shots for f in fr))
        truth = list(np.cumsum([len(fr) for _, fr in shots])[:-1])
        found, n = detect_file(path, work / "cache")
        cuts = [a for a, _ in found[1:]]
        p, r, tp, fp = cut_scores(cuts, truth)
        print(f"montage {m}: {n} frames, {len(truth)} true cuts, {len(cuts)} found, "
              f"precision {p:.3f} recall {r:.3f} (+-1 frame)", flush=True)
        found_all.append(cuts)
        truth_all.append(truth)
    tp = sum(cut_scores(f, t)[2] for f, t in zip(found_all, truth_all))
    nf = sum(len(f) for f in found_all)
    nt = sum(len(t) for t in truth_all)
    res = {"cuts_true": nt, "cuts_found": nf, "precision": tp / nf if nf else 1.0, "recall": tp / nt if nt else 1.0}
    # single continuous clips: every frame the cache holds (up to 120), greyed and encoded
    from app.core.benchmarks.bench import load_clip, read_manifest
    inside = {}
    for e in read_manifest(clips_dir):
        clip = load_clip(clips_dir, e, 120)
        path = work / f"single_{e['name']}.mp4"
        frames = [np.asarray(f) for f in clip.rgb]
        if frames[0].shape[1] % 2 or frames[0].shape[0] % 2:
            frames = [f[:f.shape[0] // 2 * 2, :f.shape[1] // 2 * 2] for f in frames]
        write_grey_h264(path, frames)
        found, n = detect_file(path, work / "cache")
        inside[e["name"]] = (n, len(found) - 1)
    res["false_cuts_in_single_clips"] = {k: v[1] for k, v in inside.items()}
    res["single_clip_frames"] = sum(v[0] for v in inside.values())
    return res, shots_all[0]


# ------------------------------------------------------------------ per-shot PSNR
def bench_per_shot(shots, method: str) -> dict:
    """One reel (shots detected) vs each shot alone, keys = each shot's true first frame."""
    from app.core.benchmarks.bench import psnr
    from app.core.reels.shots import ShotDetector, plan_shots, propagate_shots
    from models.base import ListLuma
    from models.color import protocol_rgb, rgb_to_lab
    from models.registry import get_propagator
    L, AB, RGB = [], [], []
    for _, fr in shots:
        for f in fr:
            lab = rgb_to_lab(f)
            L.append(np.ascontiguousarray(lab[..., 0]))
            AB.append(np.ascontiguousarray(lab[..., 1:]))
            RGB.append(f)
    det = ShotDetector()
    for i, l in enumerate(L):
        det.feed(i, np.clip(l * 2.55 + 0.5, 0, 255).astype(np.uint8))
    found = det.shots(len(L))
    starts = list(np.cumsum([0] + [len(fr) for _, fr in shots])[:-1])
    keys = {int(s): AB[s] for s in starts}
    prop = get_propagator(method)
    t = time.perf_counter()
    reel = {pf.index: np.asarray(pf.ab, np.float32) for pf in
            propagate_shots(prop, ListLuma(L), plan_shots(found, keys, {}))}
    t_reel = time.perf_counter() - t
    sep = {}
    t = time.perf_counter()
    for s, (_, fr) in zip(starts, shots):
        s = int(s)
        for pf in prop.run(ListLuma(L[s:s + len(fr)]), {0: AB[s]}):
            sep[s + pf.index] = np.asarray(pf.ab, np.float32)
    t_sep = time.perf_counter() - t
    scored = [i for i in range(len(L)) if i not in keys]
    p_reel = float(np.mean([psnr(protocol_rgb(L[i], reel[i]), RGB[i]) for i in scored]))
    p_sep = float(np.mean([psnr(protocol_rgb(L[i], sep[i]), RGB[i]) for i in scored]))
    diff = max(float(np.abs(reel[i] - sep[i]).max()) for i in range(len(L)))
    return {"frames": len(L), "shots": len(shots), "shots_detected": len(found), "psnr_reel": p_reel,
            "psnr_separate": p_sep, "max_abs_ab_diff": diff, "seconds_reel": t_reel, "seconds_separate": t_sep}


# --------------------------------------------------------------------- memory
def synthetic_reel(path: Path, key_dir: Path, n: int, shot_len: int, size=(854, 480)) -> list[tuple[int, Path]]:
    """A grey H.264 reel of n frames, a new synthetic scene every shot_len frames; returns the
    colour key (first frame) of each shot."""
    from app.core.benchmarks.bench_render import _textures, colour_frame
    w, h = size
    keys = []
    state = {}

    def frames():
        for i in range(n):
            s, j = divmod(i, shot_len)
            if state.get("shot") != s:
                state["shot"], state["tex"] = s, _textures(w, h, 2 * shot_len + 2, seed=100 + s)
            rgb = colour_frame(j, shot_len, w, h, state["tex"])
            if j == 0:
                kp = key_dir / f"key_{i:06d}.png"
                cv2.imwrite(str(kp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                keys.append((i, kp))
            yield rgb
    write_grey_h264(path, frames())
    return keys


def run_propagate(reel: Path, keys, out: Path, method: str, cache: Path) -> dict:
    """`hueshot propagate` in a child; its peak RSS and the time its first output frame appeared."""
    cmd = [sys.executable, "-m", "app", "propagate", str(reel), "-o", str(out), "--method", method, "--verbose"]
    for f, p in keys:
        cmd += ["--key", f"{f}={p}"]
    env = dict(os.environ, HUESHOT_CACHE_DIR=str(cache),
               PYTHONPATH=os.pathsep.join(x for x in [str(REPO), os.environ.get("PYTHONPATH", "")] if x))
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"hueshot propagate failed ({r.returncode}): {r.stderr[-2000:]}")
    first = None
    for line in r.stderr.splitlines():
        if line.startswith("first frame after"):
            first = float(line.split()[3])
    return {"wall_s": wall, "first_frame_s": first}


def bench_memory(work: Path, lengths: list[int], method: str, shot_len: int = 100, size=(854, 480)) -> dict:
    out = {}
    for n in lengths:
        d = work / f"reel_{n}"
        d.mkdir()
        reel = d / "reel.mp4"
        keys = synthetic_reel(reel, d, n, shot_len, size)
        # a wrapper process per run, so RUSAGE_CHILDREN is that run's child alone
        wrapper = [sys.executable, "-c",
                   "import json, resource, sys; from app.core.benchmarks.bench_reel import run_propagate as r; from pathlib import Path; "
                   "a = json.loads(sys.argv[1]); res = r(Path(a[0]), a[1], Path(a[2]), a[3], Path(a[4])); "
                   "res['peak_mb'] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0; print(json.dumps(res))",
                   json.dumps([str(reel), [(f, str(p)) for f, p in keys], str(d / "out.mp4"), method, str(d / "cache")])]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(x for x in [str(REPO), os.environ.get("PYTHONPATH", "")] if x))
        r = subprocess.run(wrapper, env=env, capture_output=True, text=True, cwd=str(REPO))
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-3000:])
        res = json.loads(r.stdout.strip().splitlines()[-1])
        res["frames"], res["shots"] = n, len(keys)
        out[n] = res
        print(f"{n} frames ({len(keys)} shots, {size[0]}x{size[1]}, {method}): peak RSS {res['peak_mb']:.0f} MB, "
              f"first frame after {res['first_frame_s']:.1f} s, wall {res['wall_s']:.1f} s", flush=True)
        import shutil
        shutil.rmtree(d, ignore_errors=True)
    return out


# ---------------------------------------------------------------- editor memory
# The editor runs in a child process (app.gui.benchmarks.bench_reel_editor): app/core imports no Qt.


def bench_editor(work: Path, lengths: list[int], shot_len: int = 100, size=(854, 480)) -> dict:
    """The editor (offscreen, a real MainWindow) opening each synthetic reel and showing every
    frame in turn: its peak RSS and the seconds until the shot was open."""
    out = {}
    for n in lengths:
        d = work / f"editor_{n}"
        d.mkdir()
        reel = d / "reel.mp4"
        synthetic_reel(reel, d, n, shot_len, size)
        env = dict(os.environ, HUESHOT_CACHE_DIR=str(d / "cache"), HUESHOT_RECOVERY_DIR=str(d / "rec"),
                   HUESHOT_QUEUE_FILE=str(d / "queue.json"),
                   PYTHONPATH=os.pathsep.join(x for x in [str(REPO), os.environ.get("PYTHONPATH", "")] if x))
        r = subprocess.run([sys.executable, "-m", "app.gui.benchmarks.bench_reel_editor", str(reel), str(d)], env=env,
                           capture_output=True, text=True, cwd=str(REPO))
        if r.returncode != 0 or not r.stdout.strip():
            raise RuntimeError(f"editor run failed ({r.returncode}): {r.stderr[-3000:]}")
        res = json.loads(r.stdout.strip().splitlines()[-1])
        out[n] = res
        print(f"editor, {n} frames ({size[0]}x{size[1]}): open {res['open_s']:.1f} s, played at "
              f"{res['play_fps']:.0f} fps, peak RSS {res['peak_mb']:.0f} MB", flush=True)
        import shutil
        shutil.rmtree(d, ignore_errors=True)
    return out


# ------------------------------------------------------------ a 1-hour 1080p file
BASE_SHOT = 60          # frames per shot of the base clip (4 shots: a 10 s clip at 24 fps)


def _base_frames(w: int, h: int, n: int, shot_len: int):
    """Grey frames, a new scene (pattern, direction) every shot_len frames: cheap to draw at 1080p."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(n):
        s, j = divmod(i, shot_len)
        rng = np.random.default_rng(500 + s)
        fx, fy, ph = rng.uniform(2, 9), rng.uniform(2, 9), rng.uniform(0, 6.3)
        d = 1 if s % 2 == 0 else -1
        g = 110 + 60 * np.sin(2 * np.pi * (fx * xx / w + d * j / 90.0) + ph) * np.cos(2 * np.pi * fy * yy / h)
        img = g.astype(np.uint8)
        cx = int(w * (0.2 + 0.6 * j / shot_len)) if d > 0 else int(w * (0.8 - 0.6 * j / shot_len))
        cv2.circle(img, (cx, h // 2), h // 6, int(rng.integers(200, 250)), -1)
        cv2.rectangle(img, (w // 8, h // 8 + 2 * j), (w // 8 + w // 6, h // 8 + h // 5 + 2 * j), int(rng.integers(10, 60)), -1)
        yield np.dstack([img, img, img])


def hour_file(seconds: int = 3600, size=(1920, 1080), fps: int = 24, folder: Path | None = None) -> Path:
    """A long grey H.264 file made cheaply: a 10 s clip (4 shots) encoded once, its packets
    copied again and again with shifted timestamps (no re-encode; every copy starts with an IDR
    frame, so every copy decodes alike). Kept in the temp folder for the next run."""
    import av
    w, h = size
    folder = folder or Path(tempfile.gettempdir()) / "hueshot-bench-hour"
    folder.mkdir(parents=True, exist_ok=True)
    out_path = folder / f"hour_{w}x{h}_{seconds}s_{fps}fps.mp4"
    if out_path.exists():
        return out_path
    base = folder / f"base_{w}x{h}_{fps}fps.mp4"
    n = 4 * BASE_SHOT
    if not base.exists():
        tmp = base.with_suffix(".tmp.mp4")
        write_grey_h264(tmp, _base_frames(w, h, n, BASE_SHOT), fps=fps, crf=30)
        os.replace(tmp, base)
    copies = -(-seconds * fps // n)
    tmp = out_path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as out:
        with av.open(str(base)) as first:
            st = out.add_stream_from_template(first.streams.video[0])
        for k in range(copies):
            with av.open(str(base)) as inp:
                vs = inp.streams.video[0]
                shift = None
                for pkt in inp.demux(vs):
                    if pkt.dts is None:
                        continue
                    if shift is None:   # one copy lasts n frames in the stream's time base
                        shift = int(round(n / fps / float(vs.time_base)))
                    pkt.pts += k * shift
                    pkt.dts += k * shift
                    pkt.stream = st
                    out.mux(pkt)
    os.replace(tmp, out_path)
    return out_path


def bench_hour(work: Path, seconds: int, size, play_s: float, scrubs: int) -> dict:
    """The editor (offscreen, a real MainWindow) opening the long file, playing it for play_s
    seconds and scrubbing to `scrubs` frames spread over it: first frame, waits, peak RSS."""
    t = time.perf_counter()
    path = hour_file(seconds, size)
    made = time.perf_counter() - t
    d = work / "editor_hour"
    d.mkdir()
    env = dict(os.environ, HUESHOT_CACHE_DIR=str(d / "cache"), HUESHOT_RECOVERY_DIR=str(d / "rec"),
               HUESHOT_QUEUE_FILE=str(d / "queue.json"),
               PYTHONPATH=os.pathsep.join(x for x in [str(REPO), os.environ.get("PYTHONPATH", "")] if x))

    def child(*extra):
        import shutil
        shutil.rmtree(d / "cache", ignore_errors=True)      # a first open: nothing stored yet
        r = subprocess.run([sys.executable, "-m", "app.gui.benchmarks.bench_reel_editor", str(path), str(d), *extra],
                           env=env, capture_output=True, text=True, cwd=str(REPO))
        if r.returncode != 0 or not r.stdout.strip():
            raise RuntimeError(f"editor run failed ({r.returncode}): {r.stderr[-3000:]}")
        return json.loads(r.stdout.strip().splitlines()[-1])
    res = child("--play-seconds", str(play_s), "--scrubs", str(scrubs))
    start = child("--at-start", "--play-seconds", "0")
    res["first_frame_at_start_s"] = start["first_frame_s"]
    res["peak_at_start_mb"] = start["peak_mb"]
    res["device_at_start_s"] = start.get("device_ready_s")
    res["file_mb"] = path.stat().st_size / 2**20
    res["file_made_s"] = made
    res["path"] = str(path)
    return res


# ------------------------------------------------------------ a film-scale reel
def film_reel(path: Path, shots: int = 2000, size=(160, 96), seed: int = 2026) -> int:
    """A grey H.264 reel of `shots` shots of 8-62 frames (a film's count of cuts, at a small
    frame size so it is quick to make and read): each shot a textured picture of its own
    panning at its own speed. Returns the frame count."""
    w, h = size
    lengths = np.random.default_rng(seed).integers(8, 63, shots)

    def frames():
        for k, n in enumerate(lengths):
            r = np.random.default_rng(seed + 1 + k)
            tex = cv2.resize(r.random((h // 8 + 1, (w + 200) // 8 + 1)).astype(np.float32), (w + 200, h),
                             interpolation=cv2.INTER_CUBIC)
            lo, hi = r.uniform(10, 120), r.uniform(130, 245)
            tex = np.clip(lo + (hi - lo) * tex, 0, 255).astype(np.uint8)
            tex = tex[::-1] if k % 2 else tex
            pan = int(r.integers(1, 4))
            for i in range(int(n)):
                x = (pan * i) % 200
                g = np.ascontiguousarray(tex[:, x:x + w])
                yield np.dstack([g, g, g])
    write_grey_h264(path, frames(), fps=24, crf=18)
    return int(lengths.sum())


def bench_film(work: Path, shots: int, seconds: float, runs: int) -> dict:
    """The GUI thread's longest stalls while the editor (offscreen, a real MainWindow, child
    processes) opens a film-scale reel: as `hueshot FILE` opens it with nothing stored yet
    (the background scan starts) and with the scan complete (a reopen), and as an idle editor
    opens it with nothing stored; `runs` rounds, the three alternating."""
    import shutil
    from app.core.reels.lumastore import open_store
    d = work / "film"
    d.mkdir()
    reel = d / "film.mp4"
    t = time.perf_counter()
    frames = film_reel(reel, shots)
    made = time.perf_counter() - t
    warm = d / "warm-cache"
    t = time.perf_counter()
    store = open_store(reel, warm)               # a scan that completed (the editor's proxy height)
    scanned_s, found = time.perf_counter() - t, len(store.shots)
    del store
    conds = {"hueshot FILE, first open": (["--at-start"], None),
             "hueshot FILE, reopen": (["--at-start"], warm),
             "idle editor, first open": ([], None)}
    out: dict = {"frames": frames, "shots_made": shots, "shots_found": found, "made_s": made,
                 "scan_s": scanned_s, "seconds": seconds, "runs": {k: [] for k in conds}}
    for r in range(runs):
        for name, (extra, cache) in conds.items():
            c = cache if cache is not None else d / "cold-cache"
            if cache is None:
                shutil.rmtree(c, ignore_errors=True)          # nothing stored yet
            env = dict(os.environ, HUESHOT_CACHE_DIR=str(c), HUESHOT_RECOVERY_DIR=str(d / "rec"),
                       HUESHOT_QUEUE_FILE=str(d / "queue.json"),
                       PYTHONPATH=os.pathsep.join(x for x in [str(REPO), os.environ.get("PYTHONPATH", "")] if x))
            p = subprocess.run([sys.executable, "-m", "app.gui.benchmarks.bench_reel_editor", str(reel), str(d),
                                "--stalls", str(seconds), *extra], env=env, capture_output=True, text=True,
                               cwd=str(REPO))
            if p.returncode != 0 or not p.stdout.strip():
                raise RuntimeError(f"editor run failed ({p.returncode}): {p.stderr[-3000:]}")
            res = json.loads(p.stdout.strip().splitlines()[-1])
            out["runs"][name].append(res)
            top = res["top"][0] if res["top"] else {}
            print(f"round {r + 1}, {name}: longest stall {res['longest_ms']:.0f} ms at {top.get('at_s', 0):.2f} s "
                  f"(GUI ran {top.get('ran_ms', 0):.0f}, waited {top.get('cpu_wait_ms', 0):.0f} for a CPU, "
                  f"blocked {top.get('blocked_ms', 0):.0f}); first frame {res['first_frame_s'] or float('nan'):.2f} s",
                  flush=True)
    return out


def _table(rows: list[tuple[str, str]]) -> str:
    w = max(len(a) for a, _ in rows)
    return "\n".join(f"  {a:<{w}}  {b}" for a, b in rows)


# ------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    from app.core.benchmarks.bench import DEFAULT_CLIPS
    ap = argparse.ArgumentParser(prog="hueshot bench --reel", description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    ap.add_argument("--short", type=int, default=300, help="frames of the short synthetic reel")
    ap.add_argument("--long", type=int, default=3000, help="frames of the long one (>= 10x --short)")
    ap.add_argument("--method", default="flow", help="method of the memory runs (default flow: speed)")
    ap.add_argument("--psnr-method", default="quality", help="method of the per-shot PSNR comparison")
    ap.add_argument("--size", default="854x480", help="frame size of the synthetic reels (default 854x480)")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-cuts", action="store_true", help="(also skips the PSNR part, which uses the montage)")
    ap.add_argument("--skip-psnr", action="store_true")
    ap.add_argument("--editor", action="store_true", help="also the editor opening and playing the reels")
    ap.add_argument("--hour", action="store_true",
                    help="the editor on a 1-hour 1080p H.264 file (made once, kept in the temp folder): "
                         "first frame, peak RSS while playing and scrubbing")
    ap.add_argument("--hour-seconds", type=int, default=3600, help="length of that file (default 3600)")
    ap.add_argument("--hour-size", default="1920x1080")
    ap.add_argument("--play-seconds", type=float, default=20.0, help="playback in the --hour run (default 20)")
    ap.add_argument("--scrubs", type=int, default=6, help="far scrubs in the --hour run (default 6)")
    ap.add_argument("--film", action="store_true",
                    help="the editor's longest GUI stalls opening a film-scale reel (made here, ~70,000 frames)")
    ap.add_argument("--film-shots", type=int, default=2000, help="shots of that reel (default 2000)")
    ap.add_argument("--film-seconds", type=float, default=8.0,
                    help="seconds measured from File > Open (default 8)")
    ap.add_argument("--film-runs", type=int, default=3, help="rounds of the three openings (default 3)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    for opt in ("size", "hour_size"):      # WxH, checked before minutes of cut detection
        m = re.fullmatch(r"(\d+)x(\d+)", getattr(args, opt).lower())
        if not m or int(m.group(1)) < 32 or int(m.group(2)) < 64:
            ap.error(f"--{opt.replace('_', '-')} must be WIDTHxHEIGHT, at least 32x64, got {getattr(args, opt)!r}")
    if args.short < 1 or (not args.skip_memory and args.long < 10 * args.short) or args.hour_seconds < 1 \
            or not args.play_seconds > 0 or args.scrubs < 0 or args.film_shots < 2 \
            or not args.film_seconds > 0 or args.film_runs < 1:
        ap.error("--short must be >= 1, --long >= 10x --short, --hour-seconds >= 1, --play-seconds > 0, "
                 "--scrubs >= 0, --film-shots >= 2, --film-seconds > 0 and --film-runs >= 1")
    report = {}
    with tempfile.TemporaryDirectory(prefix="hueshot-bench-reel-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        if not args.skip_cuts:
            cuts, shots = bench_cuts(args.clips, work)
            report["cuts"] = cuts
            bad = {k: v for k, v in cuts["false_cuts_in_single_clips"].items() if v}
            print(f"\n== cut detection (montages of {len(shots)} shared clips, +-1 frame) ==\n"
              f"true cuts {cuts['cuts_true']}, found {cuts['cuts_found']}: precision {cuts['precision']:.3f}, "
              f"recall {cuts['recall']:.3f} (target >= 0.95)\n"
              f"single continuous clips: {len(cuts['false_cuts_in_single_clips'])} clips, "
              f"{cuts['single_clip_frames']} frames, cuts reported inside: {sum(bad.values())} {bad or ''}"
              f" ({time.perf_counter() - t:.0f} s)", flush=True)
        if not args.skip_psnr and not args.skip_cuts:
            r = bench_per_shot(shots, args.psnr_method)
            report["per_shot"] = r
            print(f"\n== one reel vs each shot alone ({r['shots']} shots, {r['frames']} frames, "
                  f"{args.psnr_method}, key = each shot's first frame) ==\n"
                  f"shots detected {r['shots_detected']}; mean PSNR reel {r['psnr_reel']:.3f} dB, "
                  f"separately {r['psnr_separate']:.3f} dB, difference {r['psnr_reel'] - r['psnr_separate']:+.3f} dB "
                  f"(target within 0.2); largest |ab| difference on any frame {r['max_abs_ab_diff']:.4f}", flush=True)
        if not args.skip_memory:
            if args.long < 10 * args.short:
                print("--long must be at least 10x --short", file=sys.stderr)
                return 2
            w, h = (int(x) for x in args.size.lower().split("x"))
            print(f"\n== hueshot propagate on synthetic reels ({w}x{h}, shots of 100 frames) ==", flush=True)
            m = bench_memory(work, [args.short, args.long], args.method, size=(w, h))
            report["memory"] = m
            a, b = m[args.short], m[args.long]
            print(f"peak RSS {a['peak_mb']:.0f} MB at {args.short} frames, {b['peak_mb']:.0f} MB at {args.long}: "
                  f"ratio {b['peak_mb'] / a['peak_mb']:.3f} (target <= 1.15); first frame after "
                  f"{a['first_frame_s']:.1f} s and {b['first_frame_s']:.1f} s", flush=True)
        if args.editor:
            w, h = (int(x) for x in args.size.lower().split("x"))
            print(f"\n== the editor opening and playing synthetic reels ({w}x{h}) ==", flush=True)
            e = bench_editor(work, [args.short, args.long], size=(w, h))
            report["editor"] = e
            a, b = e[args.short], e[args.long]
            print(f"editor peak RSS {a['peak_mb']:.0f} MB at {args.short} frames, {b['peak_mb']:.0f} MB at "
                  f"{args.long}: ratio {b['peak_mb'] / a['peak_mb']:.3f} (target <= 1.15); open "
                  f"{a['open_s']:.1f} s and {b['open_s']:.1f} s", flush=True)
        if args.hour:
            w, h = (int(x) for x in args.hour_size.lower().split("x"))
            print(f"\n== the editor on a {args.hour_seconds} s {w}x{h} H.264 file ==", flush=True)
            r = bench_hour(work, args.hour_seconds, (w, h), args.play_seconds, args.scrubs)
            report["hour"] = r
            print(_table([
                ("file", f"{r['frames']} frames, {r['file_mb']:.0f} MB ({r['path']}; made in {r['file_made_s']:.0f} s)"),
                ("first frame shown", f"{r['first_frame_s']:.2f} s after File > Open, editor idle (target <= 2 s)"),
                ("  opened at start-up", f"{r['first_frame_at_start_s']:.2f} s (`hueshot FILE`: the worker's torch "
                                         f"import waits for the first frame; method ready after "
                                         f"{r['device_at_start_s'] or float('nan'):.2f} s)"),
                ("peak RSS", f"{r['peak_mb']:.0f} MB over open, play and scrubs (target <= 1500 MB)"),
                ("playback", f"{r['play_s']:.0f} s: {r['shown']} frames shown, {r['waits']} waits for a frame "
                             f"not read yet"),
                ("scrub to a frame not read yet", f"median {r['scrub_median_s']:.2f} s, longest "
                                                  f"{r['scrub_max_s']:.2f} s ({r['scrubs']} scrubs)"),
                ("background scan", f"{r['scanned']} frames read, {r['shots_found']} shots found so far"),
            ]), flush=True)
        if args.film:
            print(f"\n== the editor's GUI thread opening a film-scale reel ({args.film_shots} shots, 160x96) ==",
                  flush=True)
            f = bench_film(work, args.film_shots, args.film_seconds, args.film_runs)
            report["film"] = f
            rows = [("reel", f"{f['frames']} frames, {f['shots_made']} shots made, {f['shots_found']} detected "
                             f"(made in {f['made_s']:.0f} s, scanned in {f['scan_s']:.0f} s)")]
            for name, rs in f["runs"].items():
                ms = sorted(r["longest_ms"] for r in rs)
                ff = sorted(r["first_frame_s"] for r in rs if r["first_frame_s"] is not None)
                worst = max(rs, key=lambda r: r["longest_ms"])["top"][0]
                rows.append((name, f"longest stall {ms[len(ms) // 2]:.0f} ms median, {ms[-1]:.0f} max of "
                                   f"{len(ms)} (worst: GUI ran {worst['ran_ms']:.0f}, waited {worst['cpu_wait_ms']:.0f} "
                                   f"for a CPU, blocked {worst['blocked_ms']:.0f}, at {worst['at_s']:.2f} s); "
                                   f"first frame {ff[len(ff) // 2] if ff else float('nan'):.2f} s"))
            print(_table(rows), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)      # as the other benchmarks
        args.json.write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
