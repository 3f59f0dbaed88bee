"""A reel on the command line: its disk-backed proxy luma and its shots, set on a RenderJob.

``prepare(job, project)`` gives the job a PendingStore: when the render asks for the luma (after
it has checked its inputs), the source's LumaStore is opened from the project's cache folder
(or the user's, without a project), or built by one decode that also finds the cuts. With
``job.shots = "detect"`` the render then propagates shot by shot, holding only a few chunks of
luma in memory, however long the source.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from app.core.reels.lumastore import LumaStore, project_cache_dir, user_cache_dir
from app.core.media import open_media


def cache_root_for(project=None) -> Path:
    """The project's cache folder, where it can be written; else (a project on a read-only
    share, a DVD, a colleague's folder) the user's, as the editor's caches fall back
    (app.gui.document.chroma_dirs). ``hueshot render`` and the render queue failed on such a
    project with 'cannot write the luma cache there' while the editor opened it."""
    if project is not None and getattr(project, "path", None):
        root = project_cache_dir(project.path)
        if (root.is_dir() and os.access(root, os.W_OK | os.X_OK)) or \
                (not root.exists() and os.access(root.parent, os.W_OK | os.X_OK)):
            return root
    return user_cache_dir()


class PendingStore:
    """The source's LumaStore, opened (built, if not cached) when the render first asks for it,
    so a render checks its settings, keys and output before the long luma pass."""

    def __init__(self, path, cache_root: Path, proxy_height: int,
                 progress: Callable[[int, int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None):
        self.path, self.cache_root, self.proxy_height = path, cache_root, proxy_height
        self.progress, self.should_stop = progress, should_stop
        self._store: LumaStore | None = None

    def get(self) -> LumaStore:
        if self._store is None:
            with open_media(self.path) as src:
                store = LumaStore.open(src, self.cache_root, self.proxy_height, self.progress, self.should_stop)
            if store is None:
                from app.core.render import RenderCancelled
                raise RenderCancelled("render cancelled")
            self._store = store
        return self._store

    def view(self, start: int, end: int):
        return self.get().view(start, end)

    @property
    def shots(self):
        return self.get().shots

    def __len__(self) -> int:
        return len(self.get())

    def __getstate__(self):       # a farm task gets the built store, not the callbacks
        return {"store": self.get()}

    def __setstate__(self, state):
        self.__init__(state["store"].meta.get("source"), None, 0)
        self._store = state["store"]


def prepare(job, project=None, shots: bool = True, progress: Callable[[int, int], None] | None = None,
            should_stop: Callable[[], bool] | None = None, cache_root: Path | None = None):
    """``job`` set up as a reel: its luma store (opened when the render starts) and, unless
    ``shots`` is False, its shots: the project's own list when it has one, else the cuts found
    while the store is built. ``cache_root``: where the store lives (default: the project's
    cache, as ``hueshot render`` keeps it; the editor passes the one its own scan filled, so an
    export reads no frame twice). Returns the job (changed in place)."""
    root = cache_root if cache_root is not None else cache_root_for(project)
    job.luma_store = PendingStore(job.input, root, job.proxy_height, progress, should_stop)
    if shots:
        own = list(getattr(project, "shots", None) or [])
        job.shots = own or "detect"
    return job


GREY_LINES_MAX = 10     # more grey shots than this are said in one line, not a line each


def grey_lines(grey, every: bool = False, hinted=()) -> list[str]:
    """What the CLI says about the shots a render left grey: a line each, up to GREY_LINES_MAX
    of them (or all, with ``every``: --verbose); more (a film with keys in a few of its 2,000
    shots printed 1,678 lines, burying the rest of the output) in one line that counts them
    and names the first. ``hinted``: those of them with hint strokes that give no colour."""
    grey, hinted = list(grey), {tuple(s) for s in hinted}

    def line(a: int, b: int) -> str:
        if (a, b) in hinted:
            return f"shot at frames {a}..{b}: its hint strokes have no colour (they erase, or r = g = b), left grey"
        return f"shot at frames {a}..{b}: no key or hint in it, left grey"
    if every or len(grey) <= GREY_LINES_MAX:
        return [line(a, b) for a, b in grey]
    first = ", ".join(f"{a}..{b}" for a, b in grey[:5])
    what = "no key or hint" if not hinted else "no key or hint with colour"
    return [f"{len(grey)} shots have {what} in them and were left grey (frames {first} and "
            f"{len(grey) - 5} more; --verbose lists them all)"]


def grey_shots(job, ranges) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(the shots among ``ranges``, inclusive pairs, that a render of ``job`` leaves grey;
    those of them that have hint strokes). Grey: no key image and no stroke that gives colour
    by the job's hint method (models.hinting.hints.strokes_give_colour): a shot whose only
    strokes erase, or are r = g = b under a method without the prior, renders grey as one
    with nothing in it (it was left out of the list). With ``job.auto`` a shot with nothing
    in it gets the prior's colour; one with strokes does not. Each shot is looked up by
    bisection in the frames with keys and strokes, not by a scan of every key and stroke per
    shot (thousands of each on a film)."""
    import bisect
    from models.hinting.hints import strokes_give_colour
    keys = sorted({int(f) for f in job.keys})
    on: dict[int, list] = {}
    for st in job.strokes:
        on.setdefault(st.frame, []).append(st)
    frames = sorted(on)
    method = getattr(job, "hint_method", None)
    first = [strokes_give_colour(on[f], method) for f in frames]         # a shot's first stroked frame
    later = [0]                                                            # running count: corrections with colour
    for f in frames:
        later.append(later[-1] + strokes_give_colour(on[f], method, over_colour=True))
    grey, hinted = [], []
    for a, b in ranges:
        k = bisect.bisect_left(keys, a)
        if k < len(keys) and keys[k] <= b:
            continue
        i, j = bisect.bisect_left(frames, a), bisect.bisect_right(frames, b)
        if i == j:
            if not job.auto:
                grey.append((a, b))
        elif not first[i] and later[j] == later[i]:
            grey.append((a, b))
            hinted.append((a, b))
    return grey, hinted


