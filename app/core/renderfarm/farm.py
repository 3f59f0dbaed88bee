"""The render farm on Ray: each segment (a shot) of a render is one Ray task.

    hueshot render PROJECT -o OUT --farm local[:N]       a local Ray cluster with N workers
    hueshot render PROJECT -o OUT --farm auto|ray://host:port|host:port   an existing cluster

What goes where: the head (this process) plans the segments (app.core.renderfarm.farm_segments), sends
each task only small arguments (the RenderJob: source path, key images of its shot, strokes,
settings), and joins the finished segments into the output with the source audio. Workers
read the source media from the path the project names and write their segment into the render
folder beside the output: both must be on a filesystem every node sees at the same path (as
on any render farm). A task checks that first and fails with a message naming the node.

Failures: a task whose worker process or node dies is run again by Ray (``max_retries``); an
error in the input (a broken frame, a bad keyframe) is an application error, reported with
its shot and never retried (``retry_exceptions=False``). The other shots still finish; their
segments stay in the render folder, so running the same command again after fixing the
input renders only what is missing. Cancel (Ctrl+C, or ``should_stop``) cancels every task.

Progress: each task reports its frames to a small actor every half second; the head turns
the sum into frames done, fps and ETA for the whole render.
"""
from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from app.core.renderfarm.farm_segments import (Segment, SegmentError, check_job, cut_to, default_render_dir,
                                    join_segments, plan_segments, render_segment, seal_segment,
                                    segment_finished, segment_path)
from app.core.render import RenderCancelled, RenderError, RenderJob, RenderProgress, RenderResult

MAX_RETRIES = 3          # runs of a task whose worker dies (SIGKILL, out of memory, lost node)
REPORT_EVERY = 0.5       # seconds between a task's progress reports
LOOPBACK = "127.0.0.1"


class FarmError(RenderError):
    """The farm could not run (Ray missing, cluster unreachable) or some shots failed."""


@dataclass
class FarmSpec:
    address: str | None      # None: start a local cluster
    workers: int             # local workers (ignored for an existing cluster)

    @property
    def text(self) -> str:
        return f"local:{self.workers}" if self.address is None else self.address


def parse_farm(text: str) -> FarmSpec:
    """``local``, ``local:N``, ``auto``, ``ray://host:port`` or ``host:port``."""
    t = (text or "").strip()
    if t == "local" or t.startswith("local:"):
        n_text = t.partition(":")[2]
        if not n_text:
            return FarmSpec(None, os.cpu_count() or 1)
        try:
            n = int(n_text)
        except ValueError:
            raise FarmError(f"--farm {text}: the number of workers {n_text!r} is not an integer") from None
        if n < 1:
            raise FarmError(f"--farm {text}: at least one worker is needed")
        most = max(4 * (os.cpu_count() or 1), 8)
        if n > most:
            # each worker is a process with a model and a decoder: local:99999 started a cluster
            # claiming 99999 CPUs on a 2-core machine
            raise FarmError(f"--farm {text}: at most {most} local workers on this machine "
                            f"({os.cpu_count() or 1} CPUs; 'local' alone starts one per CPU)")
        return FarmSpec(None, n)
    if t == "auto" or t.startswith("ray://") or (":" in t and t.rpartition(":")[2].isdigit()):
        return FarmSpec(t, 0)
    raise FarmError(f"--farm {text!r}: expected local, local:N, auto, ray://HOST:PORT or HOST:PORT")


@dataclass
class SegmentFailure:
    segment: Segment
    message: str


@dataclass
class FarmResult:
    result: RenderResult | None            # None when some segments failed (no output written)
    segments: int
    failures: list[SegmentFailure] = field(default_factory=list)
    rendered: int = 0                      # segments rendered by this run (others were finished already)
    seconds_tasks: float = 0.0             # wall time until the last segment finished
    seconds_join: float = 0.0
    task_seconds: list[float] = field(default_factory=list)   # each task's own wall time (worker side)
    started_seconds: float = 0.0           # ray.init (0 when already connected)
    shipped: int = 0                       # segments that came back through the object store
    pids: dict[int, int] = field(default_factory=dict)   # segment -> pid of the worker that finished it


