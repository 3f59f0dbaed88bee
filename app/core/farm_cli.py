"""``hueshot render|propagate ... --farm SPEC``: the command-line side of app.core.farm.

Exit status as for a plain render (app/cli.py), and 1 when some shots failed: every failed
shot is printed with its message, the finished ones stay in the render folder so the same
command renders only what is missing once the input is fixed.
"""
from __future__ import annotations

import sys
from pathlib import Path


def shots_for(job, project=None, quiet: bool = True) -> list[tuple[int, int]] | None:
    """The reel's shots (inclusive pairs): the project's own list when it has one, else the
    cuts detected on the source (cached in the project's or the user's cache folder), else
    None (the whole range is one segment)."""
    shots = getattr(project, "shots", None) if project is not None else None
    if shots:
        return [(int(a), int(b)) for a, b in shots]
    try:
        from app.core.lumastore import open_store, project_cache_dir
    except ImportError:
        return None
    root = None
    if project is not None and getattr(project, "path", None):
        root = project_cache_dir(project.path)
    store = open_store(job.input, cache_root=root, proxy_height=job.proxy_height)
    return [(int(a), int(b)) for a, b in store.shots] if store is not None else None


def run(job, args, project=None) -> int:
    from app.cli import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, ProgressPrinter, _err
    from app.core.farm import Farm, FarmError
    from app.core.media import open_media
    from app.core.render import RenderCancelled

    printer = ProgressPrinter(quiet=args.quiet, machine=getattr(args, "progress_json", False))
    with open_media(job.input) as src:
        n = src.info.frame_count
    shots = shots_for(job, project, quiet=args.quiet)
    try:
        with Farm(args.farm) as farm:
            if not args.quiet:
                print(f"farm {farm.spec.text}: {farm.workers} worker CPU(s), "
                      f"started in {farm.started_seconds:.1f} s", file=sys.stderr)
            res = farm.render(job, shots, n, progress=printer)
    except KeyboardInterrupt:
        _err(f"interrupted; every farm task was cancelled and {job.output} was not written "
             f"(finished shots are kept for the next run)")
        return EXIT_INTERRUPTED
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
        _err(f"{len(res.failures)} of {res.segments} shots failed; {ok} finished and are kept in the "
             f"render folder; {Path(job.output)} was not written")
        return EXIT_ERROR
    if not args.quiet:
        r = res.result
        print(f"wrote {r.output}: {r.frames} frames from {res.segments} shots in "
              f"{res.seconds_tasks + res.seconds_join:.1f} s on the farm ({res.rendered} rendered now, "
              f"join {res.seconds_join:.1f} s)", file=sys.stderr)
    return EXIT_OK
