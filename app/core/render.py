"""The headless render pipeline, shared by ``hueshot propagate`` and the GUI's export.

    open media -> LumaCache at proxy height (one sequential decode)
    -> keyframes (full colour at input size; validated) and hint strokes -> models.hinting.hints
    -> propagator (proxy resolution, frame by frame)
    -> chroma upsampled to full resolution guided by the full-resolution luma (models.upsample)
    -> RGB composed with the source luma untouched (models.color.compose_rgb)
    -> encoder (app.core.export)

H.264 and ProRes outputs skip RGB (app.core.yuvpath): the decoded frame's Y' plane goes to
the encoder as it is and chroma is upsampled and composed only at the resolution the format
stores (4:2:0: a quarter of the pixels), then handed over as planes.

Streaming: the full-resolution pass decodes the shot a second time, frame by frame; only the
proxy luma (uint8) is held for the whole shot. Five stages run in their own threads joined by
small bounded queues — decode + full-res luma, propagation (with a bounded reorder buffer that
spills to disk if a method yields frames out of order), chroma upsample, compose (the calling
thread), encode — so the GIL-releasing OpenCV / FFmpeg work overlaps on several cores and
memory stays flat. OpenCV methods (flow, the baselines) on device auto/cpu never import torch.

Frame ranges are ``start`` (inclusive) .. ``end`` (exclusive) in source frame indices.
"""
from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from app.core.cache import ChromaCache
from app.core.export import ExportError, ExportSettings, open_encoder
from app.core.media import CorruptMediaError, LumaCache, MediaError, open_media, read_image_rgb
from app.core.shutdown import (END, Stages, Stopped, deferred_signals, remove_path, sweep_stale,
                               temp_tag, track)
from app.core.validate import (ValidationError, check_export_settings, check_frame_size,
                               check_hint_method, check_output_not_input, check_proxy_height, colourless_strokes,
                               is_grey_image, warn)
from app.core.yuvpath import ChromaComposer, source_y
from models.base import HintStroke
from models.color import compose_rgb, rgb_to_ab, rgb_to_luma

log = logging.getLogger(__name__)


class RenderError(Exception):
    """A render could not run; the message names the file or setting and the problem."""


class KeyframeError(RenderError):
    """A keyframe image is missing, unreadable, the wrong size, or on a frame out of range."""


class RenderCancelled(RenderError):
    pass


@dataclass
class RenderProgress:
    stage: str            # "luma" (first, fast decode pass) or "render"
    done: int             # frames done in this stage
    total: int            # frames in this stage
    fps: float            # frames per second in this stage
    eta: float | None     # seconds left for the whole job (None while unknown)


@dataclass
class RenderJob:
    input: Path
    output: Path
    keys: dict[int, object] = field(default_factory=dict)   # frame -> image path or RGB uint8 array
    strokes: list[HintStroke] = field(default_factory=list)
    proxy_height: int = 480
    start: int = 0
    end: int | None = None            # exclusive; None = end of shot
    method: str | None = None         # models.registry name; None = DEFAULT_METHOD
    # neither keys nor strokes: frame `start` is coloured by the learned prior (models.hinting.hints.auto_colorize)
    auto: bool = False
    device: str = "auto"
    export: ExportSettings = field(default_factory=ExportSettings)
    # Already-propagated chroma (e.g. the GUI's cache, so the export is exactly the preview):
    # source frame index -> proxy ab (HxWx2) or None. When set, keys/strokes/method are not
    # used and no propagation runs; a None for a wanted frame is an error.
    chroma: Callable[[int], np.ndarray | None] | None = None
    # other files the job reads (a hints file, the project and its layers folder): the
    # output may not replace them, as it may not replace the input or a keyframe image
    protect: list[Path] = field(default_factory=list)
    # Inclusive (start, end) shots in source frames (app.core.reels.shots): keys, strokes, propagation
    # and smoothing stay inside each shot; a shot with no key or stroke is rendered grey.
    # "detect": the luma store's own shots, found while it is built (after validation).
    shots: list[tuple[int, int]] | str | None = None
    # The source's proxy luma already on disk (app.core.reels.lumastore.LumaStore): no luma pass, and
    # memory does not grow with the length of the range.
    luma_store: object | None = None
    # how far strokes reach, on grey and over colour (models.hinting.hints.HINT_METHODS;
    # None = DEFAULT_HINT_METHOD)
    hint_method: str | None = None
    # the hints file or project the strokes (and keyframes given as arrays) were read from:
    # an error about one of them names it
    strokes_from: Path | None = None
    # a render in segments (--resume, --farm): consecutive shots are grouped into segments of
    # at least this many frames (None: farm_segments.SEGMENT_FRAMES; 1: a segment per shot)
    segment_frames: int | None = None


