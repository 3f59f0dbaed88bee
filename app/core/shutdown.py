"""Stopping cleanly: the render pipeline's shutdown order, temporary paths, and signals.

Everything that must happen when a long job ends early lives here, so every caller (the
render, a segmented or resumed render, the GUI's export) stops the same way:

* ``Stages``: the threads of a pipeline joined by bounded queues. ``shutdown()`` is the one
  order: set the stop flag, drain the queues (a producer blocked on a full queue wakes up),
  join every thread. Only then may the caller close or abort the encoder and the decoder:
  closing a PyAV container while another thread is inside ``stream.encode`` or ``decode``
  is a use-after-free (the SIGSEGV on cancel). A thread that does not stop in time is
  reported and its container is left open (leaked, never freed under it).
* Temporary paths (partial outputs, spill folders, save temps) carry the owning process id
  in their name (``temp_tag()``); ``track()``/``untrack()`` list the live ones of this process
  so an exit path removes them, and ``sweep_stale()`` removes those of dead processes (a
  SIGKILL cannot be caught; the next run cleans up after it).
* Signals: ``signals_raise()`` turns SIGINT, SIGTERM and SIGHUP into ``Interrupted`` (a
  KeyboardInterrupt) in the main thread, so the same unwinding cleanup runs for all three;
  inside ``deferred_signals()`` (cleanup, final renames) a signal is held until the block
  ends, so cleanup is never cut in half.
"""
from __future__ import annotations

import atexit
import logging
import os
import queue
import re
import shutil
import signal
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

log = logging.getLogger(__name__)

HANDLED_SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None),
                                    getattr(signal, "SIGHUP", None)) if s is not None)


