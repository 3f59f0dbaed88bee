"""``hueshot``: the application and its headless commands.

    hueshot [FILE]                       open the GUI (optionally with a video or .hueshot project)
    hueshot propagate INPUT -o OUTPUT --key N=IMAGE [--key N=IMAGE ...] [--hints FILE] ...
    hueshot render PROJECT.hueshot -o OUTPUT     render a saved project headless
    hueshot shots INPUT [--json]         the shots (cuts) found in a reel, START END inclusive
    hueshot bench ...                    the benchmark (app.core.benchmarks.bench)
    hueshot bench --gui ...              editor latency and event-loop stalls (app.gui.benchmarks.bench_gui)
    hueshot bench --render ...           1080p end-to-end render: fps and peak memory
    hueshot bench --farm ...             a 6-shot reel on 1 and 2 local Ray workers beside the plain render
    hueshot bench --startup ...          launch to window shown, venv and frozen build
    hueshot --version                    the version;  hueshot --smoke-test DIR: the app checks itself
    hueshot bench --interactive ...      simulated editor painting strokes (app.core.benchmarks.bench_interactive)

Exit status: 0 success; 1 an input, output or setting problem (the message names the file
and the problem); 2 bad command line; 3 the input is truncated/corrupt: the readable frames
were rendered and the message says where it broke; 130 interrupted (partial output removed);
143 / 129 stopped by SIGTERM / SIGHUP (partial output removed as well).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

_T0 = time.perf_counter()     # the command's start, for "first frame after" (--verbose)
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_TRUNCATED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
COMMANDS = ("propagate", "render", "shots", "bench")

USAGE = """usage: hueshot [FILE]                      open the application
       hueshot propagate INPUT -o OUTPUT --key N=IMAGE [...]
       hueshot render PROJECT -o OUTPUT
       hueshot shots INPUT [--json]
       hueshot bench [...]
Run `hueshot COMMAND -h` for a command's options."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("hueshot")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _err(msg: str) -> None:
    print(f"hueshot: error: {msg}", file=sys.stderr)


# --------------------------------------------------------------------------- progress
class ProgressPrinter:
    """A bar with fps and ETA on a terminal; plain lines every few seconds otherwise."""

    def __init__(self, stream=None, quiet: bool = False, interval: float = 2.0, machine: bool = False):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.quiet = quiet
        # --progress-json: one JSON line per update (at most 4 a second) for a parent process
        # such as the editor's render queue (parsed by app.core.renderfarm.render_queue.parse_progress)
        self.machine = machine
        self.interval = interval
        self._last = 0.0
        self._stage = None

    @staticmethod
    def _eta(seconds) -> str:
        if seconds is None:
            return "--:--"
        s = int(seconds + 0.5)
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"

    def __call__(self, p) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        label = {"luma": "reading", "render": "rendering"}.get(p.stage, p.stage)
        final = p.done >= p.total
        if self.machine:
            if final or p.stage != self._stage or now - self._last >= 0.25:
                import json
                self.stream.write("HUESHOT-PROGRESS " + json.dumps(
                    {"stage": p.stage, "done": p.done, "total": p.total, "fps": round(p.fps, 2),
                     "eta": None if p.eta is None else round(p.eta, 1)}) + "\n")
                self.stream.flush()
                self._last, self._stage = now, p.stage
            return
        if self.tty:
            if now - self._last < 0.1 and not final and p.stage == self._stage:
                return
            if self._stage is not None and p.stage != self._stage:
                self.stream.write("\n")
            width = 30
            fill = int(width * p.done / max(p.total, 1))
            self.stream.write(f"\r{label:>9} [{'#' * fill}{'.' * (width - fill)}] {p.done}/{p.total} "
                              f"{p.fps:5.1f} fps  ETA {self._eta(p.eta)} ")
            if final and p.stage == "render":
                self.stream.write("\n")
            self.stream.flush()
        else:
            if not final and now - self._last < self.interval and p.stage == self._stage:
                return
            self.stream.write(f"{label} {p.done}/{p.total} frames, {p.fps:.1f} fps, ETA {self._eta(p.eta)}\n")
            self.stream.flush()
        self._last = now
        self._stage = p.stage


