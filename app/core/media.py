"""Reading shots: video files through PyAV and folders of image frames.

Frames are served one at a time (sequentially for the fast path, or by index with a
seek), never as a whole shot in memory. `LumaCache` keeps only the shot's luma at proxy
size (uint8 per pixel), which is what propagation needs.
"""
from __future__ import annotations

import bisect
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import av
import cv2
from av.video.reformatter import VideoReformatter
import numpy as np

from models.color import rgb_to_luma

from app.core.validate import IMAGE_EXTS   # (there: the editor's GUI thread reads it without PyAV)

VIDEO_EXTS = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mxf"}


class MediaError(Exception):
    """A problem with an input file, with a message that names the file and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class CorruptMediaError(MediaError):
    """The stream broke part way: frames before `frame_index` were readable."""

    def __init__(self, path, frame_index: int, detail: str):
        self.frame_index = frame_index
        super().__init__(path, f"stream is corrupt or truncated at frame {frame_index} ({detail})")


@dataclass
class MediaInfo:
    path: str
    kind: str                      # "video" or "frames"
    width: int                     # display size (after rotation)
    height: int
    frame_count: int
    fps: float
    rotation: int = 0              # degrees, counter-clockwise, as the container says
    codec: str = ""
    pix_fmt: str = ""
    bit_depth: int = 8
    color_primaries: str = ""
    color_trc: str = ""
    colorspace: str = ""           # matrix
    color_range: str = ""          # "tv" / "pc" / ""
    variable_frame_rate: bool = False
    has_audio: bool = False
    timestamps: list[float] = field(default_factory=list, repr=False)  # seconds per frame
    broken: str | None = None      # where the stream breaks after its readable frames, if it does
    # a pixel's width over its height as shown, in display orientation: 1 for square pixels,
    # 16/15 or 64/45 for PAL SD (4:3 / 16:9), 8/9 or 32/27 for NTSC SD, 4/3 for HDV 1440x1080
    sample_aspect_ratio: Fraction = Fraction(1)
    # where frame 0 lies on the file's own clock, in seconds (``timestamps`` count from it): an
    # MPEG-TS capture or a DVD rip starts at 0.5 s or hours in, a mov with timecode anywhere;
    # the audio kept with a range is found on that clock
    time_origin: float = 0.0
    # interlaced video's field order as FFmpeg names it ("tt" top field first, "bb", "tb", "bt");
    # "" for progressive or unknown
    field_order: str = ""
    # the source's start timecode (frame 0's label), validated against the frame rate:
    # "HH:MM:SS:FF", or "HH:MM:SS;FF" drop-frame; None when the file has none (app.core.timecode)
    timecode: str | None = None

    @property
    def display_size(self) -> tuple[int, int]:
        """The picture's size as a player shows it: the width scaled by the pixel aspect
        (720x576 at 16:15 -> 768x576, 1440x1080 at 4:3 -> 1920x1080)."""
        return max(1, int(round(self.width * self.sample_aspect_ratio))), self.height

    def describe(self) -> str:
        """One line for a status bar or a log; colour tags only when the file carries them."""
        tags = [t for t in (self.color_primaries, self.color_trc, self.colorspace) if t]
        rng = {"tv": "limited range", "pc": "full range"}.get(self.color_range, self.color_range)
        if len(tags) == 3 and len(set(tags)) == 1:
            colour = tags[0].upper().replace("BT", "BT.")          # bt709 x3 -> BT.709
        else:
            colour = "/".join(tags)
        colour = ", ".join(x for x in (colour, rng) if x) or "untagged"
        vfr = " VFR" if self.variable_frame_rate else ""
        codec = " ".join(x for x in (self.codec or self.kind, self.pix_fmt) if x)
        sar = self.sample_aspect_ratio
        aspect = (f" (pixel aspect {sar.numerator}:{sar.denominator}, shown {self.display_size[0]}x"
                  f"{self.display_size[1]})" if sar != 1 else "")
        fields = {"tt": " interlaced (top field first)", "bb": " interlaced (bottom field first)"}.get(
            self.field_order, " interlaced" if self.field_order else "")
        tc = f", timecode {self.timecode}" if self.timecode else ""
        return (f"{Path(self.path).name}: {self.width}x{self.height}{aspect}, {self.frame_count} frames, "
                f"{self.fps:.3f} fps{vfr}{fields}{tc}, {codec}, colour {colour}")


def proxy_size(width: int, height: int, proxy_height: int = 480) -> tuple[int, int]:
    """Size for propagation: `proxy_height` lines, width keeping the aspect, even; never upscales."""
    if height <= proxy_height:
        return width, height
    w = int(round(width * proxy_height / height / 2.0)) * 2
    return max(2, w), proxy_height


# FFmpeg's AVColor* enum values for the tags we meet; unknown values pass through as numbers.
_PRIMARIES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 9: "bt2020", 12: "p3"}
_TRC = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 8: "linear", 13: "srgb", 14: "bt2020-10",
        16: "pq", 18: "hlg"}
_MATRIX = {0: "rgb", 1: "bt709", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 9: "bt2020nc"}
_RANGE = {1: "tv", 2: "pc"}


def _sample_aspect(stream) -> Fraction:
    """The stream's pixel aspect as FFmpeg guesses it (the container's, e.g. mov 'pasp' or
    Matroska's display size, else the bitstream's, e.g. H.264 VUI / MPEG-2); 1 when it is
    unset or out of any sane range."""
    try:
        sar = stream.sample_aspect_ratio
    except (AttributeError, ValueError, ZeroDivisionError):
        sar = None
    if not sar or sar <= 0:
        return Fraction(1)
    sar = Fraction(sar)
    return sar if Fraction(1, 8) <= sar <= 8 else Fraction(1)


def _tag(value, names: dict[int, str]) -> str:
    """Name of a colour tag; "" when unspecified (2 for the colour enums, 0 for range)."""
    if value is None:
        return ""
    v = int(value)
    if v in names:
        return names[v]
    return "" if v in (0, 2) else str(v)


_TIMECODE_WARNED: set[tuple[str, str]] = set()     # (file, timecode) already warned about


class MediaSource:
    """Common interface of video files and frame folders."""

    info: MediaInfo

    def __len__(self) -> int:
        return self.info.frame_count

    def read_rgb(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def iter_rgb(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        raise NotImplementedError

    def iter_proxy_luma(self, start: int, end: int, size: tuple[int, int]) -> Iterator[tuple[int, np.ndarray]]:
        """(index, proxy luma) for frames start..end-1: uint8 L * 2.55 at `size` (LumaCache's)."""
        for index, rgb in self.iter_rgb(start, end):
            yield index, proxy_luma_u8(rgb, size)

    def close(self) -> None:
        pass

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.info.frame_count:
            raise MediaError(self.info.path, f"frame index {index} is out of range (shot has "
                                             f"{self.info.frame_count} frames, 0..{self.info.frame_count - 1})")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# The packet index of files opened in this process: (path, content stamp) -> what
# _index_packets found. Reading every packet of a 70,000-frame reel took 0.4 s an open, and a
# render in segments opens the source twice per segment (hundreds of segments). Keyed by
# app.core.fsutil.content_stamp, so a file replaced or rewritten is indexed again.
_INDEX_CACHE: "OrderedDict[tuple, tuple]" = OrderedDict()
_INDEX_CACHE_LOCK = threading.Lock()
_INDEX_CACHE_SIZE = 8


class VideoSource(MediaSource):
    def __init__(self, path: Path):
        self.path = path
        try:
            self._container = av.open(str(path))
        except av.error.InvalidDataError as e:
            raise MediaError(path, "not a video file, an unsupported format, or a file whose index is "
                                   f"missing because it was truncated ({e.strerror or e})") from None
        except av.error.EOFError:
            raise MediaError(path, "contains zero decodable video frames (the file ends after its header)") from None
        except av.error.FFmpegError as e:
            raise MediaError(path, "cannot be read: the file is truncated or damaged before its first "
                                   f"frame ({e.strerror or e})") from None
        if not self._container.streams.video:
            self._container.close()
            raise MediaError(path, "contains no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._indexed()
        if not self._pts:
            self._container.close()
            if self._break is not None:
                raise MediaError(path, f"no frame is readable: {self._break}")
            raise MediaError(path, "contains zero decodable video frames")
        self._decoder: Iterator | None = None
        self._landed = self._landed_key = None   # the first packet and keyframe fed since a seek
        self._next = 0           # index the live decoder yields next
        self._decode_error: str | None = None
        self.info = self._make_info()
        self._check_promise()
        self.info.broken = self._break

    def _indexed(self) -> None:
        """_index_packets, or its result for the same file from an earlier open (_INDEX_CACHE)."""
        from app.core.fsutil import content_stamp
        try:
            key = (os.path.abspath(self.path), content_stamp(self.path))
        except OSError:
            key = None
        if key is not None:
            with _INDEX_CACHE_LOCK:
                hit = _INDEX_CACHE.get(key)
                if hit is not None:
                    _INDEX_CACHE.move_to_end(key)
            if hit is not None:
                self._pts, self._keys, self._discarded, self._break, self._feed_limit = hit
                return
        self._index_packets()
        if key is not None:
            with _INDEX_CACHE_LOCK:
                _INDEX_CACHE[key] = (tuple(self._pts), tuple(self._keys), self._discarded, self._break,
                                     self._feed_limit)
                while len(_INDEX_CACHE) > _INDEX_CACHE_SIZE:
                    _INDEX_CACHE.popitem(last=False)

    def _index_packets(self) -> None:
        """Presentation timestamps of the readable frames, from the demuxer only (no decoding).

        The stream is read in decode order up to the first packet that is cut short (a
        truncated file) or a demuxer error; ``self._break`` says what broke there and
        ``self._feed_limit`` is that packet's decode timestamp: decoding never feeds the
        decoder past it, so every pass sees the same frames. With B-frames a frame shown
        before the break may be stored after it: only frames shown at or before the last
        intact packet's decode time are readable (a later-stored frame has pts >= its dts >
        that time). Packets the container marks as discarded (outside an edit list) are
        decoded as references but are no frames of the shot.
        """
        self._break: str | None = None
        self._feed_limit: int | None = None
        pts: list[int] = []
        keys: list[int] = []      # where keyframe packets lie (the earlier of pts and dts)
        discarded = 0
        # A file that starts on a frame other than a keyframe (a capture or a stream-copy cut
        # that began mid-GOP) has frames no decoder can give: frame 0 is the first keyframe's
        # picture, as a player shows it. Frames stored before the first keyframe wait in
        # `early` until one is seen.
        first_key = None
        early: list[int] | None = []
        hidden = 0
        fallback = 0
        last_dts = None           # decode time of the last intact packet (monotone)
        count = 0
        last = None               # (the last packet's decode time, last_dts before it, its pts)
        try:
            for packet in self._container.demux(self._stream):
                if packet.size == 0:
                    continue
                if packet.is_corrupt:
                    self._break = f"frame data {count} is cut short (the file is truncated)"
                    self._feed_limit = packet.dts if packet.dts is not None else packet.pts
                    break
                count += 1
                last = (packet.dts if packet.dts is not None else packet.pts, last_dts, packet.pts)
                if packet.dts is not None:
                    last_dts = packet.dts if last_dts is None else max(last_dts, packet.dts)
                if packet.is_keyframe:
                    ts = [t for t in (packet.pts, packet.dts) if t is not None]
                    if ts:
                        keys.append(min(ts))
                if packet.is_keyframe and first_key is None:
                    first_key = packet.pts if packet.pts is not None else packet.dts
                    hidden += len(early)       # stored before the first keyframe: undecodable
                    early = None
                if packet.is_discard:
                    discarded += 1
                    continue
                if packet.pts is not None:
                    t = packet.pts
                elif packet.dts is not None:
                    t = packet.dts
                else:  # raw streams without timestamps: sequential order is all we have
                    t = fallback
                    fallback += 1
                (pts if early is None else early).append(t)
        except av.error.FFmpegError as e:
            self._break = f"the container breaks after {count} frames ({e.strerror or e})"
        if self._break is None and last is not None and self._ends_inside_ts_packet():
            # MPEG-TS marks no packet corrupt when the file stops mid-way: the demuxer hands
            # over the last frame's data as far as it goes (a .ts cut at 60 % rendered its last
            # frame with the lower half broken, and exit 0). A transport stream is whole
            # 188-byte packets (192 for M2TS, 204 with FEC), so a file that is not ends inside
            # one, and the frame it was carrying is cut short.
            self._break = f"frame data {count - 1} is cut short (the file ends inside a transport-stream packet)"
            self._feed_limit, last_dts, cut_pts = last
            if cut_pts is not None and cut_pts in pts:
                pts.remove(cut_pts)
        if early is not None:        # no keyframe marked at all: every frame is listed
            pts, hidden = early, 0
        elif first_key is not None:
            # the first keyframe's leading pictures (an open GOP's, HEVC RASL: shown before it,
            # stored after it) refer to frames the file does not hold: the decoder drops them
            kept = [p for p in pts if p >= first_key]
            hidden += len(pts) - len(kept)
            pts = kept
        pts.sort()
        if self._break is not None and last_dts is not None:
            pts = [p for p in pts if p <= last_dts]
        self._pts = pts
        self._keys = sorted(set(keys))
        # samples the file holds that are no frames: outside its edit list, or undecodable
        self._discarded = discarded + hidden
        if pts:
            self._container.seek(0, stream=self._stream)

    def _ends_inside_ts_packet(self) -> bool:
        """A transport stream (.ts, .m2ts) whose size is no whole number of its packets."""
        fmt = getattr(self._container.format, "name", "") or ""
        if "mpegts" not in fmt.split(","):
            return False
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return False
        return all(size % n for n in (188, 192, 204))

    def _check_promise(self) -> None:
        """A file whose header promises more frames (or a longer video track) than the
        readable ones is broken at its end, whatever the container."""
        if self._break is not None:
            return
        n = len(self._pts)
        s = self._stream
        # mp4/mov: the sample table's exact count, which counts the samples an edit list leaves
        # out (a file cut by stream copy keeps the frames from the keyframe before the cut)
        if s.frames and int(s.frames) > n + self._discarded:
            self._break = f"the file ends after {n} of the {int(s.frames)} frames its header announces"
            return
        promised = self._promised_seconds()
        times = self.info.timestamps
        if promised is None or not times:
            return
        step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0 / (self.info.fps or 25.0)
        end = times[-1] + step
        if s.start_time is not None and s.time_base:
            # the track's length counts from its first packet: undecodable frames before the
            # first keyframe (a file that starts mid-GOP) lie in it, before frame 0
            end += max(0.0, float((self._pts[0] - s.start_time) * s.time_base))
        if promised - end > 1.5 * step:
            self._break = (f"the file ends after {n} frames ({end:.3f} s) but its header announces "
                           f"{promised:.3f} s of video")

    def _promised_seconds(self) -> float | None:
        """Length of the video track the container announces: the track's own duration
        (mp4/mov), Matroska's per-track DURATION tag, or the file's duration when the video
        is its only stream."""
        s = self._stream
        start = float(s.start_time * s.time_base) if s.start_time is not None and s.time_base else 0.0
        if s.duration and s.time_base:
            return float(s.duration * s.time_base)
        tag = (s.metadata or {}).get("DURATION")
        if tag:
            m = re.match(r"^(\d+):(\d+):(\d+(?:\.\d+)?)$", tag.strip())
            if m:
                return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) - start
        if self._container.duration and len(self._container.streams) == 1:
            return self._container.duration / 1e6 - start
        return None

    def _make_info(self) -> MediaInfo:
        s = self._stream
        cc = s.codec_context
        tb = float(s.time_base) if s.time_base else 0.0
        times = [(p - self._pts[0]) * tb for p in self._pts] if tb else []
        if s.average_rate:
            fps = float(s.average_rate)
        elif len(times) > 1 and times[-1] > 0:
            fps = (len(times) - 1) / times[-1]
        else:
            fps = 25.0
        vfr = False
        if len(times) > 2:
            d = np.diff(times)
            vfr = bool(d.size and np.median(d) > 0 and (d.max() - d.min()) > 0.5 * np.median(d))
        rotation = self._rotation()
        w, h = cc.width, cc.height
        sar = _sample_aspect(s)
        if rotation % 180:
            w, h = h, w
            sar = 1 / sar          # the pixel's shape turns with the picture
        fmt = cc.format
        depth = 8
        if fmt is not None:
            m = re.search(r"p(\d+)(le|be)$", fmt.name)
            depth = int(m.group(1)) if m else 8
        return MediaInfo(
            path=str(self.path), kind="video", width=w, height=h, frame_count=len(self._pts), fps=fps,
            rotation=rotation, codec=cc.name, pix_fmt=fmt.name if fmt else "", bit_depth=depth,
            color_primaries=_tag(getattr(cc, "color_primaries", None), _PRIMARIES),
            color_trc=_tag(getattr(cc, "color_trc", None), _TRC),
            colorspace=_tag(getattr(cc, "colorspace", None), _MATRIX),
            color_range=_tag(getattr(cc, "color_range", None), _RANGE),
            variable_frame_rate=vfr, has_audio=bool(self._container.streams.audio), timestamps=times,
            sample_aspect_ratio=sar, time_origin=self._pts[0] * tb if tb else 0.0,
            field_order={2: "tt", 3: "bb", 4: "tb", 5: "bt"}.get(int(getattr(cc, "field_order", 0) or 0), ""),
            timecode=self._timecode(fps),
        )

    def _timecode(self, fps: float) -> str | None:
        """The start timecode as FFmpeg exposes it: the video stream's "timecode" tag (mov/mp4
        copy the tmcd track's there; Matroska's per-track TIMECODE), else the file's (MXF,
        Matroska's global tag), else a data stream's (a tmcd track on its own). Validated at
        the frame rate; an unusable one is left out with a warning, never an error."""
        def tag(obj):
            try:
                md = obj.metadata or {}
            except Exception:        # a container or stream PyAV cannot describe: no tag
                return None
            for k, v in md.items():
                if str(k).lower() == "timecode" and str(v).strip():
                    return str(v).strip()
            return None
        found = tag(self._stream) or tag(self._container)
        if found is None:
            for s in self._container.streams:
                if s.type == "data" and (found := tag(s)):
                    break
        if found is None:
            return None
        from app.core.timecode import TimecodeError, parse_timecode
        try:
            return str(parse_timecode(found, fps))
        except TimecodeError as exc:
            if (str(self.path), found) not in _TIMECODE_WARNED:    # once, not at every open
                _TIMECODE_WARNED.add((str(self.path), found))
                import logging
                logging.getLogger("app.warnings").warning(
                    "%s: its timecode is left out (outputs will carry none): %s", self.path, exc)
            return None

    def _rotation(self) -> int:
        # Display matrix rotation is exposed on decoded frames; peek at the first one.
        try:
            for frame in self._container.decode(self._stream):
                rot = int(getattr(frame, "rotation", 0) or 0)
                break
            else:
                rot = 0
        except av.error.FFmpegError:
            rot = 0
        self._container.seek(0, stream=self._stream)
        return rot % 360

    def _to_rgb(self, frame: av.VideoFrame, size: tuple[int, int] | None = None) -> np.ndarray:
        """RGB for display, optionally scaled to `size` (display orientation) by swscale while
        converting from YUV: cheaper than a full-size frame and a resize."""
        rot = self.info.rotation if hasattr(self, "info") else 0
        grey = _grey_rgb(frame) if size is None else None
        if grey is not None:
            rgb = cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)
        elif size is None:
            rgb = convert(frame, self._swscale(), format="rgb24")
        else:
            w, h = (size[1], size[0]) if rot % 180 else size
            rgb = convert(frame, self._swscale(), format="rgb24", width=w, height=h, interpolation="AREA")
        if rot:
            # PyAV's rotation is counter-clockwise degrees to apply for display.
            rgb = np.ascontiguousarray(np.rot90(rgb, k=rot // 90))
        return rgb

    def _decode_from(self, index: int) -> Iterator[av.VideoFrame]:
        """A decoder positioned so that its next frame is `index`.

        A seek is only a guess: where it lands depends on the container (mp4 seeks by decode
        time, Matroska by presentation time, MPEG-TS/PS by a search on the timestamps it
        reads), and the decoder may not give the frames just after it: an open GOP's leading
        pictures (shown before their I-frame, stored after it, referring to the GOP before),
        an intra-refresh recovery point, an MPEG-2 B-frame without its references are dropped
        or come out broken. So the landing is checked: the first frame at or after the target
        must be the target itself (not a later frame), and the target must not be shown before
        the first keyframe the decoder was fed (a leading picture). Otherwise it seeks again
        from an earlier keyframe, and in the end from the start of the file."""
        target = self._pts[index]
        seek_ts = None if index == 0 else target
        for _ in range(8):
            if seek_ts is None:
                self._container.seek(0, stream=self._stream)
            else:
                self._container.seek(seek_ts, stream=self._stream, backward=True, any_frame=False)
            self._landed = self._landed_key = None
            gen = self._frames()
            found = None
            for frame in gen:
                pts = frame.pts if frame.pts is not None else frame.dts
                if pts is None or pts >= target:
                    found, fpts = frame, pts
                    break
            if seek_ts is None and found is None:   # from the start: the file holds no more
                break
            if seek_ts is None:
                fpts = target if fpts is None else fpts
            if found is not None and (seek_ts is None or (fpts is None or fpts == target) and (
                    self._landed_key is None or target >= self._landed_key)):
                # frames sharing one timestamp (a VFR file's repeated times) are told apart by
                # their order: the index's n-th frame at that time is the decoder's n-th
                for _ in range(index - bisect.bisect_left(self._pts, target)):
                    found = next(gen, None)
                    if found is None or (found.pts if found.pts is not None else found.dts) != target:
                        raise CorruptMediaError(self.path, index, "a frame does not decode")
                return _chain(found, gen)
            gen.close()
            bound = min(t for t in (self._landed, seek_ts) if t is not None)
            earlier = [k for k in self._keys if k < bound]
            seek_ts = earlier[-1] if earlier and earlier[-1] > self._pts[0] else None
        raise CorruptMediaError(self.path, index, "seek found no frame")

    def _swscale(self):
        """This source's swscale context holder (a source is read by one thread at a time)."""
        rf = getattr(self, "_reformatter", None)
        if rf is None:
            rf = self._reformatter = VideoReformatter()
        return rf

    def iter_proxy_luma(self, start: int, end: int, size: tuple[int, int]):
        """The luma pass of a render and of the luma store. A grey frame (chroma planes at their
        neutral code, the usual input; see NEUTRAL_TOLERANCE) is scaled by swscale as Y' alone and mapped to L by a
        256-entry table: 1-2 ms a frame at 1080p -> 854x480 (the luma pass of a 150-frame
        render: 3.1 s of CPU before, 1.1 s) instead of a scaled RGB frame and its Lab
        conversion, and closer to the true L (swscale's fast YUV -> RGB is biased 1-3 codes
        dark per channel). Other frames take the RGB path."""
        scaled = size != (self.info.width, self.info.height)
        for index, frame in self._frames_between(start, end):
            y = _neutral_proxy_luma(frame, size, self.info.rotation, self._swscale())
            if y is None:
                y = proxy_luma_u8(self._to_rgb(frame, size if scaled else None), size)
            yield index, y

    def _frames(self) -> Iterator[av.VideoFrame]:
        """Decoded frames from the demuxer's position, never fed past the break (see
        _index_packets); then the decoder is drained: the same frames on every pass."""
        cc = self._stream.codec_context
        limit = self._feed_limit
        failed = None
        try:
            for packet in self._container.demux(self._stream):
                if packet.size == 0:
                    continue
                if packet.is_corrupt:
                    break
                # where this run of the decoder starts (_decode_from checks a seek's landing)
                if self._landed is None:
                    ts = [t for t in (packet.pts, packet.dts) if t is not None]
                    self._landed = min(ts) if ts else None
                if self._landed_key is None and packet.is_keyframe:
                    self._landed_key = packet.pts if packet.pts is not None else packet.dts
                if limit is not None:
                    t = packet.dts if packet.dts is not None else packet.pts
                    if t is not None and t >= limit:
                        break
                try:
                    frames = cc.decode(packet)
                except av.error.FFmpegError as e:   # a packet the decoder cannot read
                    failed = e
                    break
                yield from frames
        except av.error.FFmpegError as e:  # the container breaks: drain what was fed
            failed = e
        try:
            yield from cc.decode(None)
        except av.error.FFmpegError as e:
            failed = failed or e
        if failed is not None:
            self._decode_error = f"{failed.strerror or failed}"

    def iter_rgb(self, start: int = 0, end: int | None = None):
        for index, frame in self._frames_between(start, end):
            yield index, self._to_rgb(frame)

    def iter_frames(self, start: int = 0, end: int | None = None):
        """(index, av.VideoFrame) as decoded, not converted nor rotated: the render's Y'CbCr
        path reads the planes itself (app.core.yuvpath)."""
        return self._frames_between(start, end)

    def _frames_between(self, start: int, end: int | None):
        """Decoded frames start..end-1 in order; CorruptMediaError says where a stream broke
        (a frame that does not come out of the decoder, or the end of a file that promises
        more than it holds)."""
        end = self.info.frame_count if end is None else min(end, self.info.frame_count)
        if start >= end:
            return
        self._check_index(start)
        self._decoder = None  # a fresh decoder for the sequential pass
        self._decode_error = None
        index = start
        try:
            for frame in self._decode_from(start):
                if index >= end:
                    break
                pts = frame.pts if frame.pts is not None else frame.dts
                if pts is not None and pts > self._pts[index]:
                    # frame `index` never came out of the decoder
                    raise CorruptMediaError(self.path, index, self._decode_error or "a frame does not decode")
                if pts is not None and pts < self._pts[index]:
                    continue      # a frame the index does not list (discarded): not the shot's
                yield index, frame
                index += 1
        except av.error.FFmpegError as e:
            raise CorruptMediaError(self.path, index, str(e)) from None
        if index < end:
            raise CorruptMediaError(self.path, index, self._decode_error or
                                    f"only {index} of {self.info.frame_count} frames decode")
        if end == self.info.frame_count and self._break is not None:
            raise CorruptMediaError(self.path, index, self._break)

    def read_rgb(self, index: int) -> np.ndarray:
        self._check_index(index)
        try:
            # Keep a live decoder: stepping forward a little is cheaper than seeking.
            if self._decoder is None or not (self._next <= index <= self._next + 12):
                self._decoder = self._decode_from(index)
                self._next = index
            while True:
                frame = next(self._decoder)
                pts = frame.pts if frame.pts is not None else frame.dts
                if pts is not None and self._next < len(self._pts) and pts != self._pts[self._next]:
                    # frames are known by their time, not counted: one the index does not list
                    # (outside an edit list) is skipped, and after a frame that did not decode
                    # the count goes on at the frame that did
                    j = bisect.bisect_left(self._pts, pts)
                    if j == len(self._pts) or self._pts[j] != pts or j < self._next:
                        continue
                    if j > index:
                        self._decoder = None
                        raise CorruptMediaError(self.path, index, self._decode_error or "a frame does not decode")
                    self._next = j
                current = self._next
                self._next += 1
                if current == index:
                    return self._to_rgb(frame)
        except StopIteration:
            self._decoder = None
            raise CorruptMediaError(self.path, index, "the stream ended early") from None
        except av.error.FFmpegError as e:
            self._decoder = None
            raise CorruptMediaError(self.path, index, str(e)) from None

    def close(self) -> None:
        self._decoder = None
        self._container.close()


def _chain(first, rest):
    yield first
    yield from rest


class FrameFolderSource(MediaSource):
    """A folder of numbered image frames (PNG, JPEG, TIFF; 8 or 16 bit)."""

    def __init__(self, path: Path, fps: float = 24.0):
        self.path = path
        # hidden files are no frames: macOS writes "._NAME" resource forks beside every file
        # copied to a foreign disk, and they would sort first as frame 0
        files = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTS
                        and not p.name.startswith(".") and p.is_file()), key=_natural_key)
        if not files:
            raise MediaError(path, "folder contains no image frames (PNG, JPEG, TIFF)")
        self.files = files
        first = self._load(0)
        h, w = first.shape[:2]
        depth = 16 if self._last_dtype == np.uint16 else 8
        self.info = MediaInfo(path=str(path), kind="frames", width=w, height=h, frame_count=len(files),
                              fps=fps, codec=files[0].suffix.lower().lstrip("."), bit_depth=depth,
                              pix_fmt="rgb48" if depth == 16 else "rgb24",
                              timestamps=[i / fps for i in range(len(files))])

    def _load(self, index: int) -> np.ndarray:
        f = self.files[index]
        try:
            img, self._last_dtype = decode_image(f)
        except ValueError as exc:
            problem = "is unreadable" if str(exc).startswith("unreadable") else f"is broken: {exc}"
            raise CorruptMediaError(self.path, index, f"{f.name} {problem}") from None
        if hasattr(self, "info") and img.shape[:2] != (self.info.height, self.info.width):
            raise CorruptMediaError(self.path, index, f"{f.name} is {img.shape[1]}x{img.shape[0]}, "
                                                      f"the first frame is {self.info.width}x{self.info.height}")
        return img

    def read_rgb(self, index: int) -> np.ndarray:
        self._check_index(index)
        return self._load(index)

    def iter_rgb(self, start: int = 0, end: int | None = None):
        end = self.info.frame_count if end is None else min(end, self.info.frame_count)
        for i in range(start, end):
            yield i, self.read_rgb(i)


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


