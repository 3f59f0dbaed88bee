"""Draw the application icon: resources/icons/hueshot.svg and hueshot-{256,128,64,48}.png.

`python packaging/make_icon.py` (numpy and OpenCV only). The picture: a disc whose left half
is a grey ramp and whose right half is the same ramp in colour (grey footage becoming
colour), ringed in white on a dark rounded square. The SVG and the PNGs are drawn from the
same numbers below, the PNGs supersampled 4x for smooth edges.
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "resources" / "icons"
S = 256                                   # design grid
BG, BG_R, BG_PAD = (30, 33, 40), 48, 8     # rounded square
CX = CY = 128
DISC_R, RING_W = 84, 6
GREY = ((236, 236, 236), (40, 40, 40))     # top, bottom of the grey half
COLOUR = ((255, 176, 48), (232, 56, 120), (64, 96, 232))   # top, middle, bottom of the colour half


def svg() -> str:
    (g0, g1), (c0, c1, c2) = GREY, COLOUR
    hexc = lambda c: "#%02x%02x%02x" % c                        # noqa: E731
    top, bottom = CY - DISC_R, CY + DISC_R
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="{S}" height="{S}" viewBox="0 0 {S} {S}">
  <defs>
    <linearGradient id="grey" gradientUnits="userSpaceOnUse" x1="0" y1="{top}" x2="0" y2="{bottom}">
      <stop offset="0" stop-color="{hexc(g0)}"/><stop offset="1" stop-color="{hexc(g1)}"/>
    </linearGradient>
    <linearGradient id="colour" gradientUnits="userSpaceOnUse" x1="0" y1="{top}" x2="0" y2="{bottom}">
      <stop offset="0" stop-color="{hexc(c0)}"/><stop offset="0.5" stop-color="{hexc(c1)}"/>
      <stop offset="1" stop-color="{hexc(c2)}"/>
    </linearGradient>
    <clipPath id="disc"><circle cx="{CX}" cy="{CY}" r="{DISC_R}"/></clipPath>
  </defs>
  <rect x="{BG_PAD}" y="{BG_PAD}" width="{S - 2 * BG_PAD}" height="{S - 2 * BG_PAD}" rx="{BG_R}" fill="{hexc(BG)}"/>
  <g clip-path="url(#disc)">
    <rect x="{CX - DISC_R}" y="{top}" width="{DISC_R}" height="{2 * DISC_R}" fill="url(#grey)"/>
    <rect x="{CX}" y="{top}" width="{DISC_R}" height="{2 * DISC_R}" fill="url(#colour)"/>
  </g>
  <circle cx="{CX}" cy="{CY}" r="{DISC_R}" fill="none" stroke="#ffffff" stroke-width="{RING_W}"/>
</svg>
"""


def _ramp(t: np.ndarray, stops) -> np.ndarray:
    """Piecewise-linear colour ramp over t in 0..1 through evenly spaced stops."""
    stops = np.asarray(stops, np.float32)
    x = np.clip(t, 0, 1) * (len(stops) - 1)
    i = np.minimum(x.astype(int), len(stops) - 2)
    f = (x - i)[..., None]
    return stops[i] * (1 - f) + stops[i + 1] * f


def raster(size: int, ss: int = 4) -> np.ndarray:
    """RGBA uint8 image of the icon at `size` pixels."""
    n = size * ss
    c = (np.arange(n, dtype=np.float32) + 0.5) * (S / n)          # pixel centres on the design grid
    x, y = np.meshgrid(c, c)
    rgb = np.zeros((n, n, 3), np.float32)
    alpha = np.zeros((n, n), np.float32)
    # rounded square: distance to the inner rectangle, inside where <= radius
    lo, hi = BG_PAD + BG_R, S - BG_PAD - BG_R
    dx, dy = np.maximum(0, np.maximum(lo - x, x - hi)), np.maximum(0, np.maximum(lo - y, y - hi))
    inside = np.hypot(dx, dy) <= BG_R
    rgb[inside], alpha[inside] = BG, 1
    r = np.hypot(x - CX, y - CY)
    t = (y - (CY - DISC_R)) / (2 * DISC_R)
    disc = r <= DISC_R
    rgb[disc & (x < CX)] = _ramp(t, GREY)[disc & (x < CX)]
    rgb[disc & (x >= CX)] = _ramp(t, COLOUR)[disc & (x >= CX)]
    ring = np.abs(r - DISC_R) <= RING_W / 2
    rgb[ring], alpha[ring] = 255, 1
    rgba = np.dstack([rgb * alpha[..., None], alpha * 255])      # premultiplied for the resize
    small = cv2.resize(rgba, (size, size), interpolation=cv2.INTER_AREA)
    a = small[..., 3:4]
    out = np.where(a > 0, small[..., :3] * 255 / np.maximum(a, 1e-6), 0)
    return np.clip(np.dstack([out, a]) + 0.5, 0, 255).astype(np.uint8)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "hueshot.svg").write_text(svg())
    for size in (256, 128, 64, 48):
        img = raster(size)
        cv2.imwrite(str(OUT / f"hueshot-{size}.png"), cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA))
    print(f"wrote {OUT}/hueshot.svg and hueshot-{{256,128,64,48}}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