# ----------------------------------------------------------------------------- parsers
class _OneLineParser(argparse.ArgumentParser):
    """A usage error is one line (the command and the problem; `-h` shows the usage)."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} -h)\n")


def _key_arg(text: str):
    n, sep, path = text.partition("=")
    if not sep or not path:
        raise argparse.ArgumentTypeError(f"--key {text!r}: expected N=IMAGE, e.g. --key 0=frame0.png")
    try:
        index = int(n)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--key {text!r}: frame number {n!r} is not an integer") from None
    if index < 0:
        raise argparse.ArgumentTypeError(f"--key {text!r}: frame number must be >= 0")
    return index, path


def _add_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                   help="video file (.mp4/.mov/.mkv: H.264; --format prores/ffv1) or a folder (PNG sequence)")
    p.add_argument("--format", default="", choices=["h264", "prores", "ffv1", "png", "tiff"],
                   help="output format (default: from OUTPUT's extension; a folder is a PNG sequence)")
    p.add_argument("--crf", type=int, default=18, help="H.264 quality (default 18)")
    p.add_argument("--preset", default="superfast", help="x264 preset (default superfast)")
    p.add_argument("--no-audio", action="store_true", help="do not pass the source audio through")
    p.add_argument("--device", default="auto", help="compute device: auto, cpu, cuda, cuda:N, mps")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--progress-json", action="store_true",
                   help="progress as 'HUESHOT-PROGRESS {json}' lines on stderr (for the render queue)")
    p.add_argument("--farm", metavar="SPEC", default=None,
                   help="render each segment (a shot, or consecutive short shots: --segment-frames) as a task on a Ray cluster: local[:N] (start one here with N "
                        "workers), auto, ray://HOST:PORT or HOST:PORT (needs hueshot[farm]; source and "
                        "output on a filesystem every node shares)")
    p.add_argument("--farm-ship", action="store_true",
                   help="with --farm: send the source video to the workers through Ray's object store "
                        "and bring the shots back the same way (nodes without a shared filesystem)")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="print time spent per pipeline stage, and every shot left grey")
    p.add_argument("--resume", action="store_true",
                   help="render in segments (a shot, or consecutive short shots: --segment-frames) into a "
                        "folder beside OUTPUT and join at the end; if the run is killed, the same "
                        "command renders only the segments not finished yet")
    p.add_argument("--keep-segments", action="store_true", help="with --resume: keep the render folder")
    p.add_argument("--segment-frames", type=int, default=None, metavar="N",
                   help="with --resume or --farm: consecutive short shots share a segment (a file, a farm "
                        "task) until it holds N frames (default 240; 1: a segment per shot)")


def propagate_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(
        prog="hueshot propagate", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Colourise a grey shot from coloured keyframes and/or hint strokes.",
        epilog="""examples:
  hueshot propagate shot.mp4 -o colour.mp4 --key 0=frame0_colour.png
  hueshot propagate shot.mov -o colour.mov --format prores --key 0=a.png --key 120=b.png
  hueshot propagate shot.mp4 -o frames/ --hints hints.json --start 10 --end 99

--hints FILE holds a JSON list of strokes (coordinates are fractions of width/height,
radius a fraction of the height, colour sRGB 0..255):
  [{"frame": 0, "points": [[0.2, 0.5], [0.3, 0.5]], "radius": 0.02, "color": [200, 40, 40]}]