def open_media(path: str | os.PathLike, fps: float | None = None) -> MediaSource:
    """Open a video file or a folder of frames; raises MediaError with a specific reason."""
    p = Path(path)
    if not p.exists():
        raise MediaError(p, "no such file or folder")
    if p.is_dir():
        return FrameFolderSource(p, fps=fps or 24.0)
    if not p.is_file():
        raise MediaError(p, "is not a regular file (a pipe or a device); give a video file or a "
                            "folder of frames (the source is read more than once)")
    if p.stat().st_size == 0:
        raise MediaError(p, "file is empty (0 bytes)")
    if p.suffix.lower() in IMAGE_EXTS:
        raise MediaError(p, "is a single image, not a video (open the folder of frames instead)")
    return VideoSource(p)


def _jpeg_cut_short(data: bytes) -> bool:
    """True for a JPEG whose image data ends before its end marker (a truncated file; data
    after the end marker, such as a motion photo's video, is allowed)."""
    if not data.startswith(b"\xff\xd8"):
        return False
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return True                      # the marker segments are broken
        marker = data[i + 1]
        if marker == 0xFF:                   # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:
            i += 2
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker == 0xDA:                   # start of scan: the image data runs to the end marker
            return data.find(b"\xff\xd9", i + 2 + length) < 0
        i += 2 + length
    return True