def render_grey_shots(job, frames: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """`grey_shots` of a finished render of ``job`` (plain or in segments) that wrote ``frames``
    frames from ``job.start``: its shots cut to that range; none when it ran as one shot."""
    if not job.shots:
        return [], []
    from app.core.reels.shots import clip_shots
    shots = job.luma_store.shots if job.shots == "detect" else job.shots
    start = job.start or 0
    return grey_shots(job, clip_shots([tuple(s) for s in shots], start, start + frames))


# ------------------------------------------------------------------------ resumable
def render_resumable(job, progress=None, should_stop: Callable[[], bool] | None = None,
                     render_dir: str | Path | None = None, keep_segments: bool = False):
    """Render segment by segment into a render folder beside the output, then join with the audio.

    The segments are the farm's (app.core.renderfarm.farm_segments: one lossless file per
    shot, or per run of short consecutive shots (SEGMENT_FRAMES), named by a hash of everything
    that decides its pixels, written under a temp name and renamed when complete). A run that
    was killed leaves its finished segments; the same command run again renders only the
    others, so its output equals an uninterrupted run's. Returns (RenderResult of the join,
    segments rendered now, segments reused)."""
    from app.core.renderfarm.farm_segments import (DamagedSegment, check_job, default_render_dir, join_segments,
                                                   plan_segments, render_segment, segment_finished,
                                                   segment_path)
    from app.core.render import RenderProgress, RenderResult
    import time
    check_job(job)          # the output replaces no input, its folder exists: before the render folder
    with open_media(job.input) as src:
        n = src.info.frame_count
    broken = None
    if job.luma_store is not None:
        store = job.luma_store.get() if hasattr(job.luma_store, "get") else job.luma_store
        n = min(n, len(store))                 # a truncated source: the readable frames
        broken = store.error
    if broken is not None:
        # as a plain render: keys past the break are refused; the readable frames are rendered
        # and the result says where the source breaks (the CLI exits 3)
        from app.core.render import KeyframeError
        late = sorted(int(f) for f in job.keys if int(f) >= n)
        if late:
            raise KeyframeError(f"keyframe(s) {late} lie after the point where {job.input} breaks "
                                f"({broken.problem})")
    if job.shots == "detect":
        job.shots = list(job.luma_store.shots)
    segments = plan_segments(job, job.shots, n)
    folder = Path(render_dir) if render_dir else default_render_dir(job.output)
    folder.mkdir(parents=True, exist_ok=True)
    reused = [s for s in segments if segment_finished(segment_path(job, s, folder))]
    t0 = time.perf_counter()
    paths = []
    done: list[RenderResult] = []
    total = sum(s.frames for s in segments)
    reused_ix = {s.index for s in reused}
    work = sum(s.frames for s in segments if s.index not in reused_ix)   # frames this run renders
    pos = {"ahead": 0, "fresh": 0}   # frames of the segments before this one: all, and rendered now

    def overall(p):
        """A segment's render progress as the whole render's: frames of the range, and the rate
        and ETA of what this run renders (a film's 248 segments each counted 0..N again)."""
        if p.stage != "render":
            progress(p)
            return
        fresh = pos["fresh"] + p.done
        el = time.perf_counter() - t0
        rate = fresh / el if el > 0 else 0.0
        progress(RenderProgress("render", pos["ahead"] + p.done, total, rate,
                                (work - fresh) / rate if rate > 0 else None))
    for seg in segments:
        try:
            # (inside the try: a stop before the first segment leaves no empty folder either)
            if should_stop is not None and should_stop():
                from app.core.render import RenderCancelled
                raise RenderCancelled("render cancelled")
            paths.append(render_segment(job, seg, folder, progress=overall if progress is not None else None,
                                        should_stop=should_stop, results=done))
        except BaseException:
            try:
                folder.rmdir()      # only when it holds no finished segment: not left behind empty
            except OSError:
                pass
            raise
        pos["ahead"] += seg.frames
        if seg.index not in reused_ix:
            pos["fresh"] += seg.frames
    redone: set[int] = set()
    while True:
        try:
            result: RenderResult = join_segments(job, segments, paths, progress=progress, should_stop=should_stop)
            break
        except DamagedSegment as exc:
            # a finished segment spoilt on disk since its render (the join removed it): rendered
            # again, once, and the join starts over; reused as it was, every rerun failed the same
            if exc.segment.index in redone:
                raise
            redone.add(exc.segment.index)
            import logging
            logging.getLogger(__name__).warning(f"{exc.path}: the rendered segment of {exc.segment.label} "
                                                f"is damaged; rendering it again")
            paths[exc.segment.index] = render_segment(job, exc.segment, folder, should_stop=should_stop,
                                                      results=done)
    # what the segments rendered now ran on (a grey one runs no method: "-"); every segment
    # reused from an earlier run: nothing ran on a device in this one
    ran = [r for r in done if r.device and r.device != "-"]
    result.device = ran[-1].device if ran else "none (every segment was rendered before)" if not done else "-"
    if ran:
        result.method = ran[-1].method
    result.truncated = broken
    result.seconds = time.perf_counter() - t0
    result.fps = result.frames / result.seconds if result.seconds > 0 else 0.0
    if not keep_segments:
        import shutil
        shutil.rmtree(folder, ignore_errors=True)
    return result, len(segments) - len(reused), len(reused)
