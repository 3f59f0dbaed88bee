"""Train RefineNet (models/propagate/refinenet.py) from scratch and write models/weights/refinenet.pt.

One command reproduces the shipped weights on a 2-core CPU (model card: models/weights/refinenet.md):

    .venv/bin/python -m models.propagate.train_refinenet --out models/weights/refinenet.pt

Self-supervised: any colour video is its own label. Grey the frames, give frame 0 in colour,
propagate with the quality method's flow (models.propagate.refined_prop.QUALITY_FLOW, what inference
runs, less the final smoothing), record what the refiner hook receives for each frame (before
flow's temporal damping), and teach the net to map (luma, propagated chroma, confidence) to the true
chroma.

Data: only /work/shared/data/train (licences allow shipping weights; SOURCES.md there). The
evaluation clips (../shared/data/clips) are never read here. Tier-B OpenCV files and
rocket.jpg are left out, as for HintNet.
- Video segments: the tier-A videos resized to at most 480 lines, cut into segments of
  SEG_LEN frames (frame step 1 or 2) away from the NASA clip's dissolve and cut.
- Synthetic shots over the stills: a camera path (pan, zoom, roll, accelerating) over one
  image and one to three foreground sprites cut from other images with soft random outlines,
  moving on their own paths, so objects occlude, reveal, leave and enter the frame: the cases
  where flow alone fails.
- Per sequence, every STORE_EVERY-th frame is kept: luma (uint8), propagated chroma and true
  chroma (int8), flow confidence (uint8), cached under /tmp/hueshot_refinenet_cache.
Training: random 256x256 crops, flips, a shared random rotation of the ab plane of input and
target (colour diversity the small set lacks), per-sample log-MSE loss (the mean PSNR the
benchmark averages), Adam 1e-3 with cosine decay, batch 12, 8000 steps (the defaults), fixed seeds.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from models.base import ListLuma
from models.color import rgb_to_lab
from models.propagate.refined_prop import QUALITY_FLOW, quality_flow
from models.propagate.refinenet import AB_SCALE, RefineUNet, count_parameters, make_input
from models.hinting.train_hintnet import TRAIN, VIDEOS, _resize_height, psnr_loss, read_stills

CACHE = Path(os.environ.get("HUESHOT_REFINENET_CACHE", "/tmp/hueshot_refinenet_cache"))
CACHE_VERSION = 5
SEG_LEN = 48
STORE_EVERY = 3
# usable frame ranges of the NASA clip's second video stream (a dissolve at 151-180, a cut at 240)
NASA_RANGES = [(0, 150), (181, 239), (241, 389)]


# ----------------------------------------------------------------------------- sequences
def _decode(name: str, vidx: int) -> list[np.ndarray]:
    import av
    with av.open(str(TRAIN / "videos" / name)) as c:
        st = c.streams.video[vidx]
        return [_resize_height(fr.to_ndarray(format="rgb24"), 480) for fr in c.decode(st)]


def video_segments(rng: np.random.Generator, log=print):
    """Yield (label, list of RGB frames) segments of the training videos."""
    for name, (vidx, _k) in VIDEOS.items():
        frames = _decode(name, vidx)
        ranges = NASA_RANGES if name.startswith("nasa") else [(0, len(frames) - 1)]
        for lo, hi in ranges:
            n = hi - lo + 1
            # about one segment per 90 frames, at least one
            for j in range(max(1, n // 90)):
                step = 2 if (n >= 2 * SEG_LEN + 10 and rng.random() < 0.5) else 1
                span = min(n, SEG_LEN * step)
                s = lo + int(rng.integers(0, n - span + 1))
                seg = frames[s:s + span:step]
                if len(seg) >= 12:
                    yield f"{name}@{s}x{step}", seg
        log(f"  {name}: {len(frames)} frames")


def _blob_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A soft random outline (float32 0..1) filling most of an h x w box."""
    m = np.zeros((h, w), np.uint8)
    k = int(rng.integers(5, 11))
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    rad = rng.uniform(0.55, 1.0, k)
    pts = np.stack([w / 2 + rad * np.cos(ang) * w / 2, h / 2 + rad * np.sin(ang) * h / 2], 1)
    cv2.fillPoly(m, [pts.astype(np.int32)], 1)
    return cv2.GaussianBlur(m.astype(np.float32), (0, 0), 1.0)


