"""Automatic colour (no hints) on the photos held out from training: PSNR against grey.

    .venv/bin/python -m models.prior.eval [--weights PATH] [--save-dir DIR]

Each held-out photo (models.prior.data.split_photos: every 10th eligible photo, never trained
on) is resized to at most 480 lines (area), its luma colourised by the prior with no hint, and
scored like the benchmark (RGB composed from the true luma and the predicted chroma, PSNR
against the true 8-bit image). `--save-dir` writes side-by-side PNGs (grey | automatic | true).
(The clips' first frames are scored by `hueshot bench --interactive --hints`, K = 0.)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from models.color import protocol_rgb, rgb_to_lab
from models.prior.data import TRAIN, read_rgb, split_photos
from models.hinting.hints import _auto_part
from models.prior.net import Prior


def psnr(a, b) -> float:
    d = a.astype(np.float32) - b.astype(np.float32)
    return float(10 * np.log10(255.0 ** 2 / max(float(np.mean(d * d)), 1e-10)))


def to_480(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    if h <= 480:
        return rgb
    return cv2.resize(rgb, (int(round(w * 480 / h / 2)) * 2, 480), interpolation=cv2.INTER_AREA)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--save-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    prior = Prior.load(args.weights)
    _, held = split_photos()
    rows = []
    for p in held:
        rgb = to_480(read_rgb(p))
        lab = rgb_to_lab(rgb)
        L = np.ascontiguousarray(lab[..., 0])
        g = psnr(protocol_rgb(L, np.zeros(L.shape + (2,), np.float32)), rgb)
        ab = prior.colorize(L)
        out = protocol_rgb(L, ab)
        a = psnr(out, rgb)
        # what the app ships as the automatic colour: the damped, cast-free part (models.hinting.hints)
        d = psnr(protocol_rgb(L, _auto_part(ab)), rgb)
        rows.append((p.relative_to(TRAIN).as_posix(), g, a, d))
        print(f"{rows[-1][0]:<60} gray {g:6.2f}  network {a:6.2f} ({a - g:+5.2f})  shipped {d:6.2f} ({d - g:+5.2f})",
              flush=True)
        if args.save_dir:
            args.save_dir.mkdir(parents=True, exist_ok=True)
            grey = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
            strip = np.concatenate([grey, out, rgb], 1)
            cv2.imwrite(str(args.save_dir / (p.stem + ".png")), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    g = np.array([r[1] for r in rows])
    for col, label in ((2, "network (raw)"), (3, "shipped (auto_colorize)")):
        a = np.array([r[col] for r in rows])
        print(f"{len(rows)} held-out photos, {label}: gray {g.mean():.2f} dB, automatic {a.mean():.2f} dB "
              f"({(a - g).mean():+.2f}); worst {(a - g).min():+.2f} ({rows[int(np.argmin(a - g))][0]}); "
              f"{int((a < g - 0.5).sum())} photos more than 0.5 dB below gray")
    return 0


if __name__ == "__main__":
    sys.exit(main())
