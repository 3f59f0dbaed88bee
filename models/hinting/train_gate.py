"""Train the `gate` hint method's confidence gate (models.hinting.gate) from scratch on this CPU.

    nice -n 10 .venv/bin/python -m models.hinting.train_gate --out models/weights/gate.pt

Data: the licensed training photos and video frames of models.prior.data (tier A / A- of
../shared/data/train; every 10th photo held out), at 480 lines like the benchmark's clips.
Episodes: on each picture the benchmark's robot editor (app.core.benchmarks.bench_interactive.
robot_stroke: most-wrong region, true colour) paints strokes one at a time on the current
result, as on a keyframe painted from scratch; corrections (one stroke over a base: the result
of earlier strokes, as propagated colour is on a later frame) and the hint protocol's random 5x5
true-chroma points are simulated too. Each step stores the gate's inputs and the fallback /
blend / true chroma at the working size for a few thousand random pixels.
The gate is first fitted to reproduce `geo`'s fade (so it starts at the classic method), then
trained to minimise the mean over pictures of log(ab MSE), the quantity whose mean is the
benchmark's mean PSNR (up to the RGB conversion). Episodes after round 1 are rolled out with
the current gate (`--rounds` passes), so the strokes it is trained on follow its own errors.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from models.hinting import gate as G

PIX = 1500          # pixels kept per step
HEIGHT = 480


def _pictures(paths, videos, stride: int, rng) -> list[np.ndarray]:
    from models.prior.data import read_rgb
    out = []
    for p in paths:
        rgb = read_rgb(p)
        h, w = rgb.shape[:2]
        s = min(HEIGHT / min(h, w), 1.0)
        if s < 1:
            rgb = cv2.resize(rgb, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)
        out.append(rgb)
    for v in videos:
        import av
        with av.open(str(v)) as c:
            for i, fr in enumerate(c.decode(c.streams.video[0])):
                if i % stride == stride // 2:
                    rgb = fr.to_ndarray(format="rgb24")
                    h, w = rgb.shape[:2]
                    if h > HEIGHT:
                        rgb = cv2.resize(rgb, (round(w * HEIGHT / h), HEIGHT), interpolation=cv2.INTER_AREA)
                    out.append(rgb)
    return out


def _lab(rgb):
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    return np.ascontiguousarray(lab[..., 0]), np.ascontiguousarray(lab[..., 1:])


N_IN = G.N_FEATURES       # set by main (--scene)


def _record(f, base_small, true_small, ref_small, rng):
    x = G.features(f, base_small, N_IN)
    h, w = x.shape[:2]
    k = min(PIX, h * w)
    sel = rng.choice(h * w, size=k, replace=False)
    fb = np.zeros_like(f["est"]) if base_small is None else base_small
    return (x.reshape(-1, x.shape[2])[sel], fb.reshape(-1, 2)[sel], f["est"].reshape(-1, 2)[sel],
            true_small.reshape(-1, 2)[sel], G.geo_gate(f).reshape(-1)[sel], ref_small.reshape(-1, 2)[sel])


def episodes(pics, gate, rounds: int, rng, log=None):
    """Steps (features, fallback, blend, true, geo gate) from robot episodes on every picture."""
    from app.core.benchmarks.bench_interactive import error_map, robot_stroke
    from models.hinting.hints import rasterize, sample_hint_points
    steps = []
    t0 = time.time()
    for i, rgb in enumerate(pics):
        L, AB = _lab(rgb)
        LAB = np.dstack([L, AB])
        strokes, cur = [], np.zeros_like(AB)
        ts = None
        for r in range(rounds):
            s = robot_stroke(error_map(cur, AB), LAB, 0)
            if s is None:
                break
            # a correction: the new stroke alone over the current result as the base
            if r > 0 and rng.random() < 0.5:
                hab, m = rasterize(L.shape, [s])
                fc = G.geodesic_fields(L, hab, m)
                if fc is not None:
                    w, h = fc["size"]
                    base_small = cv2.resize(cur, (w, h), interpolation=cv2.INTER_AREA)
                    ts = cv2.resize(AB, (w, h), interpolation=cv2.INTER_AREA)
                    steps.append(_record(fc, base_small, ts, base_small, rng))
            strokes.append(s)
            hab, m = rasterize(L.shape, strokes)
            f = G.geodesic_fields(L, hab, m)
            if f is None:
                break
            w, h = f["size"]
            ts = cv2.resize(AB, (w, h), interpolation=cv2.INTER_AREA)
            steps.append(_record(f, None, ts, cv2.resize(cur, (w, h), interpolation=cv2.INTER_AREA), rng))
            cur, _ = G.gate_colorize(L, hab, m, gate=gate, fields=f)
        # the hint protocol: K random true-chroma points fill the frame
        k = int(rng.choice([2, 5, 10, 20, 50]))
        hab, m = sample_hint_points(AB, k, int(rng.integers(1 << 30)))
        f = G.geodesic_fields(L, hab, m)
        if f is not None:
            w, h = f["size"]
            steps.append(_record(f, None, cv2.resize(AB, (w, h), interpolation=cv2.INTER_AREA),
                                 np.zeros((h, w, 2), np.float32), rng))
        if log and (i + 1) % 25 == 0:
            log(f"  episodes {i + 1}/{len(pics)} ({time.time() - t0:.0f} s, {len(steps)} steps)")
    return steps


def _stack(steps):
    import torch
    return [torch.from_numpy(np.stack([s[j] for s in steps]).astype(np.float32)) for j in range(6)]


def fit(net, steps, iters: int, lr: float, imitate: bool, rng, log=None, hinge: float = 2.0, harm: float = 0.0):
    """`hinge`: extra weight on a step's loss where it is worse than before the step (a stroke
    should not make the picture worse: the benchmark's "never below gray").
    `harm`: extra weight on the pixels the stroke's colour makes worse than the fallback (grey,
    or the base): the error is mean(e^2) + harm * mean(max(0, e^2 - e_fallback^2)), so colour
    spread where it does not belong costs (1 + harm) times what it would gain where it does."""
    import torch
    X, FB, EST, T, GG, REF = _stack(steps)
    ref = torch.log(((REF - T) ** 2).sum(-1).mean(-1) + 1.0)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    n = X.shape[0]
    for it in range(iters):
        b = torch.from_numpy(rng.choice(n, size=min(64, n), replace=False))
        z = net(X[b]).squeeze(-1)
        if imitate:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z, GG[b])
        else:
            w = torch.sigmoid(z)[..., None]
            pred = FB[b] + w * (EST[b] - FB[b])
            e2 = ((pred - T[b]) ** 2).sum(-1)
            if harm > 0:
                e2 = e2 + harm * torch.relu(e2 - ((FB[b] - T[b]) ** 2).sum(-1))
            lm = torch.log(e2.mean(-1) + 1.0)
            loss = (lm + hinge * torch.relu(lm - ref[b])).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if log and (it % 500 == 0 or it == iters - 1):
            log(f"  {'imitate' if imitate else 'train'} {it}/{iters} loss {loss.item():.4f}")
    return net


def make_net(hidden: int = 32, n_in: int | None = None):
    import torch
    return torch.nn.Sequential(torch.nn.Linear(n_in or N_IN, hidden), torch.nn.ReLU(),
                               torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))


def net_gate(net):
    import torch

    def g(f, base_small):
        x = torch.from_numpy(G.features(f, base_small, net[0].in_features))
        with torch.no_grad():
            return torch.sigmoid(net(x).squeeze(-1)).numpy().astype(np.float32)
    return g


def evaluate(pics, gate, rounds: int) -> list[float]:
    """Mean keyframe PSNR gain over grey after 1..rounds robot strokes on held-out pictures."""
    from app.core.benchmarks.bench_interactive import error_map, robot_stroke
    from models.color import protocol_rgb
    from models.hinting.hints import rasterize
    gains = []
    for rgb in pics:
        L, AB = _lab(rgb)
        LAB = np.dstack([L, AB])
        ref = rgb.astype(np.float32)
        ps = lambda ab: 10 * np.log10(255.0 ** 2 / max(1e-10, float(np.mean((protocol_rgb(L, ab).astype(np.float32) - ref) ** 2))))
        cur = np.zeros_like(AB)
        g0 = ps(cur)
        strokes, row = [], []
        for r in range(rounds):
            s = robot_stroke(error_map(cur, AB), LAB, 0)
            if s is not None:
                strokes.append(s)
                hab, m = rasterize(L.shape, strokes)
                cur, _ = G.gate_colorize(L, hab, m, gate=gate)
            row.append(ps(cur) - g0)
        gains.append(row)
    return np.mean(gains, 0).tolist()


def save(path: Path, net, meta: dict) -> None:
    import torch
    tmp = path.with_suffix(".tmp")
    torch.save({"state": {k: v.detach().clone() for k, v in net.state_dict().items()}, "meta": meta}, tmp)
    os.replace(tmp, path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.hinting.train_gate", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=G.WEIGHTS)
    p.add_argument("--rounds", type=int, default=2, help="roll-out passes (1: geo's strokes only)")
    p.add_argument("--strokes", type=int, default=6, help="robot strokes per episode")
    p.add_argument("--iters", type=int, default=4000, help="optimiser steps per pass")
    p.add_argument("--video-stride", type=int, default=40, help="every Nth frame of each training video")
    p.add_argument("--max-pics", type=int, default=None, help="at most N training pictures (quick runs)")
    p.add_argument("--hinge", type=float, default=2.0, help="weight of the no-worse-than-before term")
    p.add_argument("--harm", type=float, default=0.0, help="extra weight on pixels made worse than the fallback")
    p.add_argument("--scene", action="store_true", help="the 4 whole-frame inputs too (gate.N_FEATURES_SCENE)")
    p.add_argument("--seed", type=int, default=12)
    a = p.parse_args(argv)
    global N_IN
    N_IN = G.N_FEATURES_SCENE if a.scene else G.N_FEATURES
    import torch
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    log = lambda s: print(time.strftime("%H:%M:%S"), s, flush=True)
    from models.prior.data import eligible_videos, split_photos
    train_p, held_p = split_photos()
    t0 = time.time()
    pics = _pictures(train_p, eligible_videos(), a.video_stride, rng)
    rng.shuffle(pics)
    if a.max_pics:
        pics = pics[:a.max_pics]
    held = _pictures(held_p, [], 1, rng)
    log(f"{len(pics)} training pictures ({len(train_p)} photos + video frames), {len(held)} held out "
        f"({time.time() - t0:.0f} s)")
    net = make_net()
    steps = episodes(pics, G.geo_gate, a.strokes, rng, log)
    fit(net, steps, 1500, 3e-3, True, rng, log)        # start at geo's fade
    log(f"held out, geo fade:    " + " ".join(f"{x:+.2f}" for x in evaluate(held, G.geo_gate, a.strokes)))
    log(f"held out, imitation:   " + " ".join(f"{x:+.2f}" for x in evaluate(held, net_gate(net), a.strokes)))
    for r in range(a.rounds):
        if r > 0:
            steps += episodes(pics, net_gate(net), a.strokes, rng, log)
        fit(net, steps, a.iters, 2e-3 if r == 0 else 1e-3, False, rng, log, hinge=a.hinge, harm=a.harm)
        ev = evaluate(held, net_gate(net), a.strokes)
        log(f"held out, pass {r + 1}:      " + " ".join(f"{x:+.2f}" for x in ev))
        save(a.out, net, {"passes": r + 1, "steps": len(steps), "pictures": len(pics), "held_out_gain": ev,
                          "minutes": (time.time() - t0) / 60, "strokes": a.strokes, "seed": a.seed,
                          "hinge": a.hinge, "harm": a.harm, "inputs": N_IN, "iters": a.iters})
    log(f"wrote {a.out} ({(time.time() - t0) / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