exit status: 0 ok, 1 input/output problem, 2 bad arguments, 3 input truncated (readable
frames rendered), 130 interrupted.""")
    p.add_argument("input", metavar="INPUT", help="video file or folder of frames")
    _add_output_args(p)
    p.add_argument("--key", action="append", type=_key_arg, default=[], metavar="N=IMAGE",
                   help="coloured keyframe for frame N (an image at the input's size); repeatable")
    p.add_argument("--hints", metavar="FILE", help="JSON list of hint strokes (see docs)")
    p.add_argument("--auto", action="store_true",
                   help="every shot given neither a key nor a hint gets its first frame coloured "
                        "automatically (the learned colour prior) and is propagated from it; shots "
                        "with a key or hints are coloured from those")
    p.add_argument("--proxy-height", type=int, default=480, metavar="H",
                   help="height propagation runs at (default 480; never upscales)")
    p.add_argument("--start", type=int, default=None, metavar="A", help="first frame to render")
    p.add_argument("--end", type=int, default=None, metavar="B", help="last frame to render (inclusive)")
    p.add_argument("--method", default="quality",
                   help="propagation method (default quality, the editor's export method; flow is faster)")
    p.add_argument("--hint-method", default=None, metavar="NAME",
                   help="how far strokes reach, on grey frames and over colour: geo (default; a "
                        "stroke stops after an edge or two), gate (reaches further; learned), "
                        "gate+prior (gate, and the learned prior where strokes do not reach), "
                        "spread, prior, prior+spread")
    p.add_argument("--no-shots", action="store_true",
                   help="treat the input as one shot (by default cuts are detected and each key colours "
                        "only its own shot; shots with no key or hint stay grey)")
    return p


def render_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(prog="hueshot render", description="Render a saved .hueshot project.")
    p.add_argument("project", metavar="PROJECT", help=".hueshot project file")
    _add_output_args(p)
    p.add_argument("--method", default="quality",
                   help="propagation method (default quality, as the editor exports; flow is faster)")
    return p


# ----------------------------------------------------------------------------- commands
def _export_settings(args):
    from app.core.export import ExportSettings
    return ExportSettings(format=args.format, crf=args.crf, preset=args.preset, audio=not args.no_audio)


def _run_job(job, args) -> int:
    from app.core.render import RenderCancelled, render
    printer = ProgressPrinter(quiet=args.quiet, machine=getattr(args, "progress_json", False))
    t_call = time.perf_counter()
    try:
        if getattr(args, "resume", False):
            from app.core.reels.reel import render_resumable
            result, now, reused = render_resumable(job, progress=printer, keep_segments=args.keep_segments)
            if reused and not args.quiet:
                print(f"resumed: {reused} of {now + reused} segments were already rendered", file=sys.stderr)
        else:
            result = render(job, progress=printer)
    except KeyboardInterrupt as exc:   # SIGINT, SIGTERM, SIGHUP (app.core.shutdown.Interrupted)
        print("", file=sys.stderr)
        why = str(exc) if getattr(exc, "signum", None) else "interrupted"
        _err(f"{why}; {job.output} was not written (partial output removed)")
        return getattr(exc, "exit_code", EXIT_INTERRUPTED)
    except RenderCancelled:
        _err(f"cancelled; {job.output} was not written")
        return EXIT_INTERRUPTED
    if not args.quiet:
        print(f"wrote {result.output}: {result.frames} frames in {result.seconds:.1f} s "
              f"({result.fps:.1f} fps), method {result.method}, device {result.device}", file=sys.stderr)
    if not args.quiet:
        from app.core.reels.reel import grey_lines, render_grey_shots
        # one rule for every render (plain, --resume, --farm): no key, and no stroke that gives
        # colour by the job's hint method
        grey, hinted = render_grey_shots(job, result.frames)
        for line in grey_lines(grey, every=args.verbose, hinted=hinted):
            print(line, file=sys.stderr)
    if args.verbose and result.first_frame_s is not None:
        print(f"first frame after {t_call - _T0 + result.first_frame_s:.2f} s since the command started "
              f"({result.first_frame_s:.2f} s in the render)", file=sys.stderr)
    if args.verbose and result.stats:
        print("busy seconds per stage (stages overlap in threads): " +
              ", ".join(f"{k} {v:.1f}" for k, v in result.stats.items()), file=sys.stderr)
    if result.truncated is not None:
        _err(f"{result.truncated}; rendered the {result.frames} readable frames to {result.output}")
        return EXIT_TRUNCATED
    return EXIT_OK


def _join_dash_values(argv: list[str], options=("--key",)) -> list[str]:
    """``--key -1=a.png`` -> ``--key=-1=a.png``: argparse takes a value starting with '-' for
    an option and says only "expected one argument"; joined, the value reaches its check."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] in options and i + 1 < len(argv) and argv[i + 1].startswith("-") and "=" in argv[i + 1]:
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def _check_values(args) -> str | None:
    """The command line's values through app.core.validate, before any file is opened; the
    problem as one line, or None."""
    from app.core.export import ExportSettings
    from app.core.validate import (MAX_FRAME, ValidationError, check_export_settings, check_int,
                                   check_proxy_height)
    try:
        for name, what in (("input", "INPUT"), ("project", "PROJECT"), ("output", "-o OUTPUT")):
            if getattr(args, name, None) is not None and not getattr(args, name).strip():
                raise ValidationError(f"{what} is empty; give a file or folder")
        # options that only mean something beside another one: silently ignored, they let a user
        # believe, for example, that a render keeps its segments
        if getattr(args, "farm_ship", False) and not args.farm:
            raise ValidationError("--farm-ship needs --farm (it says how the farm's workers get the source)")
        if getattr(args, "keep_segments", False) and not (args.resume or args.farm):
            raise ValidationError("--keep-segments needs --resume or --farm (a plain render writes no segments)")
        if getattr(args, "segment_frames", None) is not None:
            if not (args.resume or args.farm):
                raise ValidationError("--segment-frames needs --resume or --farm (a plain render writes no segments)")
            if not 1 <= args.segment_frames <= 10_000_000:
                raise ValidationError(f"--segment-frames {args.segment_frames}: give 1..10000000 frames")
        if getattr(args, "farm", None) is not None and not args.farm.strip():
            raise ValidationError("--farm is empty; give local[:N], auto, ray://HOST:PORT or HOST:PORT")
        if getattr(args, "farm", None):
            from app.core.renderfarm.farm import FarmError, parse_farm
            try:
                parse_farm(args.farm)       # a malformed spec is a usage error, said before any work
            except FarmError as exc:
                raise ValidationError(str(exc)) from None
        if args.output == "-":
            raise ValidationError("-o -: writing to standard output is not supported; give a video file "
                                  "or a folder")
        if getattr(args, "proxy_height", None) is not None:
            check_proxy_height(args.proxy_height, "", "--proxy-height")
        for name in ("start", "end"):
            if getattr(args, name, None) is not None:
                check_int(getattr(args, name), "", f"--{name}", 0, MAX_FRAME)
        check_export_settings(ExportSettings(crf=args.crf, preset=args.preset), "--")
        from models.registry import available_methods
        if getattr(args, "method", None) not in available_methods():
            raise ValidationError(f"--method must be one of {', '.join(available_methods())}, "
                                  f"got {args.method!r}")
    except ValidationError as exc:
        return str(exc).replace("-- crf (H.264 quality)", "--crf").replace("-- preset", "--preset")
    return None