def _loopback_only() -> None:
    """Keep a cluster on this machine on 127.0.0.1. Ray on Linux names a node by the address
    it would use to reach other machines and listens on every interface; with clusters
    'disabled' (its switch for a single machine) it uses loopback for the node, the GCS and
    the workers, and listens on 127.0.0.1 only. Set before Ray starts its processes (they
    inherit the environment); the module constant too, when Ray was imported already."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    if "ray" in sys.modules:
        from ray._private import ray_constants
        ray_constants.ENABLE_RAY_CLUSTER = os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] not in ("0", "false", "False")


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a cluster address nothing answers at (Ray itself retries for minutes)."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as exc:
        raise FarmError(f"--farm {address}: no Ray cluster answers there ({exc}); start one with "
                        f"`ray start --head` or use --farm local:N") from None


def _is_loopback(address: str | None) -> bool:
    if address is None:
        return True
    host = address.split("://")[-1].rpartition(":")[0]
    return host in ("127.0.0.1", "localhost", "::1", "[::1]") or host.startswith("127.")


def _ray(local: bool = False):
    if local:
        _loopback_only()
    try:
        import ray
    except ImportError:
        raise FarmError("the render farm needs Ray: pip install 'hueshot[farm]'") from None
    return ray


# ------------------------------------------------------------------------- the task
SHIP_PREFIX = "hueshot-farm-"


def _local_copy(data: bytes, suffix: str) -> Path:
    """A shipped source written once per worker process into its temp folder (named by the
    process, so copies of dead workers are swept by the next one)."""
    import hashlib
    import tempfile
    from app.core.shutdown import sweep_stale, temp_tag
    tmp = Path(tempfile.gettempdir())
    key = hashlib.sha1(data).hexdigest()[:12]
    for old in tmp.glob(f"{SHIP_PREFIX}{os.getpid()}-*"):
        if (old / f"source_{key}{suffix}").exists():
            return old / f"source_{key}{suffix}"
    sweep_stale(tmp, SHIP_PREFIX)
    folder = tmp / f"{SHIP_PREFIX}{temp_tag()}"
    folder.mkdir(mode=0o700)
    path = folder / f"source_{key}{suffix}"
    path.write_bytes(data)
    return path


def _segment_task_fn(job: RenderJob, seg: Segment, render_dir: str, reporter, source=None,
                     cancel_flag: str | None = None) -> dict:
    """Runs on a worker: render one segment. With a shared filesystem it reads the source from
    the job's path and writes the segment into the render folder; with ``source`` (the file's
    bytes, shipped through the object store) it renders from a local copy and returns the
    segment's bytes for the head to write. ``cancel_flag``: a file in the render folder the
    head creates when it cancels the render; a task that sees it stops and writes nothing
    (Ray can start a force-cancelled task again when the killed worker's death reaches the
    owner before the cancel does: a cancelled render then wrote another segment)."""
    import dataclasses
    import shutil
    import tempfile
    stop = None
    if cancel_flag is not None and source is None:
        stop = lambda: os.path.exists(cancel_flag)      # noqa: E731
        if stop():
            raise RenderCancelled(f"{seg.label}: the render was cancelled")
    t0 = time.perf_counter()
    host = socket.gethostname()
    local_dir = None
    if source is not None:
        job = dataclasses.replace(job, input=_local_copy(source, Path(job.input).suffix), luma_store=None)
        local_dir = Path(tempfile.mkdtemp(prefix="hueshot-farm-seg-"))
        render_dir = str(local_dir)
    elif not Path(job.input).exists():
        raise SegmentError(f"{seg.label}: {job.input} is not visible on node {host}; the farm needs "
                           f"the source on a filesystem every node mounts at the same path (or --farm-ship)")
    elif not Path(render_dir).parent.is_dir():
        raise SegmentError(f"{seg.label}: the render folder's parent {Path(render_dir).parent} is not "
                           f"visible on node {host} (a shared filesystem is needed, or --farm-ship)")
    last = [0.0]
    pid = os.getpid()
    reporter.report.remote(seg.index, 0, pid)

    def progress(p: RenderProgress) -> None:
        now = time.monotonic()
        if p.stage == "render" and (now - last[0] >= REPORT_EVERY or p.done >= p.total):
            last[0] = now
            reporter.report.remote(seg.index, p.done, pid)

    try:
        path = render_segment(job, seg, render_dir, progress=progress, should_stop=stop)
        data = path.read_bytes() if local_dir is not None else None
    finally:
        if local_dir is not None:
            shutil.rmtree(local_dir, ignore_errors=True)
    reporter.report.remote(seg.index, seg.frames, pid)
    return {"index": seg.index, "path": str(path), "seconds": time.perf_counter() - t0, "host": host,
            "pid": pid, "data": data}


CANCEL_FLAG_KEEP_S = 3600     # an old run's cancel flag outlives any task Ray could still start for it


class _Reporter:
    """Progress of every task: segment index -> frames rendered, and the worker's pid."""

    def __init__(self):
        self.done: dict[int, int] = {}
        self.pids: dict[int, int] = {}

    def report(self, index: int, done: int, pid: int) -> None:
        # a retried task starts again from 0
        self.done[index] = done
        self.pids[index] = pid

    def snapshot(self) -> tuple[dict, dict]:
        return dict(self.done), dict(self.pids)


