"""The editor's render queue, as plain data (no Qt): jobs, their states, persistence, and the
parsing of a job's progress lines.

A job is one ``hueshot render PROJECT -o OUTPUT [--farm ...]`` run in a process of its own,
so a crash or a kill of the render never takes the editor down (app/gui/panels/render_queue_panel.py
runs the processes). The queue is a JSON file in the user's data folder
(``platformdirs.user_data_dir("hueshot")/render_queue.json``, or ``$HUESHOT_QUEUE_FILE``),
written atomically on every change, so it survives closing the editor and a crash of it.
A job that was running when the editor went away is queued again when the queue is loaded
(``interrupted``): it is rendered again from its start (or resumed, where the render keeps
its finished segments).
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

QUEUE_FORMAT = "hueshot-render-queue"
QUEUE_VERSION = 1
PROGRESS_PREFIX = "HUESHOT-PROGRESS "

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
STATES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED)
FINISHED = (DONE, FAILED, CANCELLED)


class QueueError(Exception):
    """The queue file is unreadable or a request does not fit a job's state."""


def default_queue_path() -> Path:
    env = os.environ.get("HUESHOT_QUEUE_FILE")
    if env:
        return Path(env)
    from platformdirs import user_data_dir
    return Path(user_data_dir("hueshot", appauthor=False)) / "render_queue.json"


