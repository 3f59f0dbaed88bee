"""A render as a list of segments written to a render folder and joined at the end.

One segment is one shot of the reel (clipped to the rendered range), or a run of consecutive
short shots of at least SEGMENT_FRAMES frames in all (a film's thousands of 1-3 s shots as one
file per shot paid ~0.5 s of start-up each: a resumed render of a 1,682-shot reel took 12-20
minutes against 70 s for a plain one). It is rendered by the ordinary pipeline
(app.core.render.render) on that frame range with its shots as the render's shots (so
propagation stays inside each, as in a plain render) and the keys and strokes of those shots
only, into a lossless file in the render folder (.avi with a checksum file: segment_codec):
for an H.264 or ProRes output the Y'CbCr planes that output stores (yuv420p in Ut Video,
yuv422p10le in FFVHuff), composed from the source's Y' as a plain render composes them,
which the join copies into the output untouched; for the other outputs RGB (Ut Video, gbrp).
Either decodes bit-exact to what was composed. The encoder writes
a temp name and renames it when complete, so a segment file that exists is a finished
segment: a render that stops (cancel, crash, a dead farm node) keeps its finished segments
and the next run with the same inputs renders only the rest. The segment's file name carries
a hash of everything that decides its pixels (source file, range, key images, strokes,
method, proxy height, the planes it stores), so a changed project never reuses a stale
segment.

The join decodes the segments in order and writes the output with the source audio through
the same encoder set-up as a plain render (app.core.render.open_output, same audio range).

Plain Python, no Qt, no Ray: the farm (app.core.renderfarm.farm) runs ``render_segment`` as Ray tasks;
anything else (a resumed render, the render queue's job) can run it in a loop.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from app.core.export import ExportSettings
from app.core.media import convert, open_media
from app.core.render import RenderError, RenderJob, RenderProgress, RenderResult, open_output, render
from app.core.shutdown import deferred_signals

SEGMENT_RE = re.compile(r"^seg_(\d{5})_(\d+)_(\d+)_([0-9a-f]{12})\.avi$")
# A segment's checksum file (blake2b of the whole segment, beside it): its codec keeps no CRC,
# and a segment spoilt on disk must be found and rendered again. Written before the segment
# gets its name, so a segment file that exists has it.
SEAL_SUFFIX = ".b2"


# Consecutive shots are grouped into one segment until it holds at least this many frames
# (RenderJob.segment_frames overrides it; 1: one segment per shot). A long shot is a segment
# of its own; a segment never splits a shot.
SEGMENT_FRAMES = 240


@dataclass(frozen=True)
class Segment:
    index: int          # position in the render (0-based)
    start: int          # first source frame (inclusive)
    end: int            # exclusive
    first_shot: int = 0                              # 0-based number of its first shot
    # its shots, inclusive (start, end) clipped to the range; () = one shot, start..end-1
    shots: tuple[tuple[int, int], ...] = ()

    @property
    def frames(self) -> int:
        return self.end - self.start

    @property
    def shot_ranges(self) -> list[tuple[int, int]]:
        return list(self.shots) or [(self.start, self.end - 1)]

    @property
    def label(self) -> str:
        n = len(self.shot_ranges)
        which = f"shot {self.first_shot + 1}" if n == 1 else f"shots {self.first_shot + 1}-{self.first_shot + n}"
        return f"{which} (frames {self.start}..{self.end - 1})"


class SegmentError(RenderError):
    """One segment could not be rendered; the message names the shot and the problem."""


class DamagedSegment(RenderError):
    """A finished segment file cannot be read back whole (cut short, overwritten, emptied on
    disk after its render): the join removed it, so rendering it again repairs the render."""

    def __init__(self, path: Path, segment: "Segment", why: str):
        self.path, self.segment = Path(path), segment
        super().__init__(f"{path}: the rendered segment of {segment.label} is damaged ({why}); "
                         f"it was removed, so the same command renders it again")


# --------------------------------------------------------------------------- planning
def check_job(job: RenderJob) -> None:
    """What render() checks before it reads anything, for a render in segments, before its
    render folder is made: the settings and the output's format, an output that would replace
    a file the job reads (the source, a key image, the hints file, the project), and the
    output's folder. The join writes the output only after every shot is rendered."""
    from app.core.export import SEQUENCE_FORMATS, _check_writable_dir, check_sequence_target, detect_format
    from app.core.render import KeyframeError, _check_job
    _check_job(job)
    _check_writable_dir(Path(job.output))
    if detect_format(job.output, job.export.format) in SEQUENCE_FORMATS:
        check_sequence_target(Path(job.output))
    for f, spec in sorted(job.keys.items()):   # each shot reads its own keys; a missing one fails now
        if not isinstance(spec, np.ndarray) and not Path(spec).is_file():
            raise KeyframeError(f"{spec}: keyframe image for frame {f}: no such image file")
    # a key of the wrong size or unreadable, as a plain render finds it before the luma pass:
    # found when its segment came, it failed a resumed or farm render after the whole luma pass
    # and every segment before it
    start, end = int(job.start or 0), (None if job.end is None else int(job.end))
    keys = [(int(f), spec) for f, spec in sorted(job.keys.items())
            if start <= int(f) and (end is None or int(f) < end)]
    if keys:
        from app.core.render import _from, load_key_image
        with open_media(job.input) as src:
            info = src.info
        for f, spec in keys:
            try:
                load_key_image(spec, f, (info.width, info.height), job.input, info.display_size)
            except KeyframeError as exc:      # a key given as an array: name the project it came from
                raise KeyframeError(f"{_from(job, spec)}{exc}") from None