def decode_image(path: Path) -> tuple[np.ndarray, np.dtype]:
    """An image file as uint8 RGB, with the sample type it was stored in. 16-bit samples are
    scaled, float samples read as 0..1, an alpha channel is dropped, an EXIF orientation is
    applied (as image viewers show the picture) and colour in an embedded ICC profile's space is
    converted to sRGB (app.core.icc). ValueError says what is wrong."""
    try:
        data = np.fromfile(str(path), np.uint8)
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror or exc})") from None
    # decoded from memory: a truncated JPEG fails here (cv2.imread fills its missing rows grey)
    try:
        img = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR) if data.size else None
    except cv2.error as exc:      # OpenCV refuses a header promising more than 2^30 pixels
        if "MAX_IMAGE_PIXELS" in str(exc):
            raise ValueError("the image is too large to read (its header promises more than "
                             "2^30 pixels)") from None
        raise ValueError("unreadable image (not PNG/JPEG/TIFF or corrupt)") from None
    if img is None:
        if _jpeg_cut_short(data.tobytes()):
            raise ValueError("JPEG data is cut short (the file is truncated)")
        raise ValueError("unreadable image (not PNG/JPEG/TIFF or corrupt)")
    dtype = img.dtype
    if dtype == np.uint16:
        img = (img.astype(np.float32) * (255.0 / 65535.0) + 0.5).astype(np.uint8)
    elif dtype in (np.float32, np.float64):
        img = np.nan_to_num(img.astype(np.float32))
        if img.max() > 2.0:
            raise ValueError(f"float samples run to {img.max():g}; float images are read as 0..1")
        img = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif dtype != np.uint8:
        raise ValueError(f"{dtype} samples are not supported (8- or 16-bit integer, or float 0..1)")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
        return img, dtype
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    elif img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    else:
        raise ValueError(f"{img.shape[2]} channels are not supported (grey, RGB or RGBA)")
    # colour pixels in an embedded profile's space (Adobe RGB, Display P3) are brought to sRGB
    from app.core.icc import to_srgb
    return to_srgb(img, data.tobytes()).rgb, dtype