def cmd_propagate(argv: list[str]) -> int:
    args = propagate_parser().parse_args(_join_dash_values(argv))
    from app.core.project import load_strokes
    from app.core.render import RenderJob
    problem = _check_values(args)
    if problem:
        _err(problem)
        return EXIT_USAGE
    if args.start is not None and args.end is not None and args.end < args.start:
        _err(f"--end {args.end} is before --start {args.start}")
        return EXIT_USAGE
    keys: dict[int, str] = {}
    for index, path in args.key:
        if index in keys:
            _err(f"--key {index}= given twice ({keys[index]} and {path})")
            return EXIT_USAGE
        keys[index] = path
    from app.core.validate import ValidationError, check_hint_method
    try:
        hint_method = check_hint_method(args.hint_method, "--hint-method")
    except ValidationError as exc:
        _err(str(exc))
        return EXIT_USAGE
    strokes = load_strokes(args.hints) if args.hints else []
    job = RenderJob(input=Path(args.input), output=Path(args.output), keys=keys, strokes=strokes,
                    proxy_height=args.proxy_height, start=args.start or 0, auto=args.auto,
                    end=None if args.end is None else args.end + 1, method=args.method,
                    device=args.device, export=_export_settings(args),
                    protect=[Path(args.hints)] if args.hints else [], hint_method=hint_method,
                    strokes_from=Path(args.hints) if args.hints else None, segment_frames=args.segment_frames)
    if args.farm:
        from app.core.renderfarm import farm_cli
        return farm_cli.run(job, args)
    from app.core.reels.reel import prepare
    prepare(job, shots=not args.no_shots, progress=_luma_progress(args.quiet, args.progress_json))
    return _run_job(job, args)


def cmd_render(argv: list[str]) -> int:
    args = render_parser().parse_args(argv)
    problem = _check_values(args)
    if problem:
        _err(problem)
        return EXIT_USAGE
    from app.core.project import Project
    from app.core.render import job_from_project
    doc = Project.load(args.project)
    job = job_from_project(doc, args.output, device=args.device, export=_export_settings(args),
                           method=args.method)
    job.segment_frames = args.segment_frames
    if args.farm:
        from app.core.renderfarm import farm_cli
        return farm_cli.run(job, args, project=doc)
    from app.core.reels.reel import prepare
    prepare(job, project=doc, progress=_luma_progress(args.quiet, args.progress_json))
    return _run_job(job, args)