def job_range(job: RenderJob, n_frames: int) -> tuple[int, int]:
    start = int(job.start or 0)
    end = n_frames if job.end is None else int(job.end)
    if not 0 <= start < end <= n_frames:
        raise RenderError(f"{job.input}: the range {start}..{end - 1} is outside the source's "
                          f"{n_frames} frames (0..{n_frames - 1})")
    return start, end


def plan_segments(job: RenderJob, shots: Sequence[Sequence[int]] | None, n_frames: int) -> list[Segment]:
    """The shots (inclusive ``(start, end)`` pairs) clipped to the job's range, consecutive
    ones grouped until a segment holds at least ``job.segment_frames`` (default
    SEGMENT_FRAMES) frames; without shots, the whole range is one segment."""
    from app.core.render import outside_range
    start, end = job_range(job, n_frames)
    outside_range(job, start, end, shots)     # a key the range cuts off from its shot is refused
    if not shots:
        return [Segment(0, start, end)]
    clipped = []
    number = []                               # each clipped shot's number in the reel (0-based)
    for k, (a, b) in enumerate(shots):
        lo, hi = max(int(a), start), min(int(b) + 1, end)
        if lo < hi:
            clipped.append((lo, hi))
            number.append(k)
    if not clipped or clipped[0][0] != start or clipped[-1][1] != end or any(
            x[1] != y[0] for x, y in zip(clipped, clipped[1:])):
        raise RenderError(f"the shots do not cover the rendered range {start}..{end - 1} without gaps")
    want = max(1, int(getattr(job, "segment_frames", None) or SEGMENT_FRAMES))
    out: list[Segment] = []
    group: list[int] = []                     # indices into clipped of the open segment's shots

    def close() -> None:
        runs = [clipped[k] for k in group]
        out.append(Segment(len(out), runs[0][0], runs[-1][1], number[group[0]],
                           tuple((a, b - 1) for a, b in runs) if len(runs) > 1 else ()))
        group.clear()
    for k, (lo, hi) in enumerate(clipped):
        if group and hi - lo >= want:
            # a long shot is a segment of its own: the short shots before it are one (else
            # a changed key in one of them rendered the long shot again, and the farm could not
            # spread the two)
            close()
        group.append(k)
        if hi - clipped[group[0]][0] >= want:
            close()
    if group:
        close()
    return out


def cut_to(job: RenderJob, seg: Segment) -> RenderJob:
    """The job with only the keys and strokes inside the segment (what a farm task is sent)."""
    keys = {int(f): v for f, v in job.keys.items() if seg.start <= int(f) < seg.end}
    strokes = [s for s in job.strokes if seg.start <= s.frame < seg.end]
    return dataclasses.replace(job, keys=keys, strokes=strokes)


def segment_pix_fmt(job: RenderJob) -> str:
    """What a segment stores: the Y'CbCr planes an H.264 or ProRes output stores, composed from
    the source's Y' as a plain render of that output composes them (the join then copies them
    into the output untouched); RGB ("") for the other outputs, which take RGB."""
    from app.core.export import PLANE_PIX_FMTS, ExportError, detect_format
    try:
        return PLANE_PIX_FMTS.get(detect_format(job.output, job.export.format), "")
    except ExportError:
        return ""