@dataclass
class RenderResult:
    output: Path
    frames: int
    seconds: float
    fps: float
    method: str
    device: str
    truncated: CorruptMediaError | None = None   # input broke: the frames before it were rendered
    stats: dict = field(default_factory=dict)     # seconds busy per stage (thread CPU-ish time)
    first_frame_s: float | None = None            # seconds from the start until frame 1 was composed


# ----------------------------------------------------------------------------- helpers
_GREY_LUT: np.ndarray | None = None


def full_luma(rgb: np.ndarray) -> np.ndarray:
    """L (float32, 0..100) of a full-resolution frame, equal to models.color.rgb_to_luma.

    Grey frames (R = G = B, the usual input) go through a 256-entry LUT: ~3 ms at 1080p
    instead of ~19 ms for the Lab conversion.
    """
    global _GREY_LUT
    if _GREY_LUT is None:
        ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
        _GREY_LUT = np.ascontiguousarray(rgb_to_luma(ramp)[0].astype(np.float32).reshape(1, 256))
    if rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3:
        r, g, b = cv2.split(rgb)
        if cv2.countNonZero(cv2.absdiff(r, g)) == 0 and cv2.countNonZero(cv2.absdiff(r, b)) == 0:
            return cv2.LUT(r, _GREY_LUT)
    return rgb_to_luma(rgb)


