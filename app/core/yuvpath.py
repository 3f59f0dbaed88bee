"""Composing a video export in the encoder's own colour space, for 4:2:0 / 4:2:2 Y'CbCr outputs.

The RGB path (PNG, TIFF, FFV1, the preview) converts the whole frame Lab -> RGB at full
resolution, and for a video the encoder's libswscale converts it back to Y'CbCr. For H.264
(yuv420p) and ProRes (yuv422p10le) the render instead works at the resolution the format
stores chroma (half width, and half height for 4:2:0: a quarter of the pixels):

* each chroma sample takes the predicted Lab colour at the lightness of the pixels it covers
  (their mean source Y'), fitted to the gamut as compose_rgb fits it, and its BT.709 (Cb, Cr)
  is written (models.color.ycbcr_chroma);
* the output's Y' plane is the source's decoded Y' plane scaled per chroma sample (the
  scale spread bilinearly over the sample's pixels) by the colour's Y' over a grey's of the
  same lightness: the colour keeps the source's CIE lightness, the lightness model of the
  whole product (compose_rgb keeps L), and the luma detail is scaled alike. Where the
  colour is grey the scale is 1 and Y' passes through sample for sample.

Measured on three test scenes with perfect chroma (grey = the colour's lightness, as
tests/conftest.Scene makes it), the decoded frames are closer to the true colours than the
RGB path's through libswscale 4:2:0: 38.8 / 41.1 / 34.4 dB against 38.2 / 40.5 / 33.7 dB
(blue, green-yellow, pure primaries). Keeping Y' exactly (chroma only) gave 31.3 dB on the
first: saturated colours take a grey's Y' and lose their lightness. Chroma samples are
centred on their 2x2 (or 2x1) block of luma.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

from models.color import KB, KG, KR, Planes, dark_inverse, grey_lightness, ycbcr_chroma

# chroma scaled up by more than this (per axis) is upsampled guided by the luma (models.upsample)
GUIDED_ABOVE = 1.25

# planar formats whose first plane is Y' (8 bit, or little-endian 9..16 bit in the low bits)
_Y_PLANE = re.compile(r"^(yuvj?4[124][0-4]p|yuva4[24][0-4]p|gray|nv12|nv21|nv16|nv24)(\d+le)?$")


@dataclass(frozen=True)
class PlaneFormat:
    """What a planar encoder takes: pixel format, bit depth, chroma subsampling, size (even)."""
    pix_fmt: str          # "yuv420p", "yuv422p10le"
    bits: int
    sub_x: int
    sub_y: int
    width: int
    height: int

    @property
    def chroma_size(self) -> tuple[int, int]:
        return self.width // self.sub_x, self.height // self.sub_y

    @property
    def dtype(self):
        return np.uint8 if self.bits == 8 else np.uint16


def _plane(p, dtype) -> np.ndarray:
    item = np.dtype(dtype).itemsize
    return np.frombuffer(memoryview(p), dtype).reshape(p.height, p.line_size // item)[:, :p.width]


def _recode(y: np.ndarray, bits: int, full: bool, fmt: PlaneFormat) -> np.ndarray:
    """Source Y' codes -> the output's limited-range codes. Limited -> limited scales by a power
    of two (8-bit 16..235 is 10-bit 64..940 exactly): equal bit depths pass through as they are
    (the decoded plane itself, no copy: a view keeps its av.VideoFrame's buffer alive, and no
    stage writes into it; a 1080p copy cost ~1.5 ms a frame here, mostly page faults)."""
    top = (1 << fmt.bits) - 1
    if not full and bits == fmt.bits:
        return np.asarray(y, fmt.dtype)
    if not full and bits < fmt.bits:
        return np.left_shift(y.astype(fmt.dtype), fmt.bits - bits)
    codes = np.arange(1 << bits, dtype=np.float64)
    if full:       # full range: 0..2^b-1 is black..white
        out = (16 + 219 * codes / ((1 << bits) - 1)) * (1 << (fmt.bits - 8))
    else:
        out = codes / (1 << (bits - fmt.bits))
    lut = np.clip(np.round(out), 0, top).astype(fmt.dtype)
    return lut[y]


def y_plane(frame) -> tuple[np.ndarray, int, bool] | None:
    """(Y' plane as stored (a view), bits, full range) of an av.VideoFrame whose first plane is
    Y'; None for RGB, palette and other formats."""
    name = getattr(getattr(frame, "format", None), "name", None)
    m = _Y_PLANE.match(name) if name else None
    if m is None:
        return None
    bits = int(m.group(2)[:-2]) if m.group(2) else 8
    y = _plane(frame.planes[0], np.uint8 if bits == 8 else np.uint16)
    # grey formats are full range, whatever the frame says (libswscale reads them so: the
    # RGB path, the preview and the luma pass show them that way)
    full = name.startswith(("yuvj", "gray")) or int(getattr(frame, "color_range", 0) or 0) == 2
    return y, bits, full


def source_y(frame, fmt: PlaneFormat, rotation: int = 0) -> np.ndarray:
    """The output's Y' plane for one source frame: an av.VideoFrame (its Y' plane) or an RGB
    uint8 array (a frame folder, or a video stored as RGB: BT.709 luma of it), rotated for
    display like the RGB path's frames and cropped to the output's even size."""
    name = getattr(getattr(frame, "format", None), "name", None)
    planes = y_plane(frame)
    if planes is not None:
        y, bits, full = planes
    else:
        rgb = frame.to_ndarray(format="rgb24") if name else np.asarray(frame)
        f = cv2.transform(np.ascontiguousarray(rgb, np.uint8).astype(np.float32),
                          np.array([[KR, KG, KB]], np.float32) * np.float32(219 / 255))
        y = np.clip(f + np.float32(16.5), 0, 255).astype(np.uint8)
        bits, full = 8, False
    if rotation % 360:
        y = np.rot90(y, k=(rotation % 360) // 90)
    y = y[: fmt.height, : fmt.width]
    if y.shape != (fmt.height, fmt.width):
        raise ValueError(f"frame is {y.shape[1]}x{y.shape[0]}, expected at least {fmt.width}x{fmt.height}")
    return np.ascontiguousarray(_recode(y, bits, full, fmt))


@dataclass
class LumaAtChroma:
    """What composing chroma needs of a frame's Y' per chroma sample: the mean Y' of its block
    (normalised 0..1), its lightness (L, 0..100) and models.color.dark_inverse of the mean."""
    L: np.ndarray
    mean: np.ndarray
    inv_mean: np.ndarray


class ChromaComposer:
    """Output planes (Y', Cb, Cr codes) of one format from the source's Y' and predicted chroma."""

    STRIP = 32          # chroma rows per band of the Y' gain (_gain_y)

    def __init__(self, fmt: PlaneFormat):
        self.fmt = fmt
        s = 1 << (fmt.bits - 8)
        self._black, self._span = np.float32(16 * s), np.float32(219 * s)
        self._mid, self._cspan = np.float32(128 * s), np.float32(224 * s)
        self._top = (1 << fmt.bits) - 1
        self._buf: list[np.ndarray] | None = None
        self._luts: tuple[np.ndarray, ...] | None = None    # 8-bit code -> (L, mean, inv_mean)
        self._planes = Planes()       # ycbcr_chroma's planes, reused (one compose at a time)

    def _norm(self, v: np.ndarray) -> np.ndarray:
        return (v.astype(np.float32) - self._black) * (np.float32(1) / self._span)

    def luma(self, y: np.ndarray) -> LumaAtChroma:
        f = self.fmt
        cw, ch = f.chroma_size
        if f.bits == 8:
            # the block means rounded to codes by OpenCV's integer area resize (half a code at
            # most, rounded half up: +0.13 codes on average on a test frame), then three 256-entry
            # tables: ~2.5 ms a frame at 1080p instead of ~5 ms through a float copy of the plane
            # and a 4096-step table. A sample's lightness moves by up to 0.5 L; its gain is a
            # ratio at that lightness, applied to the exact Y' of each pixel: the output moved by
            # at most 1 code. cv2.LUT into float32 reads the tables at a quarter of the CPU of
            # numpy's gather (0.23 against 0.9 ms each at 960x540, thread CPU time), same values.
            m8 = cv2.resize(y, (cw, ch), interpolation=cv2.INTER_AREA)
            if self._luts is None:
                mean = self._norm(np.arange(256, dtype=np.float32))
                self._luts = tuple(np.ascontiguousarray(v, np.float32).reshape(1, 256)
                                   for v in (grey_lightness(mean), mean, dark_inverse(mean)))
            return LumaAtChroma(*(cv2.LUT(m8, lut) for lut in self._luts))
        mean = self._norm(cv2.resize(y.astype(np.float32), (cw, ch), interpolation=cv2.INTER_AREA))
        return LumaAtChroma(grey_lightness(mean), mean, dark_inverse(mean))

    def guided(self, shape: tuple[int, ...]) -> bool:
        """Whether chroma of this shape (h, w, ...) is upsampled guided by the luma (chroma_ab
        then reads L_proxy); else it is scaled plainly."""
        cw, ch = self.fmt.chroma_size
        h, w = shape[:2]
        return not (w >= cw and h >= ch) and max(cw / w, ch / h) > GUIDED_ABOVE

    def chroma_ab(self, ab: np.ndarray, lum: LumaAtChroma, L_proxy: np.ndarray | None = None) -> np.ndarray:
        """Predicted ab (proxy or full size) at the chroma resolution."""
        cw, ch = self.fmt.chroma_size
        h, w = ab.shape[:2]
        if (w, h) == (cw, ch):
            return np.asarray(ab, np.float32)
        if w >= cw and h >= ch:     # a full-resolution key, or a proxy larger than the chroma
            return cv2.resize(np.asarray(ab, np.float32), (cw, ch), interpolation=cv2.INTER_AREA)
        if not self.guided(ab.shape):
            # 1080p 4:2:0 from a 480 proxy (1.125x): bilinear scored the same as the guided
            # upsample (within 0.01 dB on four shared clips scaled to 1080p, flow, 47 frames
            # each) at 1.6 ms instead of 13.6 ms a frame
            return cv2.resize(np.asarray(ab, np.float32), (cw, ch), interpolation=cv2.INTER_LINEAR)
        from models.upsample import upsample_ab
        return upsample_ab(np.asarray(ab, np.float32), lum.L, L_proxy=L_proxy)

    def compose(self, y: np.ndarray, ab_c: np.ndarray, lum: LumaAtChroma
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(Y', Cb, Cr) codes: the source's Y' (through the per-sample gain and offset that give
        the colours the source's lightness; as it is where the colour is grey) and the chroma."""
        cb, cr, gain, offset = ycbcr_chroma(lum.L, ab_c, lum.mean, lum.inv_mean, self._planes)
        eight = self.fmt.bits == 8
        if eight:       # |Cb|, |Cr| <= 0.5: codes 16..240, convertScaleAbs rounds and saturates
            code = lambda c: cv2.convertScaleAbs(c, alpha=float(self._cspan), beta=float(self._mid))
        else:
            code = lambda c: np.clip(c * self._cspan + (self._mid + np.float32(0.5)), 0, self._top).astype(self.fmt.dtype)
        if cv2.countNonZero(cv2.compare(gain, 1.0, cv2.CMP_NE)) or cv2.countNonZero(offset):
            # in codes: Y'out = gain * (Y' - black) + black + offset * span, spread bilinearly
            # black * (1 - gain) + offset * span (+ 0.5 to round when truncated to 10 bits)
            c = cv2.addWeighted(offset, float(self._span), gain, -float(self._black),
                                float(self._black) + (0.0 if eight else 0.5), dst=self._planes.plane("c", gain.shape))
            y = self._gain_y(y, gain, c)
        return y, code(cb), code(cr)

    def _gain_y(self, y: np.ndarray, gain: np.ndarray, c: np.ndarray) -> np.ndarray:
        """gain * Y' + c, the chroma-resolution planes gain and c scaled up bilinearly, rounded
        and saturated to codes. Done in bands of STRIP chroma rows: a band's full-resolution
        float planes (~0.5 MB each at 1920 wide) stay in the core's cache, where three whole
        1080p float planes (8 MB each) went through memory: 3.0 instead of 4.2 ms a frame at
        1080p. Each band scales its rows with one row of margin above and below, so its rows
        are bilinear of the same rows with the same weights as the whole plane's: the output is
        identical (the scale between the planes is an integer, 1 or 2, on the rows)."""
        f, sy = self.fmt, self.fmt.sub_y
        ch, width = gain.shape[0], f.width
        rows = self.STRIP
        if self._buf is None:     # band planes reused from frame to frame (a compose at a time)
            self._buf = [np.empty((sy * (rows + 2), width), np.float32) for _ in range(3)]
        g_b, c_b, yf_b = self._buf
        out = np.empty((f.height, width), f.dtype)
        eight = f.bits == 8
        for a in range(0, ch, rows):
            b = min(a + rows, ch)
            lo, hi = max(a - 1, 0), min(b + 1, ch)
            n, o, m = sy * (hi - lo), sy * (a - lo), sy * (b - a)
            g = cv2.resize(gain[lo:hi], (width, n), dst=g_b[:n], interpolation=cv2.INTER_LINEAR)[o:o + m]
            cu = cv2.resize(c[lo:hi], (width, n), dst=c_b[:n], interpolation=cv2.INTER_LINEAR)[o:o + m]
            yf = cv2.multiply(y[sy * a:sy * b], g, dst=yf_b[:m], dtype=cv2.CV_32F)
            if eight:     # the sum rounded and saturated to 0..255 in one pass
                cv2.add(yf, cu, dst=out[sy * a:sy * b], dtype=cv2.CV_8U)
            else:
                cv2.add(yf, cu, dst=yf)
                cv2.max(yf, 0.0, dst=yf)
                out[sy * a:sy * b] = cv2.min(yf, float(self._top))
        return out