def synth_sequence(bg: np.ndarray, sprites: list[np.ndarray], n: int, rng: np.random.Generator,
                   size: tuple[int, int]) -> list[np.ndarray]:
    """A synthetic shot: camera path over `bg`, sprites moving over it (RGB uint8 frames)."""
    W, H = size
    bh, bw = bg.shape[:2]
    s0 = max(W / bw, H / bh) * rng.uniform(1.05, 1.4)
    cx, cy = bw / 2, bh / 2
    vel = rng.uniform(-3.5, 3.5, 2)
    zoom_v = rng.uniform(-0.003, 0.003)
    rot_v = rng.uniform(-0.25, 0.25)
    sp = []
    for img in sprites:
        sh = int(H * rng.uniform(0.25, 0.55))
        swid = int(sh * rng.uniform(0.6, 1.5))
        ih, iw = img.shape[:2]
        y0 = int(rng.integers(0, max(1, ih - sh)))
        x0 = int(rng.integers(0, max(1, iw - swid)))
        patch = cv2.resize(img[y0:y0 + min(ih, sh * 2), x0:x0 + min(iw, swid * 2)], (swid, sh),
                           interpolation=cv2.INTER_AREA)
        pos = np.array([rng.uniform(-0.2, 1.0) * W, rng.uniform(0, 1.0) * H - sh / 2])
        v = rng.uniform(2.0, 9.0) * np.array([math.cos(a := rng.uniform(0, 2 * np.pi)), math.sin(a)])
        sp.append([patch.astype(np.float32), _blob_mask(sh, swid, rng), pos, v, rng.uniform(-1.5, 1.5)])
    out = []
    scale, angle, c = s0, 0.0, np.array([cx, cy])
    # Non-rigid motion (cloth, bodies, leaves): a smooth random displacement field that
    # drifts over time, applied to the whole frame; plus a slow exposure drift and sensor
    # noise. Affine motion alone is what DIS gets right; these make it fail the way it does
    # on real footage.
    amp = rng.uniform(0.0, 6.0) if rng.random() < 0.7 else 0.0
    gh, gw = 6, 8
    d0, d1 = rng.normal(0, 1, (2, gh, gw, 2)).astype(np.float32)
    gain_v = rng.uniform(-0.004, 0.004)
    noise = rng.uniform(0.0, 2.5)
    gx, gy = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    for t in range(n):
        M = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), angle, scale)
        M[:, 2] += np.array([W / 2, H / 2]) - c
        frame = cv2.warpAffine(bg, M, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        frame = frame.astype(np.float32)
        for s in sp:
            patch, mask, pos, v, rv = s
            Ms = cv2.getRotationMatrix2D((patch.shape[1] / 2, patch.shape[0] / 2), rv * t, 1.0)
            Ms[:, 2] += pos
            pw = cv2.warpAffine(patch, Ms, (W, H), flags=cv2.INTER_LINEAR, borderValue=0)
            mw = cv2.warpAffine(mask, Ms, (W, H), flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
            frame = frame * (1 - mw) + pw * mw
            s[2] = pos + v
            s[3] = v + rng.normal(0, 0.3, 2)
        if amp > 0:
            ph = 2 * np.pi * t / max(1, n - 1)
            d = cv2.resize(amp * (np.cos(ph) * d0 + np.sin(ph) * d1), (W, H), interpolation=cv2.INTER_CUBIC)
            frame = cv2.remap(frame, np.ascontiguousarray(gx + d[..., 0], np.float32),
                              np.ascontiguousarray(gy + d[..., 1], np.float32), cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT101)
        frame = frame * (1.0 + gain_v * t)
        if noise > 0:
            frame = frame + rng.normal(0, noise, frame.shape[:2])[..., None].astype(np.float32)
        out.append(np.clip(frame + 0.5, 0, 255).astype(np.uint8))
        vel = vel + rng.normal(0, 0.3, 2)
        c = c + vel / scale
        scale *= 1.0 + zoom_v
        angle += rot_v
    return out


def synth_segments(rng: np.random.Generator, per_image: int = 2):
    imgs = read_stills()[0]
    sizes = [(640, 480), (640, 360), (854, 480), (480, 360)]
    for i, bg in enumerate(imgs):
        for j in range(per_image):
            others = [imgs[int(k)] for k in rng.choice(len(imgs), int(rng.integers(1, 4)))]
            size = sizes[int(rng.integers(len(sizes)))]
            yield f"synth{i}_{j}", synth_sequence(bg, others, SEG_LEN, rng, size)


# ----------------------------------------------------------------------------- samples
def propagate_samples(frames: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Run the quality flow from frame 0 and keep every STORE_EVERY-th frame's net input (the
    chroma and confidence the refiner hook receives, before the damping) and its truth."""
    labs = [rgb_to_lab(f) for f in frames]
    L = [np.ascontiguousarray(x[..., 0]) for x in labs]
    keep = set(range(STORE_EVERY - 1, len(frames), STORE_EVERY))
    out = {"L": [], "ab": [], "conf": [], "true": []}
    def record(t, Lt, ab, conf):
        if t in keep:
            out["L"].append(np.clip(L[t] * 2.55 + 0.5, 0, 255).astype(np.uint8))
            out["ab"].append(np.clip(np.rint(ab), -127, 127).astype(np.int8))
            out["conf"].append(np.clip(conf * 255 + 0.5, 0, 255).astype(np.uint8))
            out["true"].append(np.clip(np.rint(labs[t][..., 1:]), -127, 127).astype(np.int8))
        return ab

    # The recorder sees each frame before smoothing; the smoothing itself is not needed here.
    for _ in quality_flow(refiner=record, smooth_iters=0).run(ListLuma(L), {0: np.ascontiguousarray(labs[0][..., 1:])}):
        pass
    return {k: np.stack(v) for k, v in out.items()}


def build_cache(seed: int = 7, log=print) -> list[dict[str, np.ndarray]]:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"samples_v{CACHE_VERSION}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        n = int(z["n"])
        return [{k: z[f"{i}_{k}"] for k in ("L", "ab", "conf", "true")} for i in range(n)]
    rng = np.random.default_rng(seed)
    seqs = []
    t0 = time.time()
    for src in (video_segments(rng, log), synth_segments(rng)):
        for label, frames in src:
            seqs.append(propagate_samples(frames))
    log(f"  {len(seqs)} sequences, {sum(len(s['L']) for s in seqs)} samples in {time.time() - t0:.0f} s")
    flat = {"n": np.array(len(seqs))}
    for i, s in enumerate(seqs):
        for k, v in s.items():
            flat[f"{i}_{k}"] = v
    tmp = CACHE / f"samples_v{CACHE_VERSION}.tmp.npz"
    np.savez(tmp, **flat)
    os.replace(tmp, path)
    return seqs


def make_batch(seqs, size: int, n: int, rng: np.random.Generator):
    xs, ys = [], []
    for _ in range(n):
        s = seqs[int(rng.integers(len(seqs)))]
        i = int(rng.integers(len(s["L"])))
        h, w = s["L"].shape[1:]
        cs = min(size, h, w) // 16 * 16
        y = int(rng.integers(0, h - cs + 1))
        x = int(rng.integers(0, w - cs + 1))
        L = s["L"][i, y:y + cs, x:x + cs].astype(np.float32) / 2.55
        ab = s["ab"][i, y:y + cs, x:x + cs].astype(np.float32)
        tr = s["true"][i, y:y + cs, x:x + cs].astype(np.float32)
        cf = s["conf"][i, y:y + cs, x:x + cs].astype(np.float32) / 255.0
        if cs < size:
            L, ab, tr, cf = (cv2.resize(a, (size, size), interpolation=cv2.INTER_LINEAR) for a in (L, ab, tr, cf))
        if rng.random() < 0.5:
            L, ab, tr, cf = L[:, ::-1], ab[:, ::-1], tr[:, ::-1], cf[:, ::-1]
        if rng.random() < 0.6:
            # one rotation / saturation scale of the ab plane for input and target alike
            th, sc = rng.uniform(0, 2 * np.pi), rng.uniform(0.8, 1.2)
            R = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]], np.float32) * sc
            ab, tr = ab @ R.T, tr @ R.T
        xs.append(make_input(L, ab, cf))
        ys.append(np.stack([tr[..., 0], tr[..., 1]], 0) / AB_SCALE)
    return (torch.from_numpy(np.ascontiguousarray(np.stack(xs), np.float32)),
            torch.from_numpy(np.ascontiguousarray(np.stack(ys), np.float32)))


def save(model: RefineUNet, path: Path, meta: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"state_dict": model.state_dict(), "widths": list(model.widths), **meta}, tmp)
    os.replace(tmp, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.propagate.train_refinenet", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("models/weights/refinenet.pt"))
    ap.add_argument("--steps", type=int, default=8000)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-minutes", type=float, default=None, help="stop (and save) after this long")
    ap.add_argument("--ckpt-every", type=int, default=250)
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    print(f"building / reading the sample cache in {CACHE}", flush=True)
    seqs = build_cache(log=lambda m: print(m, flush=True))
    t_data = time.time() - t0
    val = seqs[::10]
    train = [s for i, s in enumerate(seqs) if i % 10]
    vrng = np.random.default_rng(1234)
    vx, vy = make_batch(val, args.size, 32, vrng)
    model = RefineUNet()
    print(f"RefineUNet: {count_parameters(model)} parameters; {len(train)} train / {len(val)} val sequences; "
          f"data {t_data:.0f} s", flush=True)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps))))
    model = model.to(memory_format=torch.channels_last)

    def val_loss():
        model.eval()
        with torch.no_grad():
            out = model(vx.contiguous(memory_format=torch.channels_last))
            base = psnr_loss(vx[:, 1:3], vy).item()
            got = psnr_loss(out, vy).item()
        model.train()
        return base, got

    meta = {"seed": args.seed, "flow": {k: list(v) if isinstance(v, tuple) else v for k, v in QUALITY_FLOW.items()},
            "cache_version": CACHE_VERSION}
    t_train = time.time()
    step = 0
    for step in range(1, args.steps + 1):
        x, y = make_batch(train, args.size, args.batch, rng)
        out = model(x.contiguous(memory_format=torch.channels_last))
        loss = psnr_loss(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.4f} lr {sched.get_last_lr()[0]:.2e} "
                  f"{(time.time() - t_train) / step:.2f} s/step", flush=True)
        if step % args.ckpt_every == 0 or step == args.steps:
            b, g = val_loss()
            print(f"  val: input {b:.4f} -> refined {g:.4f}", flush=True)
            save(model, args.out, {**meta, "steps": step, "train_minutes": (time.time() - t_train) / 60})
        if args.max_minutes and (time.time() - t_train) / 60 > args.max_minutes:
            print(f"stopping at step {step}: --max-minutes {args.max_minutes}", flush=True)
            break
    save(model, args.out, {**meta, "steps": step, "train_minutes": (time.time() - t_train) / 60})
    print(f"wrote {args.out} after {step} steps, {(time.time() - t_train) / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