def read_image_rgb(path: str | os.PathLike) -> np.ndarray:
    """A still image (keyframe, reference) as uint8 RGB; MediaError if missing or unreadable."""
    p = Path(path)
    if not p.exists():
        raise MediaError(p, "no such image file")
    try:
        return decode_image(p)[0]
    except ValueError as exc:
        raise MediaError(p, str(exc)) from None


class LumaCache:
    """The shot's luma at proxy size, one sequential decode, stored as uint8 (L * 2.55).

    Satisfies models.base.LumaFrames. Indices are relative to `start`. For a 300-frame
    shot at 854x480 this is about 120 MB; full-resolution frames are never kept.
    If the stream breaks part way, the readable frames are kept and `error` says where.
    """

    SCALE = 255.0 / 100.0

    def __init__(self, frames: np.ndarray, size: tuple[int, int], start: int = 0,
                 error: CorruptMediaError | None = None):
        self._frames = frames
        self.size = size
        self.start = start
        self.error = error

    @classmethod
    def build(cls, source: MediaSource, proxy_height: int = 480, start: int = 0, end: int | None = None,
              progress: Callable[[int, int], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> "LumaCache":
        info = source.info
        end = info.frame_count if end is None else min(end, info.frame_count)
        if not 0 <= start < end:
            raise MediaError(info.path, f"frame range {start}..{end - 1} is empty or out of range "
                                        f"(shot has {info.frame_count} frames)")
        from app.core.validate import ValidationError, check_frame_size
        try:   # propagation cannot run on frames this small (OpenCV fails or crashes)
            check_frame_size(info.path, info.width, info.height, proxy_height)
        except ValidationError as exc:
            raise MediaError(info.path, str(exc).split(": ", 1)[1]) from None
        w, h = proxy_size(info.width, info.height, proxy_height)
        frames = np.empty((end - start, h, w), np.uint8)
        count = 0
        error = None
        try:
            for index, y in source.iter_proxy_luma(start, end, (w, h)):
                if should_stop is not None and should_stop():
                    break
                frames[count] = y
                count += 1
                if progress is not None:
                    progress(count, end - start)
        except CorruptMediaError as e:
            if count == 0:
                raise
            error = e
        return cls(frames[:count] if count < len(frames) else frames, (w, h), start, error)

    def __len__(self) -> int:
        return len(self._frames)

    def __getitem__(self, index: int) -> np.ndarray:
        return self._frames[index].astype(np.float32) * (1.0 / self.SCALE)

    def raw(self, index: int) -> np.ndarray:
        """uint8 luma (L * 2.55), for display."""
        return self._frames[index]


# 8-bit planar Y'CbCr whose chroma planes can be checked for grey (neutral = 128)
_NEUTRAL_FORMATS = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p"})
# A frame is grey when at most NEUTRAL_SHARE of each chroma plane's samples lie more than
# NEUTRAL_TOLERANCE codes from 128: exact grey, and grey with the chroma noise of a film scan or
# a telecine (noise of sigma 2 codes puts ~0.3 % of samples past 6), take the Y' path on every
# frame, so the two paths (which differ by up to ~3 codes of proxy luma on a grey frame) do not
# alternate from frame to frame; colour footage is far past it.
NEUTRAL_TOLERANCE = 6
NEUTRAL_SHARE = 0.005
_GREY_L_LUT: np.ndarray | None = None


def _grey_l_lut() -> np.ndarray:
    """Full-range grey code -> proxy luma (L * 2.55, uint8), as proxy_luma_u8 maps an R=G=B pixel."""
    global _GREY_L_LUT
    if _GREY_L_LUT is None:
        ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
        _GREY_L_LUT = np.clip(rgb_to_luma(ramp)[0] * LumaCache.SCALE + 0.5, 0, 255).astype(np.uint8)
    return _GREY_L_LUT


# the same at 10 and 12 bits (neutral 512 / 2048, the tolerance scaled alike)
_NEUTRAL_DEEP = re.compile(r"^yuv4(20|22|44)p(10|12)le$")


def _is_neutral(frame) -> bool:
    """Whether a decoded frame is grey (see NEUTRAL_TOLERANCE), 8-bit or 10/12-bit planar."""
    from app.core.yuvpath import _plane
    name = frame.format.name
    if re.fullmatch(r"gray(10le|12le)?", name):
        return True
    m = _NEUTRAL_DEEP.match(name)
    if name not in _NEUTRAL_FORMATS and m is None:
        return False
    shift = int(m.group(2)) - 8 if m else 0
    for p in frame.planes[1:3]:
        c = _plane(p, np.uint16 if shift else np.uint8)
        off = cv2.countNonZero(cv2.compare(cv2.absdiff(c, 128 << shift), NEUTRAL_TOLERANCE << shift, cv2.CMP_GT))
        if off > NEUTRAL_SHARE * c.size:
            return False
    return True


_GREY_RGB_LUTS: dict[tuple[int, bool], np.ndarray] = {}


def _grey_rgb(frame) -> np.ndarray | None:
    """The grey (R = G = B, one channel uint8) of a grey decoded frame, straight from its Y'
    plane through a table: limited-range codes scaled to 0..255 and rounded, full range scaled.
    swscale's YUV -> RGB (the fast path PyAV gives) was dark by 0.5 codes on average on 8-bit
    sources (truncation) and 1.6 (up to 2.6) on 10-bit ones: PNG, TIFF and FFV1 renders, which
    compose from this RGB, did not keep the source's luma as H.264 / ProRes renders do. The
    table is also ~5x cheaper at 1080p. None when the frame has colour or no Y' plane."""
    from app.core.yuvpath import y_plane
    planes = y_plane(frame) if _is_neutral(frame) else None
    if planes is None:
        return None
    y, bits, full = planes
    lut = _GREY_RGB_LUTS.get((bits, full))
    if lut is None:
        codes = np.arange(1 << bits, dtype=np.float64)
        if full:
            g = codes * 255.0 / ((1 << bits) - 1)
        else:
            s = 1 << (bits - 8)
            g = (codes - 16 * s) * 255.0 / (219 * s)
        lut = _GREY_RGB_LUTS[(bits, full)] = np.clip(np.floor(g + 0.5), 0, 255).astype(np.uint8)
    return cv2.LUT(np.ascontiguousarray(y), lut) if bits == 8 else lut[y]


def convert(frame, reformatter, **kw) -> np.ndarray:
    """frame.to_ndarray(**kw) through a reformatter kept by the caller. PyAV's to_ndarray gives
    every frame a reformatter of its own, so swscale builds a new context (its scaling filters)
    for each frame: 8-9 ms at 1080p -> 854x480 AREA and ~7 ms for 1080p -> RGB, against 1.0 ms
    and 17 ms a frame in all with one context reused. The pixels are the same."""
    return reformatter.reformat(frame, **kw).to_ndarray()


def _neutral_proxy_luma(frame, size: tuple[int, int], rotation: int = 0,
                        reformatter=None) -> np.ndarray | None:
    """Proxy luma of a grey decoded frame (display orientation), or None if it has colour."""
    if frame.format.name != "gray" and frame.format.name not in _NEUTRAL_FORMATS:
        # 10/12-bit grey (a ProRes or DPX-like master): its exact grey (_grey_rgb), area-scaled;
        # swscale's YUV -> RGB route was 1.6 codes dark there and 3x the CPU
        g = _grey_rgb(frame)
        if g is None:
            return None
        if rotation % 360:
            g = np.rot90(g, k=(rotation % 360) // 90)
        if (g.shape[1], g.shape[0]) != tuple(size):
            g = cv2.resize(np.ascontiguousarray(g), tuple(size), interpolation=cv2.INTER_AREA)
        return cv2.LUT(np.ascontiguousarray(g), _grey_l_lut())
    if not _is_neutral(frame):
        return None
    w, h = (size[1], size[0]) if rotation % 180 else size
    g = convert(frame, reformatter or VideoReformatter(), format="gray", width=w, height=h, interpolation="AREA")
    if rotation % 360:
        g = np.rot90(g, k=(rotation % 360) // 90)
    return cv2.LUT(np.ascontiguousarray(g), _grey_l_lut())


def proxy_luma_u8(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (rgb.shape[1], rgb.shape[0]) != size:
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return np.clip(rgb_to_luma(rgb) * LumaCache.SCALE + 0.5, 0, 255).astype(np.uint8)