def segment_codec(job: RenderJob) -> str:
    """The lossless codec of the segments, in .avi with a checksum file: Ut Video for an H.264
    output's yuv420p planes and for RGB (as gbrp), FFVHuff for ProRes's yuv422p10le (Ut Video's
    encoder here writes 8 bits only). CPU a 1080p frame to write / read back, against FFV1's:
    yuv420p 8 / 8 ms (45 / 57), yuv422p10le 11 / 33 (109 / 144), gbrp 17 / 17: with FFV1
    segments a --resume render of the 1080p benchmark clip took 2.4x a plain render's time."""
    return "ffvhuff" if segment_pix_fmt(job) == "yuv422p10le" else "utvideo"


def segment_job(job: RenderJob, seg: Segment, output: Path) -> RenderJob:
    """The plain render of one segment: its range, its own keys and strokes, lossless, no audio."""
    extra = {"shots": seg.shot_ranges} if hasattr(job, "shots") else {}
    return dataclasses.replace(cut_to(job, seg), output=Path(output), start=seg.start, end=seg.end,
                               export=ExportSettings(format="ffv1", audio=False, pix_fmt=segment_pix_fmt(job),
                                                     codec=segment_codec(job)),
                               **extra)


def _b(text: str) -> bytes:
    """A path's text as bytes, also when the file name is not UTF-8 (os.fsdecode's surrogates)."""
    return text.encode("utf-8", "surrogateescape")


def segment_hash(job: RenderJob, seg: Segment) -> str:
    """What decides a segment's pixels, hashed: source file (path, size, mtime, sampled content:
    app.core.fsutil.content_stamp; a frame folder: its frames' size, mtime, ctime), range, key
    images, strokes, method, hint method, proxy height, the version of the luma (FRAME_KEYS_VERSION)."""
    from app.core.fsutil import content_stamp, entry_stamp
    h = hashlib.sha1()
    src = Path(job.input)
    try:
        if src.is_dir():
            # a frame folder: the files of this segment's frames (a mended frame of another
            # shot leaves this segment valid)
            names = sorted(n for n in os.listdir(src) if not n.startswith("."))
            h.update(_b(f"{src.resolve()}|{len(names)}"))
            for n in names[seg.start:seg.end]:   # a frame copied over with cp -p: a new ctime
                size, mtime, ctime = entry_stamp(src / n)
                h.update(_b(f"|{n}|{size}|{mtime}|{ctime}"))
        else:
            # size, mtime and sampled content: a file replaced in place with its old mtime
            # put back (touch -r, cp -p) does not reuse the old file's segments
            size, mtime, digest = content_stamp(src)
            h.update(_b(f"{src.resolve()}|{size}|{mtime}|{digest}"))
    except OSError:
        h.update(_b(str(src)))
    from app.core.cache import FRAME_KEYS_VERSION     # the version of what turns a source into luma
    h.update(f"|{seg.start}|{seg.end}|{job.method}|{job.proxy_height}|{getattr(job, 'auto', '')}"
             f"|v{FRAME_KEYS_VERSION}".encode())
    sub = segment_job(job, seg, Path("x"))
    if sub.export.pix_fmt:                # Y'CbCr segments (RGB ones keep their earlier hashes)
        h.update(f"|pix:{sub.export.pix_fmt}".encode())
    h.update(f"|codec:{sub.export.codec}".encode())
    if job.hint_method and sub.strokes:   # only when chosen and painted with: earlier hashes stay valid
        h.update(f"|hint:{job.hint_method}".encode())
    if seg.shots:                         # several shots: where the cuts inside it lie
        h.update(("|shots:" + ",".join(f"{a}-{b}" for a, b in seg.shots)).encode())
    for f in sorted(sub.keys):
        v = sub.keys[f]
        h.update(f"|k{f}:".encode())
        if isinstance(v, np.ndarray):
            h.update(np.ascontiguousarray(v).tobytes())
        else:
            p = Path(v)
            h.update(_b(str(p.resolve())) + (p.read_bytes() if p.is_file() else b""))
    for s in sub.strokes:
        h.update(repr((s.frame, [tuple(map(float, p)) for p in s.points], float(s.radius),
                       tuple(s.color), bool(s.erase))).encode())
    return h.hexdigest()[:12]


def segment_path(job: RenderJob, seg: Segment, render_dir: Path) -> Path:
    return Path(render_dir) / f"seg_{seg.index:05d}_{seg.start}_{seg.end - 1}_{segment_hash(job, seg)}.avi"


def segment_files(render_dir: Path) -> list[Path]:
    """The segment files in a render folder, sorted by name."""
    try:
        return sorted(p for p in Path(render_dir).iterdir() if SEGMENT_RE.match(p.name))
    except FileNotFoundError:
        return []


def _seal_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + SEAL_SUFFIX)


