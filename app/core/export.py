"""Encoders for rendered shots: H.264, ProRes 422 HQ, FFV1, PNG and TIFF sequences.

Every encoder takes full-resolution sRGB uint8 frames (HxWx3) one at a time and writes them
to a temporary name beside the target; ``close()`` finalises (flush, fsync, rename) and
``abort()`` removes the partial output. A half-written file is never left under the final
name.

Colour handling (the point of this module):

* H.264 (.mp4/.mov/.mkv): yuv420p, limited (tv) range, BT.709 matrix, primaries and transfer
  tagged in the stream (VUI) and the container. RGB -> Y'CbCr is done by libswscale with the
  BT.709 coefficients and limited range requested explicitly, so a player decoding with the
  tags gets back the composed RGB (within 4:2:0 chroma subsampling and codec loss).
* ProRes 422 HQ (.mov): prores_ks profile 3, yuv422p10le, same BT.709 / limited tagging.
* FFV1 (.mkv): lossless 8-bit RGB (bgr0), tagged BT.709 primaries/transfer, RGB matrix;
  decodes bit-exact to what was composed.
* H.264 and ProRes also take their own planes (``write_planes``: Y' and chroma at the
  stored resolution, BT.709 limited range), which the render composes directly
  (app.core.yuvpath: the source's Y' passes through, no RGB at full resolution, libswscale
  idle); the RGB ``write`` stays for the other callers.
* PNG / TIFF sequences: a folder receiving 00000.png, 00001.png, ... (or .tif) at the input
  resolution, sRGB 8-bit.

Pixel aspect: frames are written at the source's stored size (its luma is never resampled) and
a non-square pixel aspect (PAL/NTSC SD, HDV) is recorded: the H.264 VUI and the mp4/mov 'pasp'
box, ProRes's 'pasp', a PNG's pHYs chunk and a TIFF's X/Y resolution (no unit), FFV1 in
.mkv the track's DisplayWidth/DisplayHeight: the Matroska muxer takes those only from a stream
field PyAV does not set, so they are written into the finished file (``mkv_set_aspect``).
FFV1 in .avi cannot carry it: a warning says so.

Audio: when ``audio_source`` is a media file with audio, the packets of every audio stream
(an archive transfer's two mono tracks, a dub beside the original) are remuxed (no re-encode)
into video containers, each its own stream in the source's order, trimmed to the exported time
range, interleaved with video as it is written. Codecs a container cannot carry (e.g. PCM in
.mp4) are transcoded to AAC. Image sequences carry no audio.

Timecode: a start timecode (the source's, shifted to the output's first frame by the caller,
app.core.render.open_output) is written as the mov/mp4 muxer's tmcd track and as Matroska's
TIMECODE tag. Image sequences carry none.
"""
from __future__ import annotations

import errno
import logging
import os
import re
import struct
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

import av

from app.core.fsutil import fsync_path, keep_mode, short_name
from app.core.shutdown import remove_path, sweep_stale, temp_tag, track, untrack

log = logging.getLogger(__name__)

VIDEO_EXTS = {".mp4": "h264", ".m4v": "h264", ".mov": "h264", ".mkv": "h264"}
SEQUENCE_FORMATS = {"png": ".png", "tiff": ".tif"}
FORMATS = ("h264", "prores", "ffv1", "png", "tiff")
_SEQ_NAME = re.compile(r"^\d{5}\.(png|tif|tiff)$")

# AVCOL_* values (libavutil/pixfmt.h)
_PRI_BT709 = 1
_TRC_BT709 = 1
_SPC_RGB = 0
# a render's segments (ExportSettings.codec, pix_fmt) -> the pixel format the codec stores
_SEGMENT_CODECS = {("utvideo", "yuv420p"): "yuv420p", ("utvideo", ""): "gbrp",
                   ("ffvhuff", "yuv422p10le"): "yuv422p10le"}
_SPC_BT709 = 1
_RANGE_MPEG = 1  # limited / tv
_RANGE_JPEG = 2  # full / pc
VFR_TIME_BASE = Fraction(1, 90000)
_FIELD_ORDERS = {"tt": 2, "bb": 3, "tb": 4, "bt": 5}   # AVFieldOrder of interlaced video
# The planar Y'CbCr each format stores (app.core.yuvpath): a render in segments
# (app.core.renderfarm.farm_segments) keeps the same losslessly, what the output will store
PLANE_PIX_FMTS = {"h264": "yuv420p", "prores": "yuv422p10le"}
_PLANES = {"yuv420p": (8, 2, 2), "yuv422p10le": (10, 2, 1)}   # bits, chroma subsampling x, y


class ExportError(Exception):
    """An export failed; the message names the output and the problem."""