# ------------------------------------------------------------------------- the head
class Farm:
    """Connects to (or starts) a Ray cluster and renders jobs on it. Use as a context
    manager; a cluster this object started is shut down on exit."""

    def __init__(self, spec: FarmSpec | str, max_retries: int = MAX_RETRIES):
        self.spec = parse_farm(spec) if isinstance(spec, str) else spec
        self.max_retries = max_retries
        self.ray = _ray(local=_is_loopback(self.spec.address))
        self._owned = False
        self.started_seconds = 0.0
        # called with ({segment: frames done}, {segment: worker pid}) as tasks report
        # (a test kills a worker mid-render with it)
        self.on_report: Callable[[dict, dict], None] | None = None

    def __enter__(self) -> "Farm":
        ray = self.ray
        t0 = time.perf_counter()
        if not ray.is_initialized() and self.spec.address not in (None, "auto") \
                and not self.spec.address.startswith("ray://"):
            _probe(self.spec.address)
        if not ray.is_initialized():
            # workers inherit the head's environment: torch / OpenCV threads per worker are set
            # by Ray from the task's CPUs (1), so N workers do not oversubscribe N cores
            kw = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                      configure_logging=True)
            try:
                if self.spec.address is None:
                    # a local cluster stays on loopback: nothing of it listens on the network
                    ray.init(num_cpus=self.spec.workers, _node_ip_address=LOOPBACK, **kw)
                else:
                    ray.init(address=self.spec.address, **kw)
            except Exception as exc:   # ConnectionError and Ray's own kinds
                raise FarmError(f"--farm {self.spec.text}: cannot start or reach the Ray cluster ({exc})") from None
            self._owned = True
        self.started_seconds = time.perf_counter() - t0
        self._task = ray.remote(max_retries=self.max_retries, retry_exceptions=False, num_cpus=1)(_segment_task_fn)
        self._reporter_cls = ray.remote(num_cpus=0)(_Reporter)
        return self

    def __exit__(self, *exc) -> None:
        if self._owned:
            # A signal while the cluster shuts down (a second or two) is dropped: the render is
            # then finished or being stopped already. Raised here it told a user whose output
            # was complete that it was not written, with exit status 130.
            from app.core.shutdown import deferred_signals
            with deferred_signals(reraise=False):
                self.ray.shutdown()
            self._owned = False

    @property
    def workers(self) -> int:
        return int(self.ray.cluster_resources().get("CPU", 0))

    def render(self, job: RenderJob, shots: Sequence[Sequence[int]] | None, n_frames: int,
               render_dir: str | os.PathLike | None = None,
               progress: Callable[[RenderProgress], None] | None = None,
               should_stop: Callable[[], bool] | None = None, keep_segments: bool = False,
               ship: bool = False) -> FarmResult:
        """Render ``job`` segment by segment (farm_segments.plan_segments) on the cluster.
        ``ship``: send the source file to the workers through the object store and bring the segments back the same way, for nodes
        that do not share a filesystem with the head (the whole file travels once per node;
        meant for sources that fit in the object store, not a feature film)."""
        ray = self.ray
        should_stop = should_stop or (lambda: False)
        check_job(job)
        segments = plan_segments(job, shots, n_frames)     # a bad range or key fails before the folder is made
        render_dir = Path(render_dir) if render_dir else default_render_dir(job.output)
        render_dir.mkdir(parents=True, exist_ok=True)
        total = sum(s.frames for s in segments)
        paths = {s.index: segment_path(job, s, render_dir) for s in segments}
        todo = [s for s in segments if not segment_finished(paths[s.index])]
        out = FarmResult(result=None, segments=len(segments), started_seconds=self.started_seconds)
        reporter = self._reporter_cls.remote()
        t0 = time.perf_counter()
        # At most `window_size` tasks are submitted at a time (twice the cluster's CPUs): a task's
        # arguments (its shot's key images) sit in the object store until it runs, so a film's
        # 1,500 shots submitted at once would hold every key image there.
        window_size = max(2, 2 * self.workers)
        source_ref = None
        if ship and todo:
            if Path(job.input).is_dir():
                raise FarmError(f"{job.input}: --farm-ship sends a video file; a folder of frames needs "
                                f"a filesystem every node shares")
            source_ref = ray.put(Path(job.input).read_bytes())
        waiting = list(todo)
        pending: dict = {}
        # this run's cancel flag (_segment_task_fn); an older run's flags are left for its tasks
        # for a while, then swept
        cancel_flag = render_dir / f".cancelled-{os.getpid()}-{int(time.time() * 1000)}"
        for old in render_dir.glob(".cancelled-*"):
            try:
                if time.time() - old.stat().st_mtime > CANCEL_FLAG_KEEP_S:
                    old.unlink()
            except OSError:
                pass

        def submit() -> None:
            while waiting and len(pending) < window_size:
                s = waiting.pop(0)
                pending[self._task.options(name=f"hueshot {s.label}").remote(
                    cut_to(job, s), s, str(render_dir), reporter, source_ref, str(cancel_flag))] = s

        submit()
        finished_frames = total - sum(s.frames for s in todo)     # segments left by an earlier run
        frames_of: dict[int, int] = {}                           # segment -> frames rendered so far
        closed: set[int] = set()                                 # segments finished or failed
        last_poll = 0.0
        try:
            while pending:
                if should_stop():
                    raise RenderCancelled("render cancelled")
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.25)
                for ref in ready:
                    seg = pending.pop(ref)
                    closed.add(seg.index)
                    try:
                        info = ray.get(ref)
                        if info.get("data") is not None:     # shipped back: the head writes it
                            from app.core.project import atomic_write_bytes
                            seal_segment(paths[seg.index], data=info["data"])     # sealed first
                            atomic_write_bytes(paths[seg.index], info["data"])
                            out.shipped += 1
                        out.task_seconds.append(info["seconds"])
                        out.pids[seg.index] = info["pid"]
                        out.rendered += 1
                        frames_of[seg.index] = seg.frames
                    except ray.exceptions.RayTaskError as exc:    # an error of the input: not retried
                        out.failures.append(SegmentFailure(seg, _task_message(exc)))
                        frames_of[seg.index] = 0
                    except ray.exceptions.RayError as exc:        # the worker died every time
                        out.failures.append(SegmentFailure(
                            seg, f"{seg.label}: its worker died {self.max_retries + 1} times ({type(exc).__name__})"))
                        frames_of[seg.index] = 0
                submit()
                now = time.perf_counter()
                if now - last_poll < 0.25 or (progress is None and self.on_report is None):
                    continue
                last_poll = now
                snap, pids = ray.get(reporter.snapshot.remote())
                if self.on_report is not None:
                    self.on_report(snap, pids)
                for i, d in snap.items():
                    if i not in closed:
                        frames_of[i] = d
                if progress is not None:
                    d = finished_frames + sum(frames_of.values())
                    left = total - d - sum(f.segment.frames for f in out.failures)
                    # the whole task phase's rate: tasks report in steps and finish in bursts,
                    # so a short window swings the ETA; workers' cold starts count (they are real)
                    dt = now - t0
                    fps = (d - finished_frames) / dt if dt > 0 else 0.0
                    progress(RenderProgress("render", min(d, total), total, fps, left / fps if fps > 0 else None))
        except BaseException:
            if pending:
                try:                 # first the flag, so that a task Ray starts again stops at once
                    cancel_flag.touch()
                except OSError:
                    pass
            for ref in pending:      # cancel, Ctrl+C, or the head failed: stop every task
                ray.cancel(ref, force=True)
            raise
        finally:
            ray.kill(reporter)
        out.seconds_tasks = time.perf_counter() - t0
        if progress is not None:
            ok = total - sum(f.segment.frames for f in out.failures)
            el = out.seconds_tasks
            progress(RenderProgress("render", ok, total, ok / el if el > 0 else 0.0, 0.0))
        if out.failures:
            out.failures.sort(key=lambda f: f.segment.index)
            return out
        t1 = time.perf_counter()
        out.result = join_segments(job, segments, [paths[s.index] for s in segments], progress=progress,
                                   should_stop=should_stop)
        out.seconds_join = time.perf_counter() - t1
        if not keep_segments:
            import shutil
            from app.core.shutdown import deferred_signals
            with deferred_signals(reraise=False):    # the output is complete: nothing to stop
                shutil.rmtree(render_dir, ignore_errors=True)
        return out


def _task_message(exc) -> str:
    cause = getattr(exc, "cause", None)
    if cause is not None and str(cause):
        return str(cause)
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
