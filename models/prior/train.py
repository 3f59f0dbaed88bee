"""Train the colour prior from scratch on this machine's CPU.

    nice -n 5 .venv/bin/python -m models.prior.train --minutes 100 --out models/weights/prior.pt

`--init WEIGHTS` continues from earlier weights (a new cosine schedule, a new optimiser).
The learning rate follows a cosine over the wall-clock budget (`--minutes`), so a run of the
same length on the same machine ends in the same state of the schedule; a checkpoint is
written every `--save-every` minutes (atomic replace) and at the end. Data: models.prior.data.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.prior.data import Sampler, eligible_videos, load_photos, load_video, split_photos, TRAIN
from models.prior.net import AB_SCALE, N_BINS, PriorNet, ab_to_bin, make_input, WEIGHTS


def batch(sampler: Sampler, n: int):
    xs, ys = [], []
    for _ in range(n):
        L, ab, hint, mask = sampler.sample()
        xs.append(make_input(L, hint, mask))
        ys.append(ab.transpose(2, 0, 1))
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys).astype(np.float32))


def save(path: Path, net: PriorNet, meta: dict) -> None:
    tmp = path.with_suffix(".tmp")
    # float16 state: half the size, no measurable loss for inference in float32.
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in net.state_dict().items()}
    torch.save({"state": state, "width": net_width(net), "meta": meta}, tmp)
    os.replace(tmp, path)


def net_width(net: PriorNet) -> int:
    return net.d1[0].out_channels


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=WEIGHTS)
    ap.add_argument("--minutes", type=float, default=100.0, help="wall-clock training budget")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=112)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--cls-weight", type=float, default=0.02)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--save-every", type=float, default=5.0, help="minutes between checkpoints")
    ap.add_argument("--init", type=Path, default=None,
                    help="continue from these weights (their width; a fresh schedule and optimiser)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    import cv2
    cv2.setNumThreads(1)
    torch.manual_seed(args.seed)
    t0 = time.time()
    train_p, held_p = split_photos()
    photos = load_photos(train_p)
    vids = eligible_videos()
    videos = [load_video(v) for v in vids]
    n_frames = sum(len(v) for v in videos)
    print(f"data: {len(photos)} photos ({len(held_p)} held out), {len(videos)} videos, {n_frames} frames; "
          f"loaded in {time.time() - t0:.0f} s", flush=True)
    sampler = Sampler(photos, videos, args.crop, args.seed)
    before = None
    if args.init is not None:
        ck = torch.load(args.init, map_location="cpu", weights_only=False)
        args.width = int(ck["width"])
        net = PriorNet(args.width)
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ck["state"].items()})
        m = ck.get("meta", {})
        before = {"from": str(args.init), "steps": m.get("steps"), "minutes": m.get("minutes"),
                  "before": m.get("before")}
    else:
        net = PriorNet(args.width)
    n_par = sum(p.numel() for p in net.parameters())
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    meta = {"photos": [str(p.relative_to(TRAIN)) for p in train_p], "held_out": [str(p.relative_to(TRAIN)) for p in held_p],
            "videos": [v.name for v in vids], "frames": n_frames, "params": n_par, "args": vars(args) | {"out": str(args.out), "init": str(args.init) if args.init else None}}
    if before is not None:    # the runs these weights continue, oldest last
        meta["before"] = before
    print(f"PriorNet width {args.width}: {n_par} parameters", flush=True)
    budget = args.minutes * 60.0
    start = time.time()
    last_save = start
    step, ema = 0, None
    while True:
        el = time.time() - start
        if el >= budget:
            break
        lr = 1e-5 + 0.5 * (args.lr - 1e-5) * (1 + math.cos(math.pi * el / budget))
        if step < 100:
            lr *= (step + 1) / 100
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = batch(sampler, args.batch)
        ab, logits = net(x)
        mse = F.mse_loss(ab, y / AB_SCALE)
        tgt = ab_to_bin(F.avg_pool2d(y, 8).permute(0, 2, 3, 1))
        ce = F.cross_entropy(logits, tgt)
        loss = mse + args.cls_weight * ce
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        v = np.array([mse.item() * AB_SCALE ** 2, ce.item()])
        ema = v if ema is None else 0.98 * ema + 0.02 * v
        if step % 50 == 0:
            print(f"step {step} {el / 60:.1f} min lr {lr:.2e} ab_mse {ema[0]:.1f} ce {ema[1]:.3f} "
                  f"{el / step:.2f} s/step", flush=True)
        if time.time() - last_save > args.save_every * 60:
            meta.update(steps=step, minutes=(time.time() - start) / 60, ab_mse=float(ema[0]))
            save(args.out, net, meta)
            last_save = time.time()
    meta.update(steps=step, minutes=(time.time() - start) / 60, ab_mse=float(ema[0]) if ema is not None else None,
                finished=True)
    save(args.out, net, meta)
    print(f"done: {step} steps in {(time.time() - start) / 60:.1f} min -> {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