@dataclass
class QueueJob:
    project: str                  # absolute path of the saved .hueshot project
    output: str                   # absolute output path (file or folder)
    farm: str = ""                # "" = this process; else the --farm value (local:N, auto, ray://...)
    extra_args: list[str] = field(default_factory=list)   # more `hueshot render` options
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    state: str = QUEUED
    stage: str = ""               # "luma" / "render" as the child reports it
    done: int = 0                 # frames done in the stage
    total: int = 0
    eta: float | None = None      # seconds left, as the child estimates it
    fraction: float = 0.0         # whole-job progress 0..1
    message: str = ""             # last error line, or a note ("interrupted...")
    exit_code: int | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    attempts: int = 0

    @property
    def name(self) -> str:
        return Path(self.project).stem

    def command(self, python: str | None = None) -> list[str]:
        """The child's command line (the same interpreter, so the same install; in a frozen
        build the executable is `hueshot` itself, app/__main__.py)."""
        head = [sys.executable] if getattr(sys, "frozen", False) and python is None else \
            [python or sys.executable, "-m", "app"]
        cmd = head + ["render", self.project, "-o", self.output, "--progress-json"]
        if self.farm:
            cmd += ["--farm", self.farm]
        return cmd + list(self.extra_args)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "QueueJob":
        """A job of the queue file, every field of the type the editor uses (ValueError names
        the field): a wrong type (a damaged or hand-edited file, ``"project": 5``) once passed
        here and raised TypeError in the panel as the window was built, so the editor did not
        start at all, every time, until the file was found and deleted."""
        if not isinstance(d, dict):
            raise ValueError(f"a job must be an object, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        for k in ("project", "output"):
            if not isinstance(d.get(k), str) or not d[k]:
                raise ValueError(f"job field {k!r} must be a non-empty path, got {d.get(k)!r}")
        for k, v in d.items():
            if k not in known:
                continue
            if k in _STR_FIELDS:
                ok = isinstance(v, str)
            elif k in _INT_FIELDS:
                ok = (type(v) is int and (v >= 0 or k == "exit_code")) or (v is None and k in _OPTIONAL)
            elif k in _NUM_FIELDS:
                ok = (type(v) in (int, float) and math.isfinite(v)) or (v is None and k in _OPTIONAL)
            else:
                ok = True
            if not ok:
                raise ValueError(f"job field {k!r} has the wrong type: {v!r}")
        job = cls(**{k: v for k, v in d.items() if k in known})
        if job.state not in STATES:
            raise ValueError(f"unknown job state {job.state!r}")
        if not isinstance(job.extra_args, list) or not all(isinstance(a, str) for a in job.extra_args):
            raise ValueError("extra_args must be a list of strings")
        return job


_STR_FIELDS = {"project", "output", "farm", "id", "state", "stage", "message"}
_INT_FIELDS = {"done", "total", "attempts", "exit_code"}
_NUM_FIELDS = {"eta", "fraction", "created", "started", "finished"}
_OPTIONAL = {"eta", "exit_code", "started", "finished"}


# ------------------------------------------------------------------------------ progress
# The render has two stages: a fast decode of the proxy luma, then the render itself. As a
# whole-job fraction the first counts for a small share (it runs ~4x faster than the render).
_STAGE_SPAN = {"luma": (0.0, 0.15), "render": (0.15, 0.97), "join": (0.97, 1.0)}   # join: a farm render


def parse_progress(line: str) -> dict | None:
    """A ``HUESHOT-PROGRESS {json}`` line of ``hueshot render --progress-json`` as a dict
    (stage, done, total, fps, eta, fraction); None for any other line."""
    if not line.startswith(PROGRESS_PREFIX):
        return None
    try:
        d = json.loads(line[len(PROGRESS_PREFIX):])
        stage, done, total = str(d["stage"]), int(d["done"]), int(d["total"])
    except (ValueError, KeyError, TypeError):
        return None
    a, b = _STAGE_SPAN.get(stage, (0.0, 1.0))
    d["fraction"] = a + (b - a) * (done / total if total > 0 else 0.0)
    d["stage"], d["done"], d["total"] = stage, done, total
    return d


def error_line(text: str) -> str:
    """The message a failed child printed last (`hueshot: error: ...`), else its last line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith(PROGRESS_PREFIX)]
    for ln in reversed(lines):
        if ln.startswith("hueshot: error: "):
            return ln[len("hueshot: error: "):]
    return lines[-1] if lines else ""


# --------------------------------------------------------------------------------- queue
class RenderQueue:
    """Ordered jobs with a persisted state. Observers get ``callback(job_or_None)`` after each
    change (None: the list itself changed). Not thread-safe: the editor uses it from its GUI
    thread only."""

    def __init__(self, path: str | os.PathLike | None = None, load: bool = True, recover: bool = True):
        """``recover``: this process runs the queue (holds its lock), so a job left running by
        an editor that went away is queued again; a viewer of someone else's queue leaves it."""
        self.path = Path(path) if path is not None else default_queue_path()
        self.recover = recover
        self.jobs: list[QueueJob] = []
        self._observers: list[Callable[[QueueJob | None], None]] = []
        if load:
            self.load()

    # ---------------------------------------------------------------- observers
    def subscribe(self, cb: Callable[[QueueJob | None], None]) -> None:
        self._observers.append(cb)

    def _changed(self, job: QueueJob | None, persist: bool = True) -> None:
        if persist:
            self.save()
        for cb in list(self._observers):
            cb(job)

    # ---------------------------------------------------------------- persistence
    def load(self) -> None:
        if not self.path.exists():
            self.jobs = []
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") != QUEUE_FORMAT:
                raise ValueError("not a render queue file")
            if int(data.get("version", 0)) > QUEUE_VERSION:
                raise ValueError(f"written by a newer Hueshot (queue version {data['version']})")
            jobs = [QueueJob.from_dict(d) for d in data["jobs"]]
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise QueueError(f"{self.path}: cannot read the render queue ({exc})") from None
        for j in jobs:
            if j.state == RUNNING and self.recover:    # the editor went away while it ran
                j.state, j.message = QUEUED, "interrupted when the editor closed; queued again"
                j.stage, j.done, j.total, j.eta, j.fraction = "", 0, 0, None, 0.0
        self.jobs = jobs

    def save(self) -> None:
        from app.core.project import atomic_write_bytes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"format": QUEUE_FORMAT, "version": QUEUE_VERSION, "jobs": [j.to_dict() for j in self.jobs]}
        atomic_write_bytes(self.path, json.dumps(data, indent=1).encode("utf-8"))

    # ---------------------------------------------------------------- edits
    def get(self, job_id: str) -> QueueJob:
        for j in self.jobs:
            if j.id == job_id:
                return j
        raise QueueError(f"no job {job_id} in the render queue")

    def add(self, project: str | os.PathLike, output: str | os.PathLike, farm: str = "",
            extra_args: list[str] | None = None) -> QueueJob:
        project = Path(project).absolute()
        if not project.is_file():
            raise QueueError(f"{project}: no such project file (save the project first)")
        job = QueueJob(project=str(project), output=str(Path(output).absolute()), farm=farm,
                       extra_args=list(extra_args or []))
        self._check_output_free(job)
        self.jobs.append(job)
        self._changed(None)
        return job

    def _check_output_free(self, job: QueueJob) -> None:
        """Refuse a job whose output another queued or running job writes: each render
        replaces its output, so the later one silently destroyed the earlier one's result
        (the file dialog asks before replacing only a file that already exists)."""
        mine = os.path.realpath(job.output)
        for other in self.jobs:
            if other is not job and other.state in (QUEUED, RUNNING) and os.path.realpath(other.output) == mine:
                raise QueueError(f"{job.output}: job {other.name} ({other.state}) already renders to this "
                                 "output, and one render would replace the other's; choose another output, "
                                 "or remove or cancel that job first")

    def remove(self, job_id: str) -> None:
        job = self.get(job_id)
        if job.state == RUNNING:
            raise QueueError(f"job {job.name} is running; cancel it first")
        self.jobs.remove(job)
        self._changed(None)

    def can_move(self, job_id: str, step: int) -> bool:
        """A waiting job can go one place up (step -1) or down (+1) unless it is at the end or
        the neighbour is running: a running job keeps its place."""
        job = self.get(job_id)
        i = self.jobs.index(job) + step
        return job.state == QUEUED and 0 <= i < len(self.jobs) and self.jobs[i].state != RUNNING

    def move(self, job_id: str, step: int) -> bool:
        """Swap a waiting job with its neighbour (step -1 up, +1 down); waiting jobs run in
        list order, so this changes which runs next. False where it cannot go further."""
        job = self.get(job_id)
        if job.state != QUEUED:
            raise QueueError(f"job {job.name} is {job.state}; only a waiting job can be moved")
        if not self.can_move(job_id, step):
            return False
        i = self.jobs.index(job)
        self.jobs[i], self.jobs[i + step] = self.jobs[i + step], self.jobs[i]
        self._changed(None)
        return True

    def next_queued(self) -> QueueJob | None:
        return next((j for j in self.jobs if j.state == QUEUED), None)

    def running(self) -> QueueJob | None:
        return next((j for j in self.jobs if j.state == RUNNING), None)

    def mark_started(self, job: QueueJob) -> None:
        job.state, job.started, job.finished = RUNNING, time.time(), None
        job.stage, job.done, job.total, job.eta, job.fraction = "", 0, 0, None, 0.0
        job.message, job.exit_code = "", None
        job.attempts += 1
        self._changed(job)

    def update_progress(self, job: QueueJob, p: dict) -> None:
        """A parsed progress line; not written to disk (it changes several times a second)."""
        job.stage, job.done, job.total = p["stage"], p["done"], p["total"]
        job.eta = p.get("eta")
        job.fraction = max(job.fraction, float(p["fraction"]))
        self._changed(job, persist=False)

    def mark_finished(self, job: QueueJob, state: str, exit_code: int | None, message: str = "") -> None:
        job.state, job.exit_code, job.message, job.finished = state, exit_code, message, time.time()
        if state == DONE:
            job.fraction, job.eta = 1.0, 0.0
        self._changed(job)

    def cancel(self, job_id: str) -> QueueJob:
        """A queued job is cancelled at once; a running one is marked by the runner once its
        process has ended (the runner kills it)."""
        job = self.get(job_id)
        if job.state == QUEUED:
            self.mark_finished(job, CANCELLED, None, "cancelled before it started")
        elif job.state != RUNNING:
            raise QueueError(f"job {job.name} is {job.state}; only a queued or running job can be cancelled")
        return job

    def retry(self, job_id: str) -> QueueJob:
        job = self.get(job_id)
        if job.state not in (FAILED, CANCELLED, DONE):
            raise QueueError(f"job {job.name} is {job.state}; only a finished job can be run again")
        self._check_output_free(job)
        job.state, job.message, job.exit_code = QUEUED, "", None
        job.stage, job.done, job.total, job.eta, job.fraction = "", 0, 0, None, 0.0
        # to the end of the queue: what was waiting keeps its turn
        self.jobs.remove(job)
        self.jobs.append(job)
        self._changed(None)
        return job
