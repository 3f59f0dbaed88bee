"""Training data for the colour prior and the simulated editor hints.

Sources: ../shared/data/train (licences in its SOURCES.md). Used: tier A and A- photos of
`images/` and `images_more/` and every frame of the tier A / A- videos. Left out: tier B
(the OpenCV sample images and videos: only a repository-wide code licence), tier SA (CC BY-SA
photos of images_more: kept out so the weights raise no share-alike question) and
`skimage/rocket.jpg` (Adobe RGB). Every 10th eligible photo (sorted by path) is held out for the
automatic-mode check (`held_out_photos`). Decoded pixels are cached under
/tmp/hueshot_prior_cache, never in the repo.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import cv2
import numpy as np

TRAIN = Path(os.environ.get("HUESHOT_TRAIN_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "train")).resolve()
CACHE = Path(os.environ.get("HUESHOT_PRIOR_CACHE", "/tmp/hueshot_prior_cache"))
PHOTO_SHORT = 256       # stored short side of photos (random rescale happens per sample)
VIDEO_SHORT = 176       # stored short side of video frames
IMAGE_EXT = (".jpg", ".jpeg", ".png")


def _resize_short(rgb: np.ndarray, short: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = short / min(h, w)
    if s >= 1:
        return np.ascontiguousarray(rgb)
    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def eligible_photos(root: Path = TRAIN) -> list[Path]:
    out = []
    for p in sorted((root / "images").rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.suffix.lower() not in IMAGE_EXT or rel.startswith("images/opencv/") or rel.endswith("rocket.jpg"):
            continue
        out.append(p)
    man = json.loads((root / "images_more" / "manifest.json").read_text())["files"]
    for e in sorted(man, key=lambda e: e["path"]):
        if e.get("tier") in ("A", "A-"):
            out.append(root / e["path"])
    return out


def split_photos(root: Path = TRAIN) -> tuple[list[Path], list[Path]]:
    """(training photos, held-out photos): every 10th eligible photo is held out."""
    ph = eligible_photos(root)
    return [p for i, p in enumerate(ph) if i % 10 != 0], [p for i, p in enumerate(ph) if i % 10 == 0]


def eligible_videos(root: Path = TRAIN) -> list[Path]:
    return [p for p in sorted((root / "videos").iterdir()) if not p.name.startswith("opencv_")]


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise RuntimeError(f"cannot read {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _cached(name: str, build):
    CACHE.mkdir(parents=True, exist_ok=True)
    f = CACHE / f"{name}.npz"
    if f.exists():
        d = np.load(f, allow_pickle=False)
        return [d[k] for k in sorted(d.files, key=lambda s: int(s[1:]))]
    arrs = build()
    tmp = CACHE / f"{name}.tmp.npz"
    np.savez(tmp, **{f"a{i}": a for i, a in enumerate(arrs)})
    os.replace(tmp, f)
    return arrs


def load_photos(paths: list[Path]) -> list[np.ndarray]:
    key = hashlib.sha1("\n".join(map(str, paths)).encode()).hexdigest()[:10]
    return _cached(f"photos_{PHOTO_SHORT}_{key}", lambda: [_resize_short(read_rgb(p), PHOTO_SHORT) for p in paths])


def load_video(path: Path) -> np.ndarray:
    """Every frame of a video at VIDEO_SHORT px (N x h x w x 3 uint8)."""
    def build():
        import av
        frames = []
        with av.open(str(path)) as c:
            st = c.streams.video[0]
            st.thread_type = "AUTO"
            for fr in c.decode(st):
                frames.append(_resize_short(fr.to_ndarray(format="rgb24"), VIDEO_SHORT))
        return [np.stack(frames)]
    return _cached(f"video_{VIDEO_SHORT}_{path.stem}", build)[0]


# ----------------------------------------------------------------------------- sampling
def to_lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def random_view(rgb: np.ndarray, crop: int, rng: np.random.Generator, max_short: int) -> np.ndarray:
    """Random rescale (short side crop..max_short), crop x crop window, flip, gamma jitter."""
    h, w = rgb.shape[:2]
    short = rng.uniform(crop, max(crop + 1, min(max_short, min(h, w))))
    s = short / min(h, w)
    nh, nw = max(crop, int(round(h * s))), max(crop, int(round(w * s)))
    im = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    y = rng.integers(0, nh - crop + 1)
    x = rng.integers(0, nw - crop + 1)
    im = im[y:y + crop, x:x + crop]
    if rng.random() < 0.5:
        im = im[:, ::-1]
    im = np.ascontiguousarray(im)
    if rng.random() < 0.5:     # exposure / contrast of old film and scans vary
        g = float(np.exp(rng.normal(0, 0.25)))
        im = (255.0 * (im / 255.0) ** g).astype(np.uint8)
    return im


def augment_ab(ab: np.ndarray, rng: np.random.Generator, hue: bool) -> np.ndarray:
    """Saturation scaling and (for hinted samples only, so the prior stays a prior) hue rotation."""
    if hue:
        t = rng.uniform(-np.pi, np.pi)
        c, s = np.cos(t), np.sin(t)
        ab = np.stack([c * ab[..., 0] - s * ab[..., 1], s * ab[..., 0] + c * ab[..., 1]], -1)
    if rng.random() < 0.3:
        ab = ab * rng.uniform(0.75, 1.25)
    return ab.astype(np.float32)


def simulate_hints(L: np.ndarray, ab: np.ndarray, rng: np.random.Generator,
                   p_none: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Hints as an editor places them: none (automatic) or 1..~40 points and strokes.

    Points: small patches (radius 0-3 px) with their true mean chroma (the hint protocol).
    Strokes: a straight line through a random point along a random direction, stopped where the
    luma or the true chroma leaves the start point's region (a stroke lies inside one region),
    radius 1-4 px, carrying the median true chroma over its pixels (the benchmark's robot).
    Some hints get a little colour noise (an editor's colour is approximate)."""
    h, w = L.shape
    hint = np.zeros((h, w, 2), np.float32)
    mask = np.zeros((h, w), np.uint8)
    if rng.random() < p_none:
        return hint, mask.astype(np.float32)
    n = int(np.clip(np.round(np.exp(rng.uniform(0, np.log(40)))), 1, 40))
    p_stroke = rng.choice([0.0, 0.5, 1.0])
    for _ in range(n):
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        stamp = np.zeros((h, w), np.uint8)
        if rng.random() >= p_stroke:
            r = int(rng.integers(0, 4))
            cv2.rectangle(stamp, (x - r, y - r), (x + r, y + r), 1, -1)
            sel = stamp.astype(bool)
            col = ab[sel].mean(0)
        else:
            r = int(rng.integers(1, 5))
            t = rng.uniform(0, np.pi)
            dx, dy = np.cos(t), np.sin(t)
            reach = rng.uniform(0.03, 0.3) * h
            L0, ab0 = L[y, x], ab[y, x]
            ends = []
            for sgn in (1, -1):
                k = 0
                while k < reach:
                    xx, yy = int(round(x + sgn * (k + 1) * dx)), int(round(y + sgn * (k + 1) * dy))
                    if not (0 <= xx < w and 0 <= yy < h):
                        break
                    if abs(L[yy, xx] - L0) > 12 or np.abs(ab[yy, xx] - ab0).max() > 12:
                        break
                    k += 1
                ends.append((int(round(x + sgn * k * dx)), int(round(y + sgn * k * dy))))
            cv2.line(stamp, ends[0], ends[1], 1, thickness=2 * r + 1)
            sel = stamp.astype(bool)
            col = np.median(ab[sel], 0)
        if rng.random() < 0.3:
            col = col + rng.normal(0, 3, 2)
        hint[sel] = col
        mask[sel] = 1
    return hint, mask.astype(np.float32)


class Sampler:
    """Random training samples: half photos, half video frames (a random video, then a frame)."""

    def __init__(self, photos: list[np.ndarray], videos: list[np.ndarray], crop: int, seed: int):
        self.photos, self.videos, self.crop = photos, videos, crop
        self.rng = np.random.default_rng(seed)

    def sample(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        rng = self.rng
        if not self.videos or rng.random() < 0.6:
            rgb = random_view(self.photos[rng.integers(len(self.photos))], self.crop, rng, 224)
        else:
            v = self.videos[rng.integers(len(self.videos))]
            rgb = random_view(v[rng.integers(len(v))], self.crop, rng, VIDEO_SHORT)
        lab = to_lab(rgb)
        L = np.ascontiguousarray(lab[..., 0])
        hinted = rng.random() >= 0.2
        ab = augment_ab(lab[..., 1:], rng, hue=hinted and rng.random() < 0.25)
        hint, mask = simulate_hints(L, ab, rng, p_none=0.0 if hinted else 1.0)
        return L, ab, hint, mask