def compose_frame(rgb_full: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """One output frame: the source frame's luma + chroma (proxy chroma is upsampled guided
    by the full-resolution luma). The same path the render pipeline takes, for callers that
    compose single frames (viewer snapshots) so they match the export."""
    from models.upsample import upsample_ab
    L = full_luma(rgb_full)
    if ab.shape[:2] != L.shape:
        ab = upsample_ab(np.asarray(ab, np.float32), L)
    return compose_rgb(L, ab)


def key_at_stored_size(img: np.ndarray, size: tuple[int, int],
                       display_size: tuple[int, int] | None = None) -> np.ndarray | None:
    """A key image at the source's stored size: as it is, or, for a source with non-square
    pixels, an image made at its display size (a still grabbed from a player: 768x576 for PAL
    4:3 stored 720x576) scaled back to the stored width; None for any other size. Only the
    key's chroma is used, so the scaling does not touch the output's luma."""
    w, h = size
    ih, iw = img.shape[:2]
    if (iw, ih) == (w, h):
        return img
    if display_size is None or tuple(display_size) == (w, h) or ih != h or abs(iw - display_size[0]) > 1:
        return None
    return cv2.resize(np.ascontiguousarray(img), (w, h), interpolation=cv2.INTER_AREA if iw > w else cv2.INTER_LINEAR)


def load_key_image(spec, frame: int, size: tuple[int, int], input_path,
                   display_size: tuple[int, int] | None = None) -> np.ndarray:
    """A keyframe as RGB uint8 at the input size (one made at a non-square-pixel source's
    display size is scaled to it); KeyframeError names the file and problem."""
    w, h = size
    if isinstance(spec, np.ndarray):
        img, name = spec, f"keyframe {frame}"
    else:
        name = str(spec)
        try:
            img = read_image_rgb(spec)
        except MediaError as exc:
            raise KeyframeError(f"{exc.path}: keyframe image for frame {frame}: {exc.problem}") from None
    if img.ndim != 3 or img.shape[2] != 3:
        raise KeyframeError(f"{name}: keyframe image must be RGB")
    fitted = key_at_stored_size(img, size, display_size)
    if fitted is None:
        shown = ""
        if display_size is not None and tuple(display_size) != (w, h):
            shown = f" (shown {display_size[0]}x{display_size[1]}: its pixels are not square)"
        sizes = f"{w}x{h}" + (f" or its display size {display_size[0]}x{display_size[1]}" if shown else "")
        raise KeyframeError(f"{name}: keyframe image is {img.shape[1]}x{img.shape[0]} but "
                            f"{Path(input_path).name} is {w}x{h}{shown}; keyframes must match the input size "
                            f"({sizes})")
    return np.ascontiguousarray(fitted, np.uint8)


def _range_text(start: int, end: int) -> str:
    return f"{start}..{end - 1}"


def outside_range(job: RenderJob, start: int, end: int, shots) -> None:
    """Keys and strokes outside the rendered range start..end-1. One in a shot the range does
    not reach colours no rendered frame: it is left out (a reel rendered a shot at a time keeps
    its other shots' keys). One in a shot the range cuts, or anywhere when the source is one
    shot (``shots`` empty), would colour the range's frames from outside it: refused."""
    found = [(int(f), f"{_from(job, v)}keyframe {int(f)}") for f, v in job.keys.items() if not start <= int(f) < end]
    found += [(s.frame, f"{_from(job)}hint stroke on frame {s.frame}") for s in job.strokes
              if not start <= s.frame < end]
    for f, what in sorted(found):
        shot = next(((int(a), int(b)) for a, b in shots or () if int(a) <= f <= int(b)), None)
        if not shots or shot is None:
            raise KeyframeError(f"{what}: outside the rendered range {_range_text(start, end)}")
        if shot[0] < end and shot[1] >= start:
            raise KeyframeError(f"{what}: outside the rendered range {_range_text(start, end)} but in shot "
                                f"{shot[0]}..{shot[1]}, which the range cuts (it colours the shot's frames in "
                                f"the range); render from frame {min(shot[0], start)} to "
                                f"{max(shot[1], end - 1)}, or leave it out")


def _from(job: RenderJob, key=None) -> str:
    """"FILE: " for a message about a stroke (or a keyframe given as an array) of a job whose
    strokes came from a hints file or project; keyframe files name themselves."""
    if job.strokes_from is None or (key is not None and not isinstance(key, np.ndarray)):
        return ""
    return f"{job.strokes_from}: "


def _protect_label(p) -> str:
    name = str(p)
    if name.endswith(".hueshot-layers"):
        return "project's layers folder"
    if name.endswith(".hueshot"):
        return "project file"
    if name.endswith(".json"):
        return "hints file"
    return "file the render reads"


def _check_job(job: RenderJob) -> None:
    """Settings and paths, before the input is opened: a bad value is one RenderError line,
    and the output may never be one of the files the job reads."""
    from app.core.export import SEQUENCE_FORMATS, detect_format
    try:
        check_proxy_height(job.proxy_height, "", "proxy height")
        check_export_settings(job.export)
        check_hint_method(job.hint_method)
        sequence = detect_format(job.output, job.export.format) in SEQUENCE_FORMATS
        inputs = [("input", job.input)]
        inputs += [(f"keyframe image for frame {f}", spec) for f, spec in job.keys.items()
                   if not isinstance(spec, np.ndarray)]
        inputs += [(_protect_label(p), p) for p in job.protect]
        check_output_not_input(job.output, inputs, sequence)
    except ValidationError as exc:
        raise RenderError(str(exc)) from None


# ------------------------------------------------------------------- stopping cleanly
SPILL_PREFIX = "hueshot-render-"


def make_spill_dir() -> Path:
    """The reorder buffer's spill folder in TMPDIR, named after this process; folders left by
    dead processes (a SIGKILL) are removed first."""
    tmp = Path(tempfile.gettempdir())
    sweep_stale(tmp, SPILL_PREFIX)
    d = tmp / f"{SPILL_PREFIX}{temp_tag()}"
    d.mkdir(mode=0o700)     # chroma of the user's footage: private in a shared TMPDIR
    return track(d)


def finish_pipeline(stages: Stages, enc, ok: bool) -> None:
    """The one shutdown order of a render: stop, drain and join every stage thread, and only
    then close (``ok``) or abort the encoder. Signals wait until it is done. A thread that
    does not stop leaves the encoder's container open (its temp file is still removed):
    closing a container under a thread inside ``stream.encode`` is what crashed."""
    with deferred_signals(reraise=False):
        stuck = stages.shutdown()
        if stuck:
            enc.discard()
        elif ok:
            enc.close()
            return
        else:
            enc.abort()
    if ok:
        raise RenderError(f"render threads did not stop ({', '.join(stuck)}); "
                          f"{enc.path} was not written")


# ------------------------------------------------------------------------------ render
def render(job: RenderJob, progress: Callable[[RenderProgress], None] | None = None,
           should_stop: Callable[[], bool] | None = None) -> RenderResult:
    """Run the whole pipeline; returns a RenderResult or raises RenderError / MediaError /
    ExportError (all with specific messages). Cancel with ``should_stop`` (checked per frame):
    the partial output is removed and RenderCancelled raised."""
    from models.registry import DEFAULT_METHOD, OPENCV_METHODS, get_propagator

    t0 = time.perf_counter()
    should_stop = should_stop or (lambda: False)
    stages = Stages("render")
    _check_job(job)
    src = open_media(job.input)
    try:
        info = src.info
        try:
            check_frame_size(info.path, info.width, info.height, job.proxy_height)
        except ValidationError as exc:
            raise RenderError(str(exc)) from None
        n = info.frame_count
        start = int(job.start or 0)
        end = n if job.end is None else int(job.end)
        if not 0 <= start < n:
            raise RenderError(f"{job.input}: start frame {start} is out of range "
                              f"(the shot has {n} frames, 0..{n - 1})")
        if not start < end <= n:
            raise RenderError(f"{job.input}: end frame {end - 1} is out of range "
                              f"(the shot has {n} frames, 0..{n - 1}; start is {start})")
        # --- validate everything before any long work
        keys_rgb: dict[int, np.ndarray] = {}
        for f, spec in sorted(job.keys.items()):
            f = int(f)
            if not 0 <= f < n:
                raise KeyframeError(f"{_from(job, spec)}keyframe {f}{' (' + str(spec) + ')' if not isinstance(spec, np.ndarray) else ''}: "
                                    f"frame index out of range (the shot has {n} frames, 0..{n - 1})")
            if not start <= f < end:
                continue              # outside_range() below: left out, or refused
            try:
                keys_rgb[f] = load_key_image(spec, f, (info.width, info.height), job.input, info.display_size)
            except KeyframeError as exc:    # a key given as an array: name the project it came from
                raise KeyframeError(f"{_from(job, spec)}{exc}") from None
            if job.chroma is None and is_grey_image(keys_rgb[f]):
                warn(f"keyframe {f}{' (' + str(spec) + ')' if not isinstance(spec, np.ndarray) else ''} "
                     f"has no colour (grey); the frames it reaches stay grey")
        grey = colourless_strokes(job.strokes) if job.chroma is None else []
        if grey:
            warn(f"{len(grey)} hint stroke(s) have no colour (r = g = b, e.g. stroke {grey[0]} on frame "
                 f"{job.strokes[grey[0]].frame}); they paint grey")
        for s in job.strokes:
            if not 0 <= s.frame < n:
                raise RenderError(f"{_from(job)}hint stroke on frame {s.frame}: frame index out of range "
                                  f"(the shot has {n} frames, 0..{n - 1})")
        if job.shots != "detect":         # detected shots are known once the luma pass ran (_run)
            outside_range(job, start, end, job.shots)
        if job.chroma is not None:
            propagator, method, device_name = None, "precomputed", "-"
        else:
            from models.hinting.hints import strokes_give_colour
            painting = [s for s in job.strokes if not s.erase]
            # erasers alone colour by the prior under 'prior' / 'prior+spread' (a reel's shot of
            # them renders so): refused, a segment of that shot failed --resume and --farm
            if not job.keys and not painting and not job.auto and \
                    not strokes_give_colour(job.strokes, job.hint_method):
                empty = ""
                if job.strokes_from is not None:
                    what = "keyframe or hint stroke" if str(job.strokes_from).endswith(".hueshot") else "hint stroke"
                    empty = f" ({job.strokes_from} holds no {what})"
                if job.strokes:     # erasers only: they remove colour, and there is none (was a grey render, exit 0)
                    empty = f" ({job.strokes_from or 'the hints'}: all {len(job.strokes)} stroke(s) erase)"
                raise RenderError(f"nothing to propagate{empty}: give at least one keyframe (--key N=IMAGE), "
                                  "hint strokes (--hints FILE) or --auto")
            method = job.method or DEFAULT_METHOD
            pref = job.device.strip().lower() if isinstance(job.device, str) else job.device
            if method in OPENCV_METHODS and pref in (None, "auto", "cpu"):
                device = None        # OpenCV on the CPU: no device to pick, torch is not imported
            else:
                from models.device import DeviceUnavailable, pick_device
                try:
                    device = pick_device(job.device)
                except DeviceUnavailable as exc:
                    raise RenderError(str(exc)) from None
            try:
                propagator = get_propagator(method, device)
            except KeyError as exc:
                raise RenderError(exc.args[0]) from None
            except ImportError as exc:
                raise RenderError(f"propagation method {method!r} is not available in this install ({exc})") from None
            if device is None:
                import os
                device_name = f"CPU ({os.cpu_count() or 1} cores, OpenCV)"
            else:
                from models.device import describe
                device_name = describe(device)

        # --- the output is opened (temp name) first, so an unwritable target fails fast
        enc = None
        try:
            enc = open_output(job, info, start, end)
            result = _run(job, src, info, start, end, keys_rgb, propagator, method, device_name,
                          enc, progress, should_stop, t0, stages)
            enc = None  # closed by _run
            return result
        finally:
            if enc is not None:
                with deferred_signals(reraise=False):
                    if stages.alive():
                        enc.discard()
                    else:
                        enc.abort()
    finally:
        with deferred_signals(reraise=False):
            if not stages.alive():   # never free a decoder a thread may still be inside
                src.close()


def open_output(job: RenderJob, info, start: int, end: int):
    """The encoder of a render of source frames start..end-1 (render() and the farm's join
    open theirs here): the source's frame rate, pixel aspect, field order and audio over the
    range, and its timecode shifted to the range's first frame (a join covers the whole range,
    so it starts where the range does)."""
    fps = info.fps or 24.0
    ts = info.timestamps
    # the audio's range on the file's clock, where its packets' times lie (frame 0 is at
    # info.time_origin, not at 0, in a capture or rip; counted from 0 it was all cut away)
    start_time = info.time_origin + (ts[start] if ts and start < len(ts) else start / fps)
    end_time = info.time_origin + (ts[end - 1] if ts and end - 1 < len(ts) else (end - 1) / fps) + 1.0 / fps
    return open_encoder(job.output, info.width, info.height, fps, job.export,
                        audio_source=info.path if info.has_audio and info.kind == "video" else None,
                        start_time=start_time, end_time=end_time,
                        vfr=bool(info.variable_frame_rate and len(ts) >= end),
                        sample_aspect_ratio=info.sample_aspect_ratio, field_order=info.field_order,
                        timecode=_output_timecode(info, start))


def _output_timecode(info, start: int) -> str | None:
    """The timecode of source frame ``start``: the source's start timecode moved on by
    ``start`` frames (drop-frame counted as SMPTE counts it); None when the source has none."""
    tc = getattr(info, "timecode", None)
    if not tc:
        return None
    from app.core.timecode import TimecodeError, shift_timecode
    try:
        return shift_timecode(tc, start, info.fps)
    except TimecodeError as exc:       # MediaInfo validated it: only a changed rate gets here
        warn(f"{info.path}: its timecode is left out: {exc}")
        return None


def _key_rgb(key, frame: int, info, job) -> np.ndarray:
    """A keyframe's full-resolution RGB (a reel holds the file name until its frame comes)."""
    if isinstance(key, np.ndarray):
        return key
    return load_key_image(key, frame, (info.width, info.height), job.input, info.display_size)


def _run(job, src, info, start, end, keys_rgb, propagator, method, device_name, enc,
         progress, should_stop, t0, stages: Stages) -> RenderResult:
    import inspect

    from models.keys import build_keys
    from models.upsample import upsample_ab
    # the proxy luma the chroma was computed on, when upsample_ab accepts it (saves a resize)
    takes_proxy_luma = "L_proxy" in inspect.signature(upsample_ab).parameters

    total = end - start
    # ---------------------------------------------------------------- pass 1: proxy luma
    t_luma = time.perf_counter()

    def luma_progress(done, tot):
        if progress is not None:
            el = time.perf_counter() - t_luma
            f = done / el if el > 0 else 0.0
            # the render pass runs at roughly a quarter of the decode rate: a rough whole-job ETA
            eta = ((tot - done) / f + tot / max(f / 4.0, 1e-6)) if f > 0 else None
            progress(RenderProgress("luma", done, tot, f, eta))

    stats = {"luma_pass": 0.0, "decode": 0.0, "propagate": 0.0, "upsample": 0.0, "compose": 0.0, "encode": 0.0}
    truncated = None
    keys_rel: dict[int, np.ndarray] = {}
    full_key_ab: dict[int, np.ndarray] = {}
    shot_plans = None          # per-shot propagation (job.shots), else one pass over the range
    first_frame_s = None
    if job.chroma is None:
        if job.luma_store is not None:
            luma = job.luma_store.view(start, end)   # built now if need be, inputs validated first
        else:
            luma = LumaCache.build(src, job.proxy_height, start, end, progress=luma_progress, should_stop=should_stop)
        stats["luma_pass"] = time.perf_counter() - t_luma
        if should_stop():
            raise RenderCancelled("render cancelled")
        truncated = luma.error
        asked_end = end
        if truncated is not None:
            end = start + len(luma)
            total = end - start
            if total <= 0:
                raise RenderError(f"{info.path}: no frame of the range {_range_text(start, asked_end)} is readable: "
                                  f"{truncated.problem}")
            dropped = [f for f in keys_rgb if f >= end]
            if dropped:
                raise KeyframeError(f"keyframe(s) {dropped} lie after the point where {info.path} breaks "
                                    f"({truncated.problem})")
        pw, ph = luma.size

        # ------------------------------------------------ keyframe chroma at proxy size
        for f, rgb in keys_rgb.items():
            small = cv2.resize(rgb, (pw, ph), interpolation=cv2.INTER_AREA) if (pw, ph) != (info.width, info.height) else rgb
            # a reel keeps its keys as proxy RGB (uint8, a third of float ab's size) until its
            # shot is propagated (app.core.reels.shots.propagate_shots): memory per key stays small
            keys_rel[f - start] = np.ascontiguousarray(small) if job.shots else rgb_to_ab(small)
        by_frame: dict[int, list[HintStroke]] = {}
        for s in job.strokes:
            if start <= s.frame < asked_end:    # the others lie in shots the range does not reach
                by_frame.setdefault(s.frame - start, []).append(s)
        if job.shots:
            from app.core.reels.shots import reel_plans
            if job.shots == "detect" and job.luma_store is None:
                raise RenderError('shots = "detect" needs a luma store (app.core.reels.reel.prepare)')
            shots = list(job.luma_store.shots) if job.shots == "detect" else job.shots
            if job.shots == "detect":
                outside_range(job, start, asked_end, shots)
            shot_plans = reel_plans(shots, start, end, keys_rel, by_frame, luma, job.auto)
            keys_rel = {}             # the plans hold them now, each shot drops its own when done
        else:
            built = build_keys(luma, keys_rel, by_frame, propagator, should_stop, job.hint_method)
            if built is None:
                raise RenderCancelled("render cancelled")
            keys_rel = built
        if not keys_rel and job.auto and shot_plans is None:
            from models.hinting.hints import auto_colorize
            keys_rel = {0: auto_colorize(luma[0])}
        for f, rgb in keys_rgb.items():
            if f - start not in by_frame:   # a keyframe's own frame keeps its full-resolution colour
                # a reel holds the key's file name (or the caller's own array) and reads it again
                # when its frame comes, not every full-resolution key for the whole render
                full_key_ab[f - start] = job.keys.get(f, rgb) if job.shots else rgb
        if job.shots:
            keys_rgb.clear()
    # -------------------------------------------------------------- pass 2: the pipeline
    q_luma = stages.queue(4)    # (i, L_full)
    q_ab = stages.queue(6)      # (i, ab_proxy)
    q_up = stages.queue(3)      # (i, L_full, ab at the resolution composed)
    q_rgb = stages.queue(4)     # (rgb full or (y, cb, cr) planes, seconds from the range start or None)
    ts = info.timestamps
    vfr = bool(info.variable_frame_rate and len(ts) >= end)
    stop = stages.stop
    spill_dir = make_spill_dir()
    # frames a method yields ahead of order wait here: 256 MB in memory, then spilled to disk
    reorder = ChromaCache(max_bytes=256 * 2**20, disk_dir=spill_dir, spill_on_evict=True)

    # H.264 / ProRes: composed in the encoder's Y'CbCr (app.core.yuvpath), the source's Y' kept
    pf = enc.plane_format
    composer = ChromaComposer(pf) if pf is not None else None
    planar_src = composer is not None and hasattr(src, "iter_frames")

    def decode():
        i = 0
        frames = src.iter_frames(start, end) if planar_src else src.iter_rgb(start, end)
        try:
            t = time.perf_counter()
            for idx, frame in frames:
                if stop.is_set():
                    return
                if composer is not None:   # the output's Y' and what chroma needs of it
                    y = source_y(frame, pf, info.rotation if planar_src else 0)
                    L = (y, composer.luma(y))
                else:
                    L = full_luma(frame)
                stats["decode"] += time.perf_counter() - t
                if not stages.put(q_luma, (idx - start, L)):
                    return
                i += 1
                t = time.perf_counter()
        except CorruptMediaError:
            if i < total:
                raise
            # every frame of the range has been read: the break lies after it (the one the
            # luma pass found, or, for precomputed chroma such as a grey last shot of a
            # truncated reel, one no pass of this render needed)
        finally:
            frames.close()   # the decoder is left in this thread, before the join returns
        stages.put(q_luma, END)

    def precomputed():
        for i in range(total):
            if stop.is_set():
                return
            ab = job.chroma(start + i)
            if ab is None:
                raise RenderError(f"frame {start + i} has no propagated colour yet (propagate it first)")
            if not stages.put(q_ab, (i, np.asarray(ab, np.float32))):
                return
        stages.put(q_ab, END)

    def propagate():
        if job.chroma is not None:
            return precomputed()
        want = 0
        t = time.perf_counter()
        if shot_plans is not None:
            from app.core.reels.shots import propagate_shots
            frames = propagate_shots(propagator, luma, shot_plans, should_stop=stop.is_set,
                                     hint_method=job.hint_method)
        else:
            frames = propagator.run(luma, keys_rel, should_stop=stop.is_set)
        try:
            for pf in frames:
                stats["propagate"] += time.perf_counter() - t
                if stop.is_set():
                    return
                if pf.index == want:
                    if not stages.put(q_ab, (want, np.asarray(pf.ab, np.float32))):
                        return
                    want += 1
                    while ("", want) in reorder:
                        ab, _ = reorder.pop(want)
                        if not stages.put(q_ab, (want, ab)):
                            return
                        want += 1
                elif pf.index > want:
                    reorder.put(pf.index, pf.ab, None, persist=False)
                t = time.perf_counter()
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()       # the method's own worker threads end here, in this thread
        if want < total and not stop.is_set():
            raise RenderError(f"propagator {method!r} yielded {want} of {total} frames")
        stages.put(q_ab, END)

    def encode():
        while True:
            item = stages.get(q_rgb)
            if item is END:
                return
            t = time.perf_counter()
            out, when = item
            if composer is not None:
                enc.write_planes(*out, when)
            else:
                enc.write(out, when)
            stats["encode"] += time.perf_counter() - t

    def upsample():
        """Pairs each decoded frame with its chroma and brings the chroma to the resolution it
        is composed at (a stage of its own: the main thread only composes, on another core)."""
        done = 0
        while True:
            item = stages.get(q_luma)
            # stopping: shutdown drains the queues (it sets `stop` first), so what comes after
            # may be out of order or cut short; that is no error of the render
            if stop.is_set():
                return
            if item is END:
                if done < total:
                    raise RenderError(f"{info.path}: decoding stopped after {done} of {total} frames")
                break
            i, L = item
            ab_item = stages.get(q_ab)
            if stop.is_set():
                return
            if ab_item is END:
                raise RenderError(f"propagator {method!r} stopped after {done} of {total} frames")
            j, ab = ab_item
            if not i == j == done:
                raise RenderError(f"internal error: frame order {i}/{j}/{done}")
            # (not read where the chroma is scaled plainly: a luma store's frame is a copy and a
            # float conversion, for nothing)
            proxy_L = (luma[i] if takes_proxy_luma and job.chroma is None and ab.shape[:2] == luma.size[::-1]
                       and (composer is None or composer.guided(ab.shape)) else None)
            if composer is not None:
                y, lum = L
                if i in full_key_ab:
                    ab_out = composer.chroma_ab(rgb_to_ab(_key_rgb(full_key_ab.pop(i), start + i, info, job)), lum)
                else:
                    t = time.perf_counter()
                    ab_out = composer.chroma_ab(ab, lum, L_proxy=proxy_L)
                    stats["upsample"] += time.perf_counter() - t
            elif i in full_key_ab:
                ab_out = rgb_to_ab(_key_rgb(full_key_ab.pop(i), start + i, info, job))
            elif ab.shape[:2] == L.shape:
                ab_out = ab
            else:
                t = time.perf_counter()
                ab_out = upsample_ab(ab, L, L_proxy=proxy_L) if proxy_L is not None else upsample_ab(ab, L)
                stats["upsample"] += time.perf_counter() - t
            if not stages.put(q_up, (i, L, ab_out)):
                return
            done += 1
        stages.put(q_up, END)

    done = 0
    # The stages keep both cores busy; OpenCV's own worker pool inside each stage only added
    # synchronisation (flow propagation took 5.9 s of CPU for 150 frames on two threads, 3.6 s
    # on one). Counted with the preview worker's passes (models.propagate.pipeline).
    from models.propagate.pipeline import single_threaded_kernels
    one_thread = single_threaded_kernels(torch=False)
    one_thread.__enter__()
    try:
        stages.start("decode", decode)
        stages.start("propagate", propagate)
        stages.start("upsample", upsample)
        encoder = stages.start("encode", encode)
        t_render = time.perf_counter()
        rate_window: list[tuple[float, int]] = [(t_render, 0)]
        while done < total:
            if should_stop():
                raise RenderCancelled("render cancelled")
            item = stages.get(q_up)
            if item is END:
                raise RenderError(f"{info.path}: decoding stopped after {done} of {total} frames")
            i, L, ab_out = item
            if i != done:
                raise RenderError(f"internal error: frame order {i}/{done}")
            t = time.perf_counter()
            if composer is not None:
                y, lum = L
                out = composer.compose(y, ab_out, lum)
            else:
                out = compose_rgb(L, ab_out)
            stats["compose"] += time.perf_counter() - t
            # variable frame rate: each frame keeps its source time (relative to the range)
            when = (ts[start + i] - ts[start]) if vfr else None
            if not stages.put(q_rgb, (out, when)):
                raise Stopped()
            done += 1
            if first_frame_s is None:
                first_frame_s = time.perf_counter() - t0
            if progress is not None:
                now = time.perf_counter()
                rate_window.append((now, done))
                if len(rate_window) > 30:
                    rate_window.pop(0)
                dt = now - rate_window[0][0]
                f = (done - rate_window[0][1]) / dt if dt > 0 else 0.0
                progress(RenderProgress("render", done, total, f, (total - done) / f if f > 0 else None))
        if not stages.put(q_rgb, END):
            raise Stopped()
        while encoder.is_alive():          # a short join, so a signal can still arrive
            encoder.join(0.05)
        if stages.failures:
            raise Stopped()
        if should_stop():
            raise RenderCancelled("render cancelled")
        finish_pipeline(stages, enc, ok=True)
    except BaseException as exc:
        finish_pipeline(stages, enc, ok=False)
        if stages.failures:
            raise stages.failures[0] from None
        if isinstance(exc, Stopped):
            raise RenderCancelled("render cancelled") from None
        raise
    finally:
        one_thread.__exit__(None, None, None)
        with deferred_signals(reraise=False):
            remove_path(spill_dir)
    elapsed = time.perf_counter() - t0
    return RenderResult(output=Path(job.output), frames=total, seconds=elapsed,
                        fps=total / elapsed if elapsed > 0 else 0.0, method=method, device=device_name,
                        truncated=truncated, stats=stats, first_frame_s=first_frame_s)


def job_from_project(project, output, **overrides) -> RenderJob:
    """A RenderJob for a saved or open app.core.project.Project (keyframes as arrays)."""
    if project.source is None:
        raise RenderError("the project has no source video")
    if not project.source_exists:
        raise RenderError(f"{project.source}: the project's source video is missing")
    start = project.in_point or 0
    end = None if project.out_point is None else project.out_point + 1
    from app.core.project import layers_dir_for
    protect = [project.path, layers_dir_for(project.path)] if project.path is not None else []
    # copies of the keys and strokes: the editor may paint while its export thread renders
    job = RenderJob(input=project.source, output=Path(output), keys=dict(project.keyframes),
                    strokes=list(project.strokes), proxy_height=project.proxy_height, start=start, end=end,
                    method=project.method, protect=protect, hint_method=project.hint_method,
                    strokes_from=project.path)
    for k, v in overrides.items():
        setattr(job, k, v)
    return job