def _digest(path: Path | None = None, data: bytes | None = None) -> str:
    h = hashlib.blake2b(digest_size=16)
    if data is not None:
        h.update(data)
        return h.hexdigest()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def seal_segment(path: Path, written: Path | None = None, data: bytes | None = None) -> None:
    """Write the checksum file of segment ``path`` from its bytes as they are now in ``written``
    (a temp name, renamed to ``path`` after this) or ``data``."""
    from app.core.project import atomic_write_bytes
    atomic_write_bytes(_seal_path(path), (_digest(written or path, data) + "\n").encode())


def segment_finished(path: Path) -> bool:
    """A finished segment: its file and its checksum file (removing the checksum file makes
    the next run render the segment again)."""
    return Path(path).is_file() and _seal_path(path).is_file()


def check_seal(path: Path) -> None:
    """ValueError when a segment's bytes are not those it was sealed with. The segment is read
    first: one that cannot be read here (a folder in its place, no descriptors left) raises its
    OSError, an error of the machine, not of the segment (_read_segment keeps it)."""
    path = Path(path)
    got = _digest(path)
    try:
        want = _seal_path(path).read_text().strip()
    except FileNotFoundError:
        raise ValueError("its checksum file is missing") from None
    if got != want:
        raise ValueError("its checksum does not match (the file changed since it was rendered)")


def default_render_dir(output: str | os.PathLike) -> Path:
    """Beside the output (so it is on the same shared filesystem as the output)."""
    out = Path(output).absolute()
    from app.core.fsutil import short_name
    return out.with_name(f".{short_name(out.name)}.hueshot-render")


# -------------------------------------------------------------------------- rendering
def _all_grey(sub: RenderJob, seg: Segment) -> bool:
    """Nothing in the segment gives colour: no key, no stroke (and no --auto), or only eraser
    strokes that leave every shot of it grey (app.core.reels.reel.grey_shots: the hint methods
    with the prior colour such a shot). A segment with painting strokes renders as before."""
    if sub.keys or any(not s.erase for s in sub.strokes):
        return False
    if not sub.strokes:
        return not getattr(sub, "auto", False)
    from app.core.reels.reel import grey_shots
    return len(grey_shots(sub, seg.shot_ranges)[0]) == len(seg.shot_ranges)


def render_segment(job: RenderJob, seg: Segment, render_dir: str | os.PathLike,
                   progress: Callable[[RenderProgress], None] | None = None,
                   should_stop: Callable[[], bool] | None = None,
                   results: list[RenderResult] | None = None) -> Path:
    """Render one segment into the render folder (skipped when its finished file is there).
    Errors are SegmentError naming the shot. ``results``: the segment's RenderResult is
    appended there when it is rendered (its method and device, for the caller's summary)."""
    render_dir = Path(render_dir)
    render_dir.mkdir(parents=True, exist_ok=True)
    out = segment_path(job, seg, render_dir)
    if segment_finished(out):
        return out
    # written under a name that is not a segment's, then sealed, then renamed: a segment file
    # that exists has its checksum (a kill between leaves no half-finished segment)
    written = out.with_name(out.stem + "_unsealed" + out.suffix)
    sub = segment_job(job, seg, written)
    if job.chroma is None and _all_grey(sub, seg):
        # shots nobody coloured are rendered grey (zero chroma), as propagation per shot does;
        # also shots whose only strokes erase: rendered as a job of their own they were refused
        # ('nothing to propagate: all strokes erase'), so --resume and --farm failed on a reel
        # that a plain render renders
        src = open_media(job.input)
        try:
            w, h = src.info.width, src.info.height
        finally:
            src.close()
        zero = np.zeros((h, w, 2), np.float32)
        sub = dataclasses.replace(sub, chroma=lambda i: zero)
    try:
        result = render(sub, progress=progress, should_stop=should_stop)
    except RenderError as exc:
        if type(exc).__name__ == "RenderCancelled":
            raise
        raise SegmentError(f"{seg.label}: {exc}") from None
    except Exception as exc:     # MediaError, ExportError, OSError: name the shot
        raise SegmentError(f"{seg.label}: {exc}") from None
    if result.truncated is not None and result.frames < seg.frames:
        # (a segment that ends where a truncated source's readable frames end is whole: the
        # break lies after it, and the caller reports it)
        written.unlink(missing_ok=True)
        raise SegmentError(f"{seg.label}: {result.truncated}")
    seal_segment(out, written)
    os.replace(written, out)
    if results is not None:
        results.append(result)
    return out


def finished_segments(job: RenderJob, segments: Sequence[Segment], render_dir: Path) -> set[int]:
    return {s.index for s in segments if segment_finished(segment_path(job, s, render_dir))}