def _luma_progress(quiet: bool, machine: bool = False):
    """A progress callback (done, total) for the luma pass, printed like a render's."""
    from app.core.render import RenderProgress
    printer, t0 = ProgressPrinter(quiet=quiet, machine=machine), time.perf_counter()

    def report(done: int, total: int) -> None:
        el = time.perf_counter() - t0
        fps = done / el if el > 0 else 0.0
        printer(RenderProgress("luma", done, total, fps, (total - done) / fps if fps > 0 else None))
    return report


def cmd_shots(argv: list[str]) -> int:
    p = _OneLineParser(prog="hueshot shots", description="Detect the shots (cuts) of a reel: one line "
                                "per shot, START END (inclusive frame indices), or JSON with --json.")
    p.add_argument("input", metavar="INPUT", help="video file or folder of frames")
    p.add_argument("--json", action="store_true", help='print [{"start": .., "end": ..}, ...]')
    p.add_argument("--proxy-height", type=int, default=480, metavar="H", help="height of the luma pass")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    args = p.parse_args(argv)
    from app.core.validate import ValidationError, check_proxy_height
    try:
        if not args.input.strip():
            raise ValidationError("INPUT is empty; give a file or folder")
        check_proxy_height(args.proxy_height, "", "--proxy-height")
    except ValidationError as exc:
        _err(str(exc))
        return EXIT_USAGE
    from app.core.reels.lumastore import disk_budget, open_store
    disk_budget()          # a bad $HUESHOT_LUMA_BUDGET_GB is refused before the file is read
    store = open_store(args.input, proxy_height=args.proxy_height, progress=_luma_progress(args.quiet))
    if args.json:
        import json
        print(json.dumps([{"start": a, "end": b} for a, b in store.shots]))
    else:
        for a, b in store.shots:
            print(a, b)
    if store.error is not None:
        _err(f"{store.error}; the shots cover the {len(store)} readable frames")
        return EXIT_TRUNCATED
    return EXIT_OK


def cmd_bench(argv: list[str]) -> int:
    # Two companion benchmarks share the command: the editor's responsiveness and the
    # full-resolution render. Each has its own flags (`hueshot bench --gui -h`).
    from app.core.benchmarks import check_report_target
    problem = check_report_target(argv)     # the report is written at the end: checked first
    if problem:
        _err(problem)
        return EXIT_USAGE
    if "--gui" in argv:
        from app.gui.benchmarks.bench_gui import main as gui_bench
        return int(gui_bench([a for a in argv if a != "--gui"]) or 0)
    if "--reel" in argv:
        from app.core.benchmarks.bench_reel import main as reel_bench
        return int(reel_bench([a for a in argv if a != "--reel"]) or 0)
    if "--farm" in argv:
        from app.core.benchmarks.farm_timing import main as farm_timing
        return int(farm_timing([a for a in argv if a != "--farm"]) or 0)
    if "--render" in argv:
        from app.core.benchmarks.bench_render import main as render_bench
        return int(render_bench([a for a in argv if a != "--render"]) or 0)
    if "--startup" in argv:
        from app.core.benchmarks.bench_startup import main as startup_bench
        return int(startup_bench([a for a in argv if a != "--startup"]) or 0)
    if "--interactive" in argv:
        from app.core.benchmarks.bench_interactive import main as interactive_bench
        return int(interactive_bench([a for a in argv if a != "--interactive"]) or 0)
    try:
        from app.core.benchmarks import bench
    except ImportError as exc:
        _err(f"the benchmark is not available ({exc})")
        return EXIT_ERROR
    parser = _OneLineParser(prog="hueshot bench", description="Benchmark propagation methods (see also --gui and --render).")
    bench.add_arguments(parser)
    args = parser.parse_args(argv)
    problem = bench.check_args(args)
    if problem:
        parser.error(problem)
    return int(bench.run(args) or 0)