class Interrupted(KeyboardInterrupt):
    """A signal asked the process to stop; ``exit_code`` is the shell's 128 + signal number."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.exit_code = 128 + int(signum)

    def __str__(self) -> str:
        try:
            return f"interrupted by {signal.Signals(self.signum).name}"
        except ValueError:
            return f"interrupted by signal {self.signum}"


# ----------------------------------------------------------------------------- signals
_lock = threading.Lock()
_defer_depth = 0
_pending: int | None = None
_after_exit_ignore = False


def _handler(signum, frame):
    global _pending
    if _defer_depth > 0 or _after_exit_ignore:
        if _pending is None:
            _pending = signum
        return
    raise Interrupted(signum)


@contextmanager
def signals_raise(keep_after: bool = False) -> Iterator[None]:
    """SIGINT/SIGTERM/SIGHUP raise ``Interrupted`` in the main thread while inside.

    ``keep_after``: on leaving, ignore further signals instead of restoring the previous
    handlers (a process that is about to exit must not die of a signal after it has
    cleaned up). No-op outside the main thread.
    """
    global _after_exit_ignore, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in HANDLED_SIGNALS}
    _pending = None
    for s in HANDLED_SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        if keep_after:
            # SIG_IGN, not a Python handler: the interpreter resets Python handlers to the
            # default (death) early in its shutdown, and a signal then would kill the
            # process after it had cleaned up; an ignored signal stays ignored to the end
            _after_exit_ignore = True
            for s in HANDLED_SIGNALS:
                signal.signal(s, signal.SIG_IGN)
        else:
            for s, h in old.items():
                signal.signal(s, h)
            _pending = None


@contextmanager
def deferred_signals(reraise: bool = True) -> Iterator[None]:
    """A signal arriving inside is held until the block ends, then raised as ``Interrupted``.
    With ``reraise`` False, or when an exception is already leaving the block, it is dropped:
    the work is then done (a final close) or being stopped anyway."""
    global _defer_depth, _pending
    with _lock:
        _defer_depth += 1
    ok = False
    try:
        yield
        ok = True
    finally:
        with _lock:
            _defer_depth -= 1
            outer = _defer_depth == 0
        if outer and _pending is not None and threading.current_thread() is threading.main_thread():
            signum, _pending = _pending, None
            if ok and reraise:
                raise Interrupted(signum)


# ------------------------------------------------------------------------- temp paths
_tracked: dict[str, None] = {}


def temp_tag() -> str:
    """``<pid>-<random>``: the part of a temporary name that says which process owns it."""
    return f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


def track(path: str | os.PathLike) -> Path:
    """Remember a temporary file or folder of this process (removed if it exits early)."""
    _tracked[str(path)] = None
    return Path(path)


def untrack(path: str | os.PathLike) -> None:
    _tracked.pop(str(path), None)


def remove_path(path: str | os.PathLike) -> None:
    """Remove a file or folder tree; missing is fine."""
    p = Path(path)
    try:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove %s: %s", p, exc)
    untrack(p)


@atexit.register
def remove_tracked() -> None:
    """Last resort at interpreter exit: temporary paths nobody removed (normal paths untrack)."""
    for p in list(_tracked):
        remove_path(p)


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True
    return True


_TAG = re.compile(r"(?:^|(?<=[.\-_]))(\d+)-[0-9a-f]{8}(?=$|[.\-])")
LEGACY_MAX_AGE_S = 3600.0   # untagged leftovers (older versions) not written to for an hour


def sweep_stale(folder: str | os.PathLike, prefix: str, suffix: str = "") -> list[Path]:
    """Remove ``folder/<prefix><pid>-<rand>...<suffix>`` entries whose process is gone (and
    untagged ones of older versions not modified for an hour); returns what was removed."""
    removed: list[Path] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        if not name.startswith(prefix) or not name.endswith(suffix):
            continue
        p = Path(folder) / name
        if str(p) in _tracked:
            continue
        tags = _TAG.findall(name[len(prefix):])   # the last tag is the temp's own
        if tags:
            stale = not pid_alive(int(tags[-1]))
        else:
            try:
                stale = now - p.stat().st_mtime > LEGACY_MAX_AGE_S
            except OSError:
                continue
        if stale:
            remove_path(p)
            removed.append(p)
    return removed


# ------------------------------------------------------------------------ the stages
class Stopped(Exception):
    """A pipeline stage saw the stop flag (another stage failed, or a cancel)."""


class _Stage(threading.Thread):
    """A pipeline thread that hands its exception to the pipeline instead of dying silently."""

    def __init__(self, owner: "Stages", name: str, target: Callable[[], None]):
        super().__init__(name=f"{owner.name}-{name}", daemon=True)
        self._owner = owner
        self._fn = target

    def run(self) -> None:
        try:
            self._fn()
        except Stopped:
            pass
        except BaseException as exc:
            self._owner.failures.append(exc)
            self._owner.stop.set()


END = object()   # end of a stream of items through a queue


class Stages:
    """Threads joined by bounded queues, with one shutdown order (see the module doc)."""

    def __init__(self, name: str = "render"):
        self.name = name
        self.stop = threading.Event()
        self.failures: list[BaseException] = []
        self.threads: list[threading.Thread] = []
        self.queues: list[queue.Queue] = []

    def queue(self, maxsize: int) -> queue.Queue:
        q: queue.Queue = queue.Queue(maxsize=maxsize)
        self.queues.append(q)
        return q

    def start(self, name: str, target: Callable[[], None]) -> threading.Thread:
        t = _Stage(self, name, target)
        self.threads.append(t)
        t.start()
        return t

    def put(self, q: queue.Queue, item) -> bool:
        """Put unless stopped; False when the pipeline is stopping."""
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def get(self, q: queue.Queue):
        """The next item; raises Stopped when the pipeline is stopping and nothing is queued."""
        while True:
            try:
                return q.get(timeout=0.05)
            except queue.Empty:
                if self.stop.is_set():
                    raise Stopped() from None

    def alive(self) -> list[str]:
        return [t.name for t in self.threads if t.is_alive()]

    def shutdown(self, timeout: float = 120.0) -> list[str]:
        """Stop, drain, join: returns the names of threads still running after ``timeout``
        (their containers must then be left open). Idempotent."""
        self.stop.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            while t.is_alive():
                for q in self.queues:          # wake producers blocked on a full queue
                    try:
                        while True:
                            q.get_nowait()
                    except queue.Empty:
                        pass
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                t.join(min(0.05, left))
        stuck = self.alive()
        if stuck:
            log.error("pipeline threads did not stop within %.0f s: %s (their files are left open)",
                      timeout, ", ".join(stuck))
        return stuck