# ------------------------------------------------------------------------------- join
def _plane(p, dtype) -> np.ndarray:
    item = np.dtype(dtype).itemsize
    return np.frombuffer(memoryview(p), dtype).reshape(p.height, p.line_size // item)[:, :p.width]


def _remove_damaged(path: Path) -> None:
    for p in (Path(path), _seal_path(path)):
        try:
            p.unlink(missing_ok=True)
        except OSError:
            pass


class _read_segment:
    """``with _read_segment(path, seg) as frames``: the segment file's decoded frames; a file
    that cannot be opened or decoded (an error of the segment, never of the output being
    written) is removed and raised as DamagedSegment. One that cannot be read for a reason of
    the machine (no permission, out of file descriptors or memory, an I/O error, a folder in
    its place) is kept and the error raised as SegmentError: nothing says its frames are bad."""

    def __init__(self, path: Path, seg: Segment):
        self.path, self.seg, self.container = Path(path), seg, None

    def _damaged(self, exc: BaseException) -> RenderError:
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        if isinstance(exc, (OSError, MemoryError)) and not isinstance(exc, FileNotFoundError):
            return SegmentError(f"{self.path}: the rendered segment of {self.seg.label} could not be read "
                                f"({why}); it was kept")
        _remove_damaged(self.path)
        return DamagedSegment(self.path, self.seg, why)

    def __enter__(self):
        import av
        try:
            check_seal(self.path)
            self.container = av.open(str(self.path))
            stream = self.container.streams.video[0]
        except (av.error.FFmpegError, OSError, IndexError, ValueError) as exc:
            if self.container is not None:
                self.container.close()
            raise self._damaged(exc) from None
        return self._frames(stream)

    def _frames(self, stream):
        import av
        it = self.container.decode(stream)
        while True:
            try:
                frame = next(it)
            except StopIteration:
                return
            except (av.error.FFmpegError, ValueError) as exc:
                raise self._damaged(exc) from None
            yield frame

    def __exit__(self, *exc) -> None:
        self.container.close()


def join_segments(job: RenderJob, segments: Sequence[Segment], paths: Sequence[Path],
                  progress: Callable[[RenderProgress], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> RenderResult:
    """Decode the segment files in order into ``job.output`` with the source audio of the
    whole range, opened exactly as render() opens its encoder."""
    import av
    from av.video.reformatter import VideoReformatter
    t0 = time.perf_counter()
    should_stop = should_stop or (lambda: False)
    src = open_media(job.input)
    try:
        info = src.info
    finally:
        src.close()
    start, end = segments[0].start, segments[-1].end
    ts = info.timestamps
    # variable frame rate: each frame keeps its source time, as in a plain render
    vfr = bool(info.variable_frame_rate and len(ts) >= end)
    enc = open_output(job, info, start, end)       # as render() opens its encoder
    total, done = end - start, 0
    pf = enc.plane_format
    try:
        for seg, path in zip(segments, paths):
            n = 0
            rf = VideoReformatter()      # one swscale context per segment, not one per frame
            with _read_segment(path, seg) as frames:
                for frame in frames:
                    if should_stop():
                        from app.core.render import RenderCancelled
                        raise RenderCancelled("render cancelled")
                    t = (ts[start + done] - ts[start]) if vfr else None
                    if pf is not None and frame.format.name == pf.pix_fmt and \
                            (frame.width, frame.height) == (pf.width, pf.height):
                        # the output's own planes, composed by the segment's render: copied as
                        # they are (through RGB and back, Y' moved by a code or more)
                        enc.write_planes(*(_plane(p, pf.dtype) for p in frame.planes), t)
                    else:
                        enc.write(convert(frame, rf, format="rgb24"), t)
                    n += 1
                    done += 1
                    if progress is not None:
                        el = time.perf_counter() - t0
                        f = done / el if el > 0 else 0.0
                        progress(RenderProgress("join", done, total, f, (total - done) / f if f > 0 else None))
            if n != seg.frames:
                _remove_damaged(path)
                raise DamagedSegment(path, seg, f"it holds {n} frames, {seg.frames} expected")
        # as a plain render closes its encoder (render.finish_pipeline): a signal while the
        # output is finished and renamed into place is dropped, never raised after the rename
        with deferred_signals(reraise=False):
            enc.close()
    except BaseException:
        enc.abort()
        raise
    el = time.perf_counter() - t0
    return RenderResult(output=Path(job.output), frames=total, seconds=el, fps=total / el if el > 0 else 0.0,
                        method=job.method or "", device="")