@dataclass
class ExportSettings:
    format: str = ""             # one of FORMATS, "" = from the output's extension
    crf: int = 18                # H.264 quality
    preset: str = "superfast"    # x264 preset: ~26 fps at 1080p on 2 cores (veryfast: ~14)
    png_compression: int = 1     # 0..9; 1 is fast and still ~2x smaller than raw
    audio: bool = True
    # A render's segments (app.core.renderfarm.farm_segments; format "ffv1", an .avi): a faster
    # lossless codec than FFV1, "utvideo" or "ffvhuff" (_SEGMENT_CODECS), and what it stores:
    # "" RGB, "yuv420p" / "yuv422p10le" the Y'CbCr planes an H.264 / ProRes output stores
    # (PLANE_PIX_FMTS), composed as that output composes them. They keep no CRC of their own:
    # the segments carry a checksum file.
    codec: str = ""
    pix_fmt: str = ""


def detect_format(path: str | os.PathLike, requested: str = "") -> str:
    """The export format for an output path: by ``requested`` or by extension.

    A path with no extension (or an existing folder) is a PNG sequence folder.
    """
    p = Path(path)
    ext = p.suffix.lower()
    if requested:
        fmt = requested.lower()
        aliases = {"prores_hq": "prores", "prores422": "prores", "tif": "tiff", "x264": "h264"}
        fmt = aliases.get(fmt, fmt)
        if fmt not in FORMATS:
            raise ExportError(f"{p}: unknown export format {requested!r} (choose from {', '.join(FORMATS)})")
        if fmt == "prores" and ext and ext != ".mov":
            raise ExportError(f"{p}: ProRes is written to .mov files, not {ext}")
        if fmt == "ffv1" and ext and ext not in (".mkv", ".avi"):
            raise ExportError(f"{p}: FFV1 is written to .mkv files, not {ext}")
        if fmt == "h264" and ext and ext not in VIDEO_EXTS:
            raise ExportError(f"{p}: H.264 is written to .mp4, .mov or .mkv files, not {ext}")
        if fmt not in SEQUENCE_FORMATS and (not ext or p.is_dir()):
            name, want = {"h264": ("H.264", ".mp4, .mov or .mkv"), "prores": ("ProRes", ".mov"),
                          "ffv1": ("FFV1", ".mkv")}[fmt]
            raise ExportError(f"{p}: {'is a folder' if p.is_dir() else 'has no file extension'}; "
                              f"{name} is written to a file ending in {want}")
        return fmt
    if p.is_dir() or not ext:
        return "png"
    if ext in VIDEO_EXTS:
        return VIDEO_EXTS[ext]
    if ext in (".png",):
        raise ExportError(f"{p}: to write a PNG sequence give a folder (e.g. {p.with_suffix('')}/)")
    if ext in (".tif", ".tiff"):
        raise ExportError(f"{p}: to write a TIFF sequence give a folder and --format tiff")
    raise ExportError(f"{p}: unsupported output extension {ext!r} "
                      f"(use .mp4/.mov/.mkv for video or a folder for a PNG sequence)")


def partial_prefix(path: Path) -> str:
    """Start of the hidden temp name a video export is written to beside ``path``."""
    return f".{short_name(Path(path).stem)}.partial-"


def _disk_error(path: Path, exc: OSError) -> ExportError:
    if exc.errno == errno.ENOSPC:
        return ExportError(f"{path}: disk full while writing the export ({exc.strerror}); "
                           f"the partial output was removed")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ExportError(f"{path}: cannot write here ({exc.strerror})")
    return ExportError(f"{path}: write failed: {exc}")