def cmd_gui(argv: list[str]) -> int:
    if len(argv) > 1:
        _err(f"unknown command {argv[0]!r}\n{USAGE}")
        return EXIT_USAGE
    path = argv[0] if argv else None
    if path is not None and not os.path.exists(path):
        _err(f"{path}: no such file (or unknown command; commands: {', '.join(COMMANDS)})")
        return EXIT_ERROR
    try:
        from app.gui.main import run_app
    except ImportError as exc:
        _err(f"the GUI is not available ({exc}); install PySide6, or use `hueshot propagate` headless")
        return EXIT_ERROR
    return int(run_app(path) or 0)


def main(argv: list[str] | None = None) -> int:
    from_sys_argv = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    # started with stderr or stdout closed (`2>&-`, some service managers): Python sets them to
    # None, and the first progress line or message failed the command
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE)
        return EXIT_OK
    if argv and argv[0] == "--version":
        print(f"hueshot {_version()}")
        return EXIT_OK
    if argv and argv[0] == "--smoke-test":      # the installed app checks itself (app/selftest.py)
        if len(argv) != 2 or not argv[1].strip():
            _err("usage: hueshot --smoke-test OUTDIR")
            return EXIT_USAGE
        out = Path(argv[1])
        if out.exists() and not out.is_dir():
            _err(f"{out}: is a file; the smoke test needs a folder to write into")
            return EXIT_ERROR
        try:       # the folder the checks write into, made here so a bad one is one line
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _err(f"{out}: cannot make the smoke test's folder ({exc.strerror or exc})")
            return EXIT_ERROR
        from app.selftest import run as smoke_test
        return smoke_test(argv[1])
    if argv and argv[0] in COMMANDS:
        # OpenCV logs a decoder's failure on stderr in lines of its own (an unreadable key image
        # gave four before the one that names it); the error that reaches the user is ours
        os.environ.setdefault("OPENCV_LOG_LEVEL", "FATAL")
        # SIGINT/SIGTERM/SIGHUP unwind through the same cleanup (no partial files are left);
        # run as a program, signals after that are ignored while the process exits
        from app.core.shutdown import signals_raise
        try:
            with signals_raise(keep_after=from_sys_argv):
                return _dispatch(argv)
        except KeyboardInterrupt as exc:   # a signal before the command's own handling
            _err(str(exc) if getattr(exc, "signum", None) else "interrupted")
            return getattr(exc, "exit_code", EXIT_INTERRUPTED)
    return _dispatch(argv)


def _dispatch(argv: list[str]) -> int:
    import logging
    from app.core.export import ExportError
    from app.core.validate import ValidationError
    # warnings of the core (a grey keyframe, a colourless hint) as one line each
    say = logging.StreamHandler(sys.stderr)
    say.setFormatter(logging.Formatter("hueshot: warning: %(message)s"))
    say.setLevel(logging.WARNING)
    app_log = logging.getLogger("app")
    if not any(getattr(h, "_hueshot", False) for h in app_log.handlers):
        say._hueshot = True
        app_log.addHandler(say)
        app_log.propagate = False
    from app.core.media import MediaError
    from app.core.project import ProjectError
    from app.core.render import RenderError
    try:
        if argv and argv[0] in COMMANDS:
            cmd, rest = argv[0], argv[1:]
            return {"propagate": cmd_propagate, "render": cmd_render, "shots": cmd_shots,
                    "bench": cmd_bench}[cmd](rest)
        return cmd_gui(argv)
    except SystemExit as exc:   # argparse: -h (0) or a usage error (2)
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_USAGE
    except (MediaError, RenderError, ExportError, ProjectError, ValidationError) as exc:
        _err(str(exc))
        return EXIT_ERROR
    except MemoryError:
        _err("out of memory; try a smaller --proxy-height")
        return EXIT_ERROR
    except OSError as exc:
        import errno
        if exc.errno == errno.ENOSPC:
            _err(f"{exc.filename or 'output'}: disk full ({exc.strerror})")
        else:
            _err(f"{exc.filename or ''}: {exc.strerror or exc}")
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        _err(str(exc) if getattr(exc, "signum", None) else "interrupted")
        return getattr(exc, "exit_code", EXIT_INTERRUPTED)
    except RecursionError:
        _err("an input nests too deeply to be read")
        return EXIT_ERROR
    except Exception as exc:   # a bug: still one line (HUESHOT_DEBUG=1 shows the traceback)
        if os.environ.get("HUESHOT_DEBUG"):
            raise
        _err(f"internal error: {type(exc).__name__}: {exc} (run with HUESHOT_DEBUG=1 for the traceback)")
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
