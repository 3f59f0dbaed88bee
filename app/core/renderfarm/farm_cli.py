"""``hueshot render|propagate ... --farm SPEC``: the command-line side of app.core.renderfarm.farm.

Exit status as for a plain render (app/cli.py), and 1 when some shots failed: every failed
shot is printed with its message, the finished ones stay in the render folder so the same
command renders only what is missing once the input is fixed.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


def shots_for(job, project=None, no_shots: bool = False, progress=None) -> list[tuple[int, int]] | None:
    """The reel's shots (inclusive pairs). The project's own list when it has one: then the
    head decodes nothing and each worker reads the luma of its own shot. Otherwise the cuts
    are detected the way a plain render finds them (app.core.reels.reel.prepare: one decode into the
    disk luma store in the project's cache folder), and the store travels with the tasks so
    the workers skip their luma pass. None: the whole range is one segment (--no-shots)."""
    own = list(getattr(project, "shots", None) or []) if project is not None else []
    if own:
        return [(int(a), int(b)) for a, b in own]
    if no_shots:
        return None
    from app.core.reels.reel import prepare
    prepare(job, project=project, progress=progress)
    if job.shots == "detect":          # the cuts the store's own pass found
        job.shots = list(job.luma_store.shots)
    return [(int(a), int(b)) for a, b in job.shots] if job.shots else None


def _identity(path) -> tuple | None:
    """(device, inode, mtime) of a file or folder, None when there is none: a new identity
    after the render means the join put its complete output there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns


def run(job, args, project=None) -> int:
    from app.cli import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, ProgressPrinter, _err
    from app.core.renderfarm.farm import Farm, FarmError
    from app.core.media import open_media
    from app.core.render import RenderCancelled

    printer = ProgressPrinter(quiet=args.quiet, machine=getattr(args, "progress_json", False))
    from app.cli import _luma_progress
    from app.core.renderfarm.farm import parse_farm
    try:
        parse_farm(args.farm)          # a bad --farm fails before any decoding
    except FarmError as exc:
        _err(str(exc))
        return EXIT_ERROR
    from app.core.renderfarm.farm_segments import check_job
    check_job(job)                     # so do a bad output and the settings
    shots = shots_for(job, project, no_shots=getattr(args, "no_shots", False),
                      progress=_luma_progress(args.quiet, getattr(args, "progress_json", False)))
    with open_media(job.input) as src:
        n = src.info.frame_count
    if job.luma_store is not None:
        n = min(n, len(job.luma_store))       # a truncated source: its readable frames
    before = _identity(job.output)
    try:
        with Farm(args.farm) as farm:
            if not args.quiet:
                print(f"farm {farm.spec.text}: {farm.workers} worker CPU(s), "
                      f"started in {farm.started_seconds:.1f} s", file=sys.stderr)
            res = farm.render(job, shots, n, progress=printer,
                              keep_segments=getattr(args, "keep_segments", False),
                              ship=getattr(args, "farm_ship", False))
    except KeyboardInterrupt as exc:   # SIGINT, SIGTERM, SIGHUP (app.core.shutdown.Interrupted)
        why = str(exc) if getattr(exc, "signum", None) else "interrupted"
        if _identity(job.output) not in (None, before):
            # the join had renamed the complete output into place (it writes a temp name and
            # renames it only when whole): the signal came while the farm was tidying up
            if not getattr(args, "keep_segments", False):
                import shutil
                from app.core.renderfarm.farm_segments import default_render_dir
                shutil.rmtree(default_render_dir(job.output), ignore_errors=True)
            if not args.quiet:
                print(f"wrote {job.output} ({why} after it was complete)", file=sys.stderr)
            return EXIT_OK
        _err(f"{why}; every farm task was cancelled and {job.output} was not written "
             f"(finished segments are kept for the next run)")
        return getattr(exc, "exit_code", EXIT_INTERRUPTED)
    except RenderCancelled:
        _err(f"cancelled; {job.output} was not written")
        return EXIT_INTERRUPTED
    except FarmError as exc:
        _err(str(exc))
        return EXIT_ERROR
    if res.failures:
        for f in res.failures:
            _err(f.message)
        ok = res.segments - len(res.failures)
        _err(f"{len(res.failures)} of {res.segments} segments failed; {ok} finished and are kept in the "
             f"render folder; {Path(job.output)} was not written")
        return EXIT_ERROR
    if not args.quiet:
        r = res.result
        from app.core.renderfarm.farm_segments import plan_segments
        from app.core.reels.reel import grey_lines, grey_shots
        grey, hinted = grey_shots(job, [r for s in plan_segments(job, shots, n) for r in s.shot_ranges])
        for line in grey_lines(grey, every=getattr(args, "verbose", False), hinted=hinted):
            print(line, file=sys.stderr)
        if res.shipped:
            print(f"{res.shipped} segment(s) came back through the object store", file=sys.stderr)
        print(f"wrote {r.output}: {r.frames} frames from {res.segments} segments in "
              f"{res.seconds_tasks + res.seconds_join:.1f} s on the farm ({res.rendered} rendered now, "
              f"join {res.seconds_join:.1f} s)", file=sys.stderr)
    return EXIT_OK
