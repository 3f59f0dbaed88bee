"""Generate the bundled sample shot (deterministic; re-run to rebuild the files it writes).

    python resources/make_sample.py [--out resources/sample] [--frames 72] [--size 854x480]

Writes into the output folder:
  sample_grey.mp4      the grey shot: H.264 yuv420p, BT.709 tags, 24 fps
  sample_key0000.png   the colour keyframe for frame 0 (same size as the shot)
  sample_hints.json    two example hint strokes (for `hueshot propagate --hints`)
  sample.hueshot       a project over the shot with the keyframe on frame 0, so
                       `hueshot resources/sample/sample.hueshot` opens in colour and starts
                       propagating (it reuses sample_key0000.png through "layers": "." and
                       names the video relative to itself, so the folder can move)

    python resources/make_sample.py --project-only     # rewrite sample.hueshot alone

The scene is rendered procedurally in colour, then greyed: a camera pan over a layered
landscape (sky, distant hills, near hills with parallax, textured by smooth noise) and a
textured red-orange balloon drifting across and bobbing, so propagation has real motion,
parallax and occlusion to follow. The grey values keep each pixel's CIE lightness (what
panchromatic film records), so grey + the keyframe's chroma recomposes to the colour frame.
"""
from __future__ import annotations

import argparse
import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def smooth_noise(rng, h, w, scale, octaves=3):
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        s = max(2, int(scale / 2 ** o))
        small = rng.random((h // s + 2, w // s + 2)).astype(np.float32)
        out += amp * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.5
    return np.clip(out / total, 0, 1)


class SampleScene:
    def __init__(self, width=854, height=480, frames=72, seed=2024):
        self.w, self.h, self.n = width, height, frames
        rng = np.random.default_rng(seed)
        self.pan_far, self.pan_near = 1.0, 3.0           # pixels per frame (parallax)
        W = width + int(self.pan_near * frames) + 8
        self.W = W
        ys = np.arange(height, dtype=np.float32)[:, None] / height
        # sky: gradient + soft clouds
        clouds = smooth_noise(rng, height, W, 90)
        sky = np.empty((height, W, 3), np.float32)
        for c, (top, bottom) in enumerate([(70, 170), (120, 200), (200, 235)]):
            sky[..., c] = top + (bottom - top) * ys
        sky += (clouds[..., None] - 0.5) * 60
        self.sky = sky
        # far hills (blue-green) and near hills (green / ochre), as height profiles
        x = np.arange(W, dtype=np.float32)
        far_prof = height * (0.55 + 0.06 * np.sin(x / 97.0) + 0.04 * np.sin(x / 41.0 + 1.0))
        near_prof = height * (0.72 + 0.07 * np.sin(x / 131.0 + 2.0) + 0.03 * np.sin(x / 29.0))
        self.far_mask = (np.arange(height)[:, None] >= far_prof[None, :])
        self.near_mask = (np.arange(height)[:, None] >= near_prof[None, :])
        tex_far = smooth_noise(rng, height, W, 24)
        tex_near = smooth_noise(rng, height, W, 12)
        self.far = np.stack([60 + 40 * tex_far, 110 + 50 * tex_far, 100 + 40 * tex_far], -1)
        self.near = np.stack([70 + 90 * tex_near, 120 + 70 * tex_near, 30 + 40 * tex_near], -1)
        # the balloon: a disc with stripes and noise texture
        r = height // 7
        self.r = r
        yy, xx = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float32)
        self.disc = (xx ** 2 + yy ** 2) <= r * r
        stripes = 0.5 + 0.5 * np.sin(xx / r * 9.0)
        t = smooth_noise(rng, 2 * r + 1, 2 * r + 1, 6)
        shade = np.clip(1.0 - 0.45 * ((xx + r * 0.4) ** 2 + (yy + r * 0.4) ** 2) / (r * r), 0.3, 1.0)
        self.balloon = np.stack([(170 + 70 * stripes) * shade + 15 * t,
                                 (50 + 90 * stripes) * shade + 10 * t,
                                 (30 + 20 * stripes) * shade], -1)

    def rgb(self, i: int) -> np.ndarray:
        w, h = self.w, self.h
        of, on = int(round(self.pan_far * i)), int(round(self.pan_near * i))
        img = self.sky[:, of:of + w].copy()
        fm = self.far_mask[:, of:of + w]
        img[fm] = self.far[:, of:of + w][fm]
        nm = self.near_mask[:, on:on + w]
        img[nm] = self.near[:, on:on + w][nm]
        # balloon drifts right and bobs; it passes in front of everything
        r = self.r
        cx = int(w * 0.15 + (w * 0.6) * i / max(self.n - 1, 1))
        cy = int(h * 0.42 + h * 0.08 * np.sin(i / 9.0))
        y0, x0 = cy - r, cx - r
        region = img[y0:y0 + 2 * r + 1, x0:x0 + 2 * r + 1]
        region[self.disc] = self.balloon[self.disc]
        # basket on a rope below it
        cv2.line(img, (cx, cy + r), (cx, cy + r + h // 20), (60, 45, 30), 2)
        bx, by = cx - h // 40, cy + r + h // 20
        cv2.rectangle(img, (bx, by), (bx + h // 20, by + h // 28), (120, 80, 40), -1)
        return np.clip(img + 0.5, 0, 255).astype(np.uint8)


_RAMP = None


def grey_of(rgb: np.ndarray) -> np.ndarray:
    """Grey (one channel) with the same CIE L as the colour pixels."""
    global _RAMP
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    if _RAMP is None:
        ramp = np.repeat(np.arange(256, dtype=np.float32)[None, :, None] / 255.0, 3, axis=2)
        _RAMP = cv2.cvtColor(ramp, cv2.COLOR_RGB2Lab)[0, :, 0]
    return np.clip(np.searchsorted(_RAMP, lab[..., 0]), 0, 255).astype(np.uint8)


def write_project(out: Path, frames: int) -> Path:
    """sample.hueshot: the grey shot + the frame-0 colour keyframe, in the project format of
    app/core/project.py (version 1). The source has only a relative path (no machine's
    absolute path is baked in); the keyframe layer is the PNG beside it ("layers": ".")."""
    data = {
        "format": "hueshot-project", "version": 1, "app_version": "0.1.0",
        "source": {"path": None, "relative": "sample_grey.mp4"},
        "proxy_height": 480, "method": "flow", "range": None,
        "layers": ".",
        "keyframes": [{"frame": 0, "image": "sample_key0000.png"}],
        "strokes": [],
        "settings": {"note": f"bundled sample: {frames} frames, keyframe on frame 0"},
    }
    path = out / "sample.hueshot"
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "sample"))
    ap.add_argument("--frames", type=int, default=72)
    ap.add_argument("--size", default="854x480")
    ap.add_argument("--fps", type=int, default=24)
    ap.add_argument("--project-only", action="store_true", help="only (re)write sample.hueshot")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.project_only:
        print(f"wrote {write_project(out, args.frames)}")
        return 0
    scene = SampleScene(w, h, args.frames)

    video = out / "sample_grey.mp4"
    tmp = out / ".sample_grey.partial.mp4"
    with av.open(str(tmp), "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=args.fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": "23", "preset": "slow",
                     "x264-params": "colorprim=bt709:transfer=bt709:colormatrix=bt709:range=tv"}
        cc = s.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 1, 1, 1, 1
        for i in range(args.frames):
            rgb = scene.rgb(i)
            if i == 0:
                key = out / "sample_key0000.png"
                cv2.imwrite(str(key), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
            g = grey_of(rgb)
            f = av.VideoFrame.from_ndarray(g, format="gray").reformat(
                format="yuv420p", src_color_range="JPEG", dst_colorspace="itu709", dst_color_range="MPEG")
            f.pts, f.time_base = i, Fraction(1, args.fps)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    tmp.replace(video)

    # two example strokes: recolour the near hills autumn-orange from frame 0, the sky stays
    hints = [
        {"frame": 0, "points": [[0.1, 0.9], [0.5, 0.88], [0.9, 0.9]], "radius": 0.03,
         "color": [200, 120, 40], "erase": False, "id": "example-hills"},
        {"frame": 0, "points": [[0.7, 0.15], [0.9, 0.2]], "radius": 0.04,
         "color": [110, 170, 235], "erase": False, "id": "example-sky"},
    ]
    (out / "sample_hints.json").write_text(json.dumps(hints, indent=1) + "\n")
    write_project(out, args.frames)
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"wrote {video} ({args.frames} frames {w}x{h}), {key.name}, sample_hints.json, sample.hueshot: "
          f"{total / 1e6:.2f} MB in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