def _check_writable_dir(target: Path) -> Path:
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.exists():
        raise ExportError(f"{target}: output folder {parent} does not exist")
    if not parent.is_dir():
        raise ExportError(f"{target}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"{target}: output folder {parent} is not writable")
    return parent


def check_sequence_target(path: Path) -> None:
    """A frame sequence replaces its folder: a new one, or one holding only an earlier
    sequence (NNNNN.png / .tif); a file or any other folder is refused."""
    if path.exists():
        if not path.is_dir():
            raise ExportError(f"{path}: exists and is not a folder")
        others = [n for n in os.listdir(path) if not _SEQ_NAME.match(n)]
        if others:
            raise ExportError(f"{path}: output folder is not empty (holds {others[0]!r}); "
                              f"choose an empty or new folder")


class Encoder:
    """Base: ``write(rgb)`` per frame, then ``close()``; ``abort()`` on failure or cancel."""

    path: Path
    frames_written: int = 0
    plane_format = None     # app.core.yuvpath.PlaneFormat where write_planes() is taken

    def write(self, rgb: np.ndarray, t: float | None = None) -> None:  # pragma: no cover - interface
        """One frame; ``t``: its time in seconds from the first frame (variable frame rate)."""
        raise NotImplementedError

    def close(self) -> Path:  # pragma: no cover - interface
        raise NotImplementedError

    def abort(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def discard(self) -> None:  # pragma: no cover - interface
        """Remove the partial output without touching the encoder (a thread may be inside it)."""
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


# ---------------------------------------------------------------------------------- video
class _AudioPump:
    """Feeds the source's audio packets (remuxed or transcoded) into the output container."""

    def __init__(self, src_path: Path, out: av.container.OutputContainer,
                 start_s: float, end_s: float | None, index: int = 0):
        self.src = av.open(str(src_path))
        self.in_stream = self.src.streams.audio[index]
        self.start_s = start_s
        self.end_s = end_s
        self.transcode = False
        self._resampler = None
        self.out_stream = None
        if self._container_accepts(out):
            try:
                self.out_stream = out.add_stream_from_template(self.in_stream)
            except Exception:  # codec/container mismatch -> transcode below
                self.out_stream = None
        if self.out_stream is None:
            self._setup_transcode(out)
        self._packets: Iterator = self.src.demux(self.in_stream)
        self._pending = None
        self.done = False
        self._decoder = None
        if self.transcode:
            self._decoder = self.in_stream.codec_context

    def _container_accepts(self, out) -> bool:
        name = self.in_stream.codec_context.name
        try:
            if name not in out.supported_codecs:
                return False
        except Exception:
            pass
        # mp4 accepts few PCM variants in practice; transcode those to AAC
        if out.format.name.startswith("mp4") and (name.startswith("pcm_") or name == "vorbis"):
            return False
        return True

    def _setup_transcode(self, out) -> None:
        self.transcode = True
        icc = self.in_stream.codec_context
        rate = icc.sample_rate or 48000
        channels = getattr(icc, "channels", 0) or 2
        layout = {1: "mono", 2: "stereo", 6: "5.1"}.get(channels, "stereo")
        self.out_stream = out.add_stream("aac", rate=rate, layout=layout)
        self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)

    @classmethod
    def every(cls, src_path, out, start_s, end_s) -> "list[_AudioPump]":
        """A pump for each audio stream of ``src_path``, in its order."""
        if src_path is None:
            return []
        try:
            with av.open(str(src_path)) as probe:
                count = len(probe.streams.audio)
        except av.FFmpegError:
            return []
        pumps = []
        for index in range(count):
            try:
                pumps.append(cls(Path(src_path), out, start_s, end_s, index))
            except ExportError:
                for p in pumps:
                    p.close()
                raise
            except Exception as exc:  # keep the video export even if audio can't be carried
                log.warning("audio stream %d of %s not passed through: %s", index + 1, src_path, exc)
        return pumps

    def _next_packet(self):
        while True:
            try:
                pkt = next(self._packets)
            except (StopIteration, av.FFmpegError):
                return None
            if pkt.dts is None and pkt.pts is None:
                if pkt.size == 0:
                    continue
            return pkt

    def pump(self, out, until_s: float | None) -> None:
        """Mux audio up to media time ``until_s`` (None: everything left)."""
        if self.done:
            return
        tb = self.in_stream.time_base
        while True:
            pkt = self._pending or self._next_packet()
            self._pending = None
            if pkt is None:
                self._finish(out)
                return
            ts = pkt.pts if pkt.pts is not None else pkt.dts
            t = float(ts * tb) if ts is not None else self.start_s
            if t + float((pkt.duration or 0) * tb) < self.start_s:
                continue  # before the range (a priming packet ending at the start is kept:
                          # without it the decoder drops the first real samples)
            if self.end_s is not None and t >= self.end_s:
                self._finish(out)
                return
            if until_s is not None and t - self.start_s > until_s:
                self._pending = pkt
                return
            self._write(out, pkt, t)

    def _write(self, out, pkt, t: float) -> None:
        if not self.transcode:
            shift = int(round(self.start_s / float(self.in_stream.time_base)))
            if pkt.pts is not None:
                pkt.pts -= shift
            if pkt.dts is not None:
                pkt.dts -= shift
            pkt.stream = self.out_stream
            out.mux(pkt)
            return
        for frame in self._decoder.decode(pkt):
            frame.pts = None
            for rf in self._resampler.resample(frame):
                for p in self.out_stream.encode(rf):
                    out.mux(p)

    def _finish(self, out) -> None:
        if self.done:
            return
        self.done = True
        if self.transcode:
            try:
                for rf in self._resampler.resample(None):
                    for p in self.out_stream.encode(rf):
                        out.mux(p)
            except Exception:
                pass
            for p in self.out_stream.encode(None):
                out.mux(p)
        self.src.close()

    def close(self) -> None:
        try:
            self.src.close()
        except Exception:
            pass


class VideoEncoder(Encoder):
    """H.264 / ProRes / FFV1 through PyAV, written to a temp file then renamed."""

    def __init__(self, path, width: int, height: int, fps: float | Fraction, fmt: str,
                 settings: ExportSettings | None = None, audio_source=None,
                 start_time: float = 0.0, end_time: float | None = None, vfr: bool = False,
                 sample_aspect_ratio: Fraction | None = None, field_order: str = "",
                 timecode: str | None = None):
        self.path = Path(path)
        self.settings = settings or ExportSettings()
        self.fmt = fmt
        self.sar = _aspect(sample_aspect_ratio)
        self.field_order = _FIELD_ORDERS.get(field_order or "", 0)
        self.timecode = timecode or None
        # variable frame rate: frames carry their source times in a 1/90000 s time base
        # (write(rgb, t)), so duration and audio sync follow the source
        self.vfr = bool(vfr)
        self._last_pts = -1
        parent = _check_writable_dir(self.path)
        self.src_width, self.src_height = int(width), int(height)
        if (self.settings.codec or self.settings.pix_fmt) and (
                (fmt, self.path.suffix.lower()) != ("ffv1", ".avi") or
                (self.settings.codec, self.settings.pix_fmt) not in _SEGMENT_CODECS):
            raise ExportError(f"{self.path}: codec {self.settings.codec!r} with pixel format "
                              f"{self.settings.pix_fmt or 'RGB'!r} is not a segment codec")
        # 4:2:0 / 4:2:2 need even sizes: drop a trailing odd row/column (documented)
        if fmt in ("h264", "prores") or (fmt == "ffv1" and self.settings.pix_fmt):
            self.width, self.height = self.src_width & ~1, self.src_height & ~1
            if (self.width, self.height) != (self.src_width, self.src_height) and fmt != "ffv1":
                # (a segment of a render in segments: its output says it)
                log.warning("%s: %dx%d is odd; encoding %dx%d", self.path, self.src_width,
                            self.src_height, self.width, self.height)
        else:
            self.width, self.height = self.src_width, self.src_height
        # the temp name carries this process's id: a later run removes it if we were killed
        sweep_stale(parent, partial_prefix(self.path))
        self.tmp = track(parent / f"{partial_prefix(self.path)}{temp_tag()}{self.path.suffix}")
        container_fmt = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska",
                         ".avi": "avi"}.get(self.path.suffix.lower(), None)
        rate = Fraction(fps).limit_denominator(100000) if fps else Fraction(24)
        self.frames_written = 0
        self._closed = False
        try:
            self.out = av.open(str(self.tmp), "w", format=container_fmt)
        except OSError as exc:
            raise _disk_error(self.path, exc) from exc
        except av.FFmpegError as exc:
            raise ExportError(f"{self.path}: cannot create output: {exc}") from exc
        try:
            self._setup_video(rate)
            self.audio: list[_AudioPump] = []
            if self.settings.audio and audio_source is not None:
                self.audio = _AudioPump.every(audio_source, self.out, start_time, end_time)
            self.rate = rate
        except Exception:
            self.abort()
            raise

    def _setup_video(self, rate: Fraction) -> None:
        fmt = self.fmt
        if fmt == "h264":
            s = self.out.add_stream("libx264", rate=rate)
            s.pix_fmt = "yuv420p"
            x264 = "colorprim=bt709:transfer=bt709:colormatrix=bt709:range=tv"
            if self.field_order:      # coded as interlaced (MBAFF), the fields in the source's order
                x264 += ":interlaced=1:" + ("bff=1" if self.field_order in (3, 5) else "tff=1")
            s.options = {"crf": str(self.settings.crf), "preset": self.settings.preset, "x264-params": x264}
            self._yuv = ("yuv420p", _SPC_BT709, _RANGE_MPEG)
        elif fmt == "prores":
            s = self.out.add_stream("prores_ks", rate=rate)
            s.pix_fmt = "yuv422p10le"
            s.options = {"profile": "3", "vendor": "apl0", "bits_per_mb": "8000"}
            self._yuv = ("yuv422p10le", _SPC_BT709, _RANGE_MPEG)
        elif fmt == "ffv1" and self.settings.codec:
            s = self.out.add_stream(self.settings.codec, rate=rate)
            s.pix_fmt = _SEGMENT_CODECS[(self.settings.codec, self.settings.pix_fmt)]
            self._yuv = ((s.pix_fmt, _SPC_BT709, _RANGE_MPEG) if self.settings.pix_fmt
                         else ("gbrp", _SPC_RGB, _RANGE_JPEG))
        elif fmt == "ffv1":
            s = self.out.add_stream("ffv1", rate=rate)
            s.options = {"level": "3", "slicecrc": "1"}
            s.pix_fmt = "bgr0"
            self._yuv = ("bgr0", _SPC_RGB, _RANGE_JPEG)
        else:
            raise ExportError(f"{self.path}: {fmt} is not a video format")
        s.width, s.height = self.width, self.height
        cc = s.codec_context
        if self.sar != 1:     # H.264 VUI / mov 'pasp' (mkv takes it from the H.264 stream)
            cc.sample_aspect_ratio = self.sar
            if fmt == "ffv1" and self.out.format.name == "matroska":
                self._mkv_aspect = True    # written into the file once it is closed (close())
            elif fmt == "ffv1" and not self.settings.codec:      # (a segment: its output carries it)
                log.warning("%s: FFV1 in %s cannot record the source's pixel aspect %d:%d here, so players "
                            "will show the %dx%d frames %s; export ProRes (.mov) or H.264 to keep it, or set "
                            "the display size afterwards (mkvpropedit %s --edit track:v1 --set display-width=%d "
                            "--set display-height=%d)", self.path, self.path.suffix or "this container",
                            self.sar.numerator, self.sar.denominator, self.width, self.height,
                            "stretched" if self.sar < 1 else "squeezed", self.path.name,
                            round(self.width * self.sar), self.height)
        if self.field_order:  # mov/mp4 'fiel', Matroska FieldOrder, the H.264 stream's own
            cc.field_order = self.field_order
        if self.timecode:
            self._set_timecode(s)
        cc.color_primaries = _PRI_BT709
        cc.color_trc = _TRC_BT709
        cc.colorspace = self._yuv[1]
        cc.color_range = self._yuv[2]
        cc.thread_count = 0
        self.time_base = VFR_TIME_BASE if self.vfr else Fraction(rate.denominator, rate.numerator)
        s.time_base = self.time_base
        if self.vfr:
            cc.time_base = self.time_base
        self.stream = s

    def _set_timecode(self, s) -> None:
        """The start timecode: the mov/mp4 muxer makes a tmcd track from the video stream's
        "timecode" tag (at the stream's frame rate, drop-frame when the string says so);
        Matroska writes it as the track's TIMECODE tag, and as the file's, where FFmpeg's
        Matroska reader and other tools look for it. AVI has no place for it."""
        kind = self.out.format.name
        if kind in ("mov", "mp4", "matroska"):
            s.metadata["timecode"] = self.timecode
            if kind == "matroska":
                self.out.metadata["timecode"] = self.timecode
        else:
            log.warning("%s: %s cannot carry the source's timecode (%s); export .mov, .mp4 or .mkv to keep it",
                        self.path, self.path.suffix or "this container", self.timecode)

    def _frame(self, rgb: np.ndarray) -> av.VideoFrame:
        if rgb.shape[0] != self.src_height or rgb.shape[1] != self.src_width:
            raise ExportError(f"{self.path}: frame is {rgb.shape[1]}x{rgb.shape[0]}, "
                              f"expected {self.src_width}x{self.src_height}")
        if (self.width, self.height) != (self.src_width, self.src_height):
            rgb = rgb[: self.height, : self.width]
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        src = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        pix, spc, rng = self._yuv
        # one swscale context for the whole file (a frame's own reformat builds a new one each time)
        rf = getattr(self, "_reformatter", None)
        if rf is None:
            from av.video.reformatter import VideoReformatter
            rf = self._reformatter = VideoReformatter()
        if pix in ("bgr0", "gbrp"):
            frame = rf.reformat(src, format=pix)
        else:
            frame = rf.reformat(src, format=pix, src_colorspace="itu709", dst_colorspace="itu709",
                                src_color_range="JPEG", dst_color_range="MPEG")
        frame.color_range = rng
        frame.colorspace = spc
        frame.color_primaries = _PRI_BT709
        frame.color_trc = _TRC_BT709
        return frame

    @property
    def plane_format(self):
        """The planar Y'CbCr format this encoder takes through ``write_planes`` (H.264 4:2:0
        8-bit, ProRes 4:2:2 10-bit, FFV1 with a Y'CbCr ``pix_fmt``; limited range), or None
        (FFV1 in RGB)."""
        from app.core.yuvpath import PlaneFormat
        pix = PLANE_PIX_FMTS.get(self.fmt) or (self.settings.pix_fmt if self.fmt == "ffv1" else "")
        if not pix:
            return None
        return PlaneFormat(pix, *_PLANES[pix], self.width, self.height)

    def write_planes(self, y: np.ndarray, cb: np.ndarray, cr: np.ndarray, t: float | None = None) -> None:
        """One frame given as the encoder's own planes (app.core.yuvpath): libswscale does
        nothing, the planes are what the stream stores (BT.709, limited range)."""
        pf = self.plane_format
        if pf is None:
            raise ExportError(f"{self.path}: {self.fmt} takes RGB frames, not Y'CbCr planes")
        if y.shape != (pf.height, pf.width) or cb.shape != cr.shape or cb.shape != pf.chroma_size[::-1]:
            raise ExportError(f"{self.path}: planes are {y.shape[1]}x{y.shape[0]} / {cb.shape[1]}x{cb.shape[0]}, "
                              f"expected {pf.width}x{pf.height} / {pf.chroma_size[0]}x{pf.chroma_size[1]}")
        frame = av.VideoFrame(pf.width, pf.height, pf.pix_fmt)
        for plane, data in zip(frame.planes, (y, cb, cr)):
            item = data.dtype.itemsize
            np.frombuffer(memoryview(plane), data.dtype).reshape(
                plane.height, plane.line_size // item)[:, :plane.width] = data
        frame.color_range = self._yuv[2]
        frame.colorspace = self._yuv[1]
        frame.color_primaries = _PRI_BT709
        frame.color_trc = _TRC_BT709
        self._encode(frame, t)

    def write(self, rgb: np.ndarray, t: float | None = None) -> None:
        self._encode(self._frame(rgb), t)

    def _encode(self, frame: av.VideoFrame, t: float | None) -> None:
        if self.vfr:
            if t is None:
                t = self.frames_written / float(self.rate)
            pts = max(int(round(t / float(self.time_base))), self._last_pts + 1)
        else:
            pts = self.frames_written
        self._last_pts = pts
        frame.pts = pts
        frame.time_base = self.time_base
        try:
            for pkt in self.stream.encode(frame):
                self.out.mux(pkt)
            self.frames_written += 1
            if self.audio:
                now = pts * float(self.time_base) + 1.0 / float(self.rate)
                for pump in self.audio:
                    pump.pump(self.out, now + 0.5)
        except OSError as exc:
            self.abort()
            raise _disk_error(self.path, exc) from exc
        except av.FFmpegError as exc:
            self.abort()
            raise ExportError(f"{self.path}: encoding failed at frame {self.frames_written}: {exc}") from exc

    def close(self) -> Path:
        if self._closed:
            return self.path
        try:
            for pkt in self.stream.encode(None):
                self.out.mux(pkt)
            for pump in self.audio:
                pump.pump(self.out, None)
            self.out.close()
            self._closed = True
            if getattr(self, "_mkv_aspect", False) and not mkv_set_aspect(self.tmp, self.width, self.height, self.sar):
                log.warning("%s: the source's pixel aspect %d:%d could not be written into this FFV1 .mkv, so "
                            "players will show the %dx%d frames with square pixels; set it with mkvpropedit %s "
                            "--edit track:v1 --set display-width=%d --set display-height=%d", self.path,
                            self.sar.numerator, self.sar.denominator, self.width, self.height, self.path.name,
                            round(self.width * self.sar), self.height)
            fsync_path(self.tmp)
            keep_mode(self.tmp, self.path)
            os.replace(self.tmp, self.path)
            untrack(self.tmp)
            fsync_path(self.path.parent)
        except OSError as exc:
            self.abort()
            raise _disk_error(self.path, exc) from exc
        except av.FFmpegError as exc:
            self.abort()
            raise ExportError(f"{self.path}: finishing the file failed: {exc}") from exc
        return self.path

    def abort(self) -> None:
        for pump in getattr(self, "audio", None) or ():
            pump.close()
        if not self._closed:
            self._closed = True
            try:
                self.out.close()
            except Exception:
                pass
        remove_path(self.tmp)

    def discard(self) -> None:
        self._closed = True     # never closed now: a thread may still be inside the muxer
        remove_path(self.tmp)


# ------------------------------------------------------------------------------ sequences
class SequenceEncoder(Encoder):
    """PNG / TIFF sequence into a folder: 00000.png, 00001.png, ...

    Frames go into a hidden sibling folder; ``close()`` renames it to the target. An existing
    target holding only a previous sequence (NNNNN.png / .tif) is replaced; any other
    non-empty folder is refused.
    """

    def __init__(self, path, width: int, height: int, fmt: str = "png",
                 settings: ExportSettings | None = None, sample_aspect_ratio: Fraction | None = None):
        self.path = Path(path)
        self.settings = settings or ExportSettings()
        self.fmt = fmt
        self.sar = _aspect(sample_aspect_ratio)
        self.ext = SEQUENCE_FORMATS[fmt]
        self.width, self.height = int(width), int(height)
        parent = _check_writable_dir(self.path)
        check_sequence_target(self.path)
        stem = short_name(self.path.name)      # the temp names' own part fits a file name
        sweep_stale(parent, f".{stem}.partial-")
        sweep_stale(parent, f".{stem}.old-")
        try:
            # os.mkdir follows the umask (mkdtemp would make it 0700)
            self.tmp = parent / f".{stem}.partial-{temp_tag()}"
            os.mkdir(self.tmp, 0o777)
            track(self.tmp)
        except OSError as exc:
            raise _disk_error(self.path, exc) from exc
        self.frames_written = 0
        self._closed = False
        if fmt == "png":
            self._params = [cv2.IMWRITE_PNG_COMPRESSION, int(self.settings.png_compression)]
        else:
            self._params = [cv2.IMWRITE_TIFF_COMPRESSION, 5]  # LZW
            if self.sar != 1:   # pixels per unit, no unit: X over Y is the pixel's height over its width
                self._params += [cv2.IMWRITE_TIFF_RESUNIT, 1, cv2.IMWRITE_TIFF_XDPI, self.sar.denominator,
                                 cv2.IMWRITE_TIFF_YDPI, self.sar.numerator]

    def write(self, rgb: np.ndarray, t: float | None = None) -> None:
        if rgb.shape[:2] != (self.height, self.width):
            raise ExportError(f"{self.path}: frame is {rgb.shape[1]}x{rgb.shape[0]}, "
                              f"expected {self.width}x{self.height}")
        bgr = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(self.ext, bgr, self._params)
        if not ok:
            self.abort()
            raise ExportError(f"{self.path}: could not encode frame {self.frames_written} as {self.ext}")
        data = buf.tobytes()
        if self.fmt == "png" and self.sar != 1:
            data = png_with_aspect(data, self.sar)
        name = self.tmp / f"{self.frames_written:05d}{self.ext}"
        try:
            with open(name, "wb") as f:
                f.write(data)
        except OSError as exc:
            self.abort()
            raise _disk_error(self.path, exc) from exc
        self.frames_written += 1

    def close(self) -> Path:
        if self._closed:
            return self.path
        self._closed = True
        try:
            for name in os.listdir(self.tmp):
                fsync_path(self.tmp / name)
            old = None
            if self.path.exists():
                keep_mode(self.tmp, self.path)
                old = track(self.path.parent / f".{short_name(self.path.name)}.old-{temp_tag()}")
                os.replace(self.path, old)
            os.replace(self.tmp, self.path)
            untrack(self.tmp)
            if old is not None:
                remove_path(old)
            fsync_path(self.path.parent)
        except OSError as exc:
            remove_path(self.tmp)
            raise _disk_error(self.path, exc) from exc
        return self.path

    def abort(self) -> None:
        self._closed = True
        remove_path(self.tmp)

    def discard(self) -> None:
        self.abort()


def _aspect(sar) -> Fraction:
    if not sar:
        return Fraction(1)
    sar = Fraction(sar).limit_denominator(65535)
    if sar <= 0:
        raise ExportError(f"invalid pixel aspect {sar}")
    return sar


# Matroska (EBML) element IDs, marker bits kept
_EBML_SEGMENT, _EBML_TRACKS, _EBML_CLUSTER, _EBML_TRACK_ENTRY = 0x18538067, 0x1654AE6B, 0x1F43B675, 0xAE
_EBML_TRACK_TYPE, _EBML_VIDEO, _EBML_VOID, _EBML_CRC32 = 0x83, 0xE0, 0xEC, 0xBF
_EBML_PIXEL_HEIGHT, _EBML_DISPLAY_W, _EBML_DISPLAY_H, _EBML_DISPLAY_UNIT = 0xBA, 0x54B0, 0x54BA, 0x54B2


def _vint(b: bytes, i: int, keep_marker: bool = False) -> tuple[int, int]:
    """(value, length) of the EBML variable-length integer at b[i]."""
    first = b[i]
    n = 9 - first.bit_length() if first else 9
    if n > 8:
        raise ValueError("bad EBML number")
    v = first if keep_marker else first & (0xFF >> n)
    for k in range(1, n):
        v = (v << 8) | b[i + k]
    return v, n


def _ebml_element(b: bytes, i: int) -> tuple[int, int, int, int]:
    """(id, element start, data start, data end) of the EBML element at b[i]."""
    eid, n1 = _vint(b, i, keep_marker=True)
    size, n2 = _vint(b, i + n1)
    if size == (1 << (7 * n2)) - 1:
        raise ValueError("EBML element of unknown size")
    return eid, i, i + n1 + n2, i + n1 + n2 + size


def _ebml_children(b: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """_ebml_element of each element in b[start:end]."""
    out = []
    while start < end:
        out.append(_ebml_element(b, start))
        start = out[-1][3]
    if start != end:
        raise ValueError("EBML element runs past its parent")
    return out


def _ebml_size(n: int, length: int = 1) -> bytes:
    while n >= (1 << (7 * length)) - 1:
        length += 1
    return ((1 << (7 * length)) | n).to_bytes(length, "big")


def _ebml_uint(eid: int, v: int) -> bytes:
    data = v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big")
    return eid.to_bytes((eid.bit_length() + 7) // 8, "big") + _ebml_size(len(data)) + data


def mkv_set_aspect(path, width: int, height: int, sar: Fraction) -> bool:
    """Write a pixel aspect into a closed Matroska file from FFmpeg's muxer, as that muxer
    writes one: the video track's DisplayWidth:DisplayHeight = the display aspect, DisplayUnit
    3. The bytes come out of the Void element FFmpeg leaves in the track entry (the room it
    kept for CodecPrivate that FFV1's did not use: 11 bytes in its files, enough for the
    aspect of common sizes), so nothing else in the file moves; the Tracks CRC-32 is computed
    again. False (file untouched) when the file is not laid out so or the aspect does not fit. OSError once the write has begun: the file may be half patched
    (its Tracks CRC-32 no longer matches), not a file to keep."""
    dar = Fraction(width * sar.numerator, height * sar.denominator)
    if max(dar.numerator, dar.denominator) > 1 << 20:     # the muxer's own limit (av_reduce)
        dar = dar.limit_denominator(1 << 20)
    writing = False
    try:
        with open(path, "r+b") as f:
            b = bytearray(f.read(1 << 20))          # Tracks lies before the first cluster
            seg_id, _, i, _ = _ebml_element(b, _ebml_element(b, 0)[3])     # after the EBML header
            if seg_id != _EBML_SEGMENT:
                return False
            while True:                     # the Segment's top elements, to Tracks
                eid, e0, e1, e2 = _ebml_element(b, i)
                if eid == _EBML_CLUSTER or e2 > len(b):
                    return False
                if eid == _EBML_TRACKS:
                    tracks = (e0, e1, e2)
                    break
                i = e2
            for eid, _, d0, d1 in _ebml_children(b, tracks[1], tracks[2]):
                if eid != _EBML_TRACK_ENTRY:
                    continue
                entry = _ebml_children(b, d0, d1)
                ids = [e for e, *_ in entry]
                if _EBML_TRACK_TYPE not in ids:
                    continue
                _, _, t0, t1 = entry[ids.index(_EBML_TRACK_TYPE)]
                if int.from_bytes(b[t0:t1], "big") != 1:       # not the video track
                    continue
                if _EBML_VIDEO not in ids:
                    return False
                k = ids.index(_EBML_VIDEO)
                void = next((j for j in range(k + 1, len(entry)) if ids[j] == _EBML_VOID), None)
                if void is None:
                    return False
                _, v0, vd0, vd1 = entry[k]
                parts, placed = b"", False
                for e, a, c, d in _ebml_children(b, vd0, vd1):
                    if e in (_EBML_DISPLAY_W, _EBML_DISPLAY_H, _EBML_DISPLAY_UNIT):
                        continue
                    parts += bytes(b[a:d])
                    if e == _EBML_PIXEL_HEIGHT:      # where FFmpeg puts them
                        parts += (_ebml_uint(_EBML_DISPLAY_W, dar.numerator) + _ebml_uint(_EBML_DISPLAY_H, dar.denominator)
                                  + _ebml_uint(_EBML_DISPLAY_UNIT, 3))
                        placed = True
                if not placed:
                    return False
                middle = bytes(b[vd1:entry[void][1]])        # elements between Video and the Void
                old_end = entry[void][3]
                room = old_end - v0 - len(middle)
                for length in (1, 2):       # a 1-byte remainder goes into a longer size field
                    video = bytes([_EBML_VIDEO]) + _ebml_size(len(parts), length) + parts
                    left = room - len(video)
                    if left == 0 or left >= 2:
                        break
                if left < 0 or left == 1:
                    return False
                pad = b""
                if left:
                    size_len = 1 if left - 2 < 127 else 8
                    pad = bytes([_EBML_VOID]) + _ebml_size(left - 1 - size_len, size_len) + bytes(left - 1 - size_len)
                b[v0:old_end] = video + middle + pad
                # the CRC-32 (first child, little-endian) of TrackEntry and Tracks covers what follows it
                for m0, m1 in ((d0, d1), (tracks[1], tracks[2])):
                    first = _ebml_children(b, m0, m1)[0]
                    if first[0] == _EBML_CRC32:
                        b[first[2]:first[3]] = struct.pack("<I", zlib.crc32(bytes(b[first[3]:m1])) & 0xFFFFFFFF)
                f.seek(tracks[0])
                writing = True          # (the bytes reach the file at the latest as it closes)
                f.write(bytes(b[tracks[0]:tracks[2]]))
                return True
            return False
    except OSError:
        if writing:
            raise
        return False
    except (ValueError, IndexError):
        return False


def png_with_aspect(data: bytes, sar: Fraction) -> bytes:
    """A PNG file's bytes with a pHYs chunk (unit unknown: the pixel aspect alone) after its
    header; pixels per unit X : Y = the pixel's height : its width."""
    body = b"pHYs" + struct.pack(">IIB", sar.denominator, sar.numerator, 0)
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    end = 8 + 8 + 13 + 4        # signature, then IHDR: length, type, 13 bytes, CRC
    return data[:end] + chunk + data[end:]


def open_encoder(path, width: int, height: int, fps: float | Fraction = 24,
                 settings: ExportSettings | None = None, audio_source=None,
                 start_time: float = 0.0, end_time: float | None = None, vfr: bool = False,
                 sample_aspect_ratio: Fraction | None = None, field_order: str = "",
                 timecode: str | None = None) -> Encoder:
    """An encoder for ``path``; the format comes from ``settings.format`` or the extension.

    ``audio_source``: media file whose audio is passed through (video formats only);
    ``start_time``/``end_time``: the source time range (seconds) the audio is trimmed to;
    ``sample_aspect_ratio``: the source's pixel aspect, recorded in the output (see above);
    ``field_order``: an interlaced source's ("tt", "bb", ...), kept in video outputs;
    ``timecode``: the output's start timecode (``HH:MM:SS:FF`` / ``HH:MM:SS;FF``), written in
    .mov/.mp4 (a tmcd track) and .mkv (a TIMECODE tag); image sequences carry none.
    """
    settings = settings or ExportSettings()
    fmt = detect_format(path, settings.format)
    if width <= 0 or height <= 0:
        raise ExportError(f"{path}: invalid frame size {width}x{height}")
    if fmt in SEQUENCE_FORMATS:
        return SequenceEncoder(path, width, height, fmt, settings, sample_aspect_ratio)
    return VideoEncoder(path, width, height, fps, fmt, settings, audio_source, start_time, end_time, vfr,
                        sample_aspect_ratio, field_order, timecode)
