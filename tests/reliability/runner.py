"""Child processes for the reliability loops: a render cancelled through should_stop, the
CLI stopped by a signal, a project saved over and over; and the leftover checks.

Each child gets a TMPDIR of its own, so a spill folder left behind is seen (and no other
process's folders are counted)."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("child.py")


def child_env(tmpdir: Path) -> dict:
    tmpdir.mkdir(parents=True, exist_ok=True)
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                TMPDIR=str(tmpdir), PYTHONFAULTHANDLER="1", QT_QPA_PLATFORM="offscreen")


def leftovers(out_dir: Path, tmpdir: Path) -> list[str]:
    """Partial outputs beside the output and spill folders in the child's TMPDIR."""
    found = [n for n in os.listdir(out_dir) if n.startswith(".") and (".partial-" in n or ".old-" in n)]
    if tmpdir.exists():
        found += [f"TMPDIR/{n}" for n in os.listdir(tmpdir) if n.startswith("hueshot-render-")]
    return found


def frames_in(path: Path) -> int:
    if path.is_dir():
        return len([n for n in os.listdir(path) if n.endswith(".png")])
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


@dataclass
class Tally:
    """Outcome counts of a loop, for the report and the assertion messages."""
    tries: int = 0
    signal_deaths: int = 0
    codes: dict = field(default_factory=dict)
    leftovers: int = 0
    bad_outputs: int = 0
    notes: list = field(default_factory=list)

    def add(self, rc: int, left: list[str], output_ok: bool, note: str = "") -> None:
        self.tries += 1
        if rc < 0:
            self.signal_deaths += 1
        self.codes[rc] = self.codes.get(rc, 0) + 1
        if left:
            self.leftovers += 1
        if not output_ok:
            self.bad_outputs += 1
        if rc < 0 or left or not output_ok:
            self.notes.append(f"rc={rc} left={left} output_ok={output_ok} {note}".strip())

    def line(self, name: str) -> str:
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(self.codes.items()))
        return (f"{name}: {self.tries} tries, {self.signal_deaths} signal deaths, exit codes {{{codes}}}, "
                f"{self.leftovers} with leftovers, {self.bad_outputs} bad outputs")

    def ok(self) -> bool:
        return self.signal_deaths == 0 and self.leftovers == 0 and self.bad_outputs == 0


def report(line: str) -> None:
    """Loop counts go to stderr and, when HUESHOT_RELIABILITY_LOG is set, to that file."""
    print(line, file=sys.stderr)
    log = os.environ.get("HUESHOT_RELIABILITY_LOG")
    if log:
        with open(log, "a") as f:
            f.write(line + "\n")


def cancel_once(clip: Path, key: Path, out: Path, tmpdir: Path, after: int, method: str = "flow",
                timeout: float = 240) -> tuple[int, str]:
    """render(job, should_stop=...) in a child, True from the ``after``-th call on."""
    r = subprocess.run([sys.executable, str(CHILD), "cancel", str(clip), str(key), str(out), str(after), method],
                       capture_output=True, text=True, env=child_env(tmpdir), timeout=timeout, cwd=out.parent)
    return r.returncode, r.stdout + r.stderr


def signal_once(argv: list[str], out: Path, tmpdir: Path, sig: int, delay: float,
                timeout: float = 240) -> tuple[int, str, float]:
    """Start ``hueshot ARGV``; once its partial output exists wait ``delay`` s, send ``sig``.
    Returns (exit code, stderr, seconds from the partial output to the exit)."""
    p = subprocess.Popen([sys.executable, "-m", "app", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=child_env(tmpdir), cwd=out.parent)
    deadline = time.monotonic() + timeout
    prefix_file = f".{out.stem}.partial-"
    prefix_dir = f".{out.name}.partial-"
    t_open = None
    while p.poll() is None and time.monotonic() < deadline:
        if any(n.startswith(prefix_file) or n.startswith(prefix_dir) for n in os.listdir(out.parent)):
            t_open = time.monotonic()
            break
        time.sleep(0.005)
    if t_open is not None and delay > 0:
        end = t_open + delay
        while p.poll() is None and time.monotonic() < end:
            time.sleep(0.005)
    if p.poll() is None and sig:
        p.send_signal(sig)
    try:
        _, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        return -9, err + "\n[timed out]", 0.0
    return p.returncode, err, time.monotonic() - (t_open or time.monotonic())


def kill_save_once(project: Path, tmpdir: Path, delay: float, timeout: float = 120) -> int:
    """A child saving ``project`` in a loop (a new keyframe each time), SIGKILLed after
    ``delay`` s of saving."""
    p = subprocess.Popen([sys.executable, str(CHILD), "save", str(project)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=child_env(tmpdir))
    line = p.stdout.readline()       # "saving" once the document is ready
    if not line.startswith("saving"):
        p.kill()
        raise AssertionError(f"save child did not start: {line!r} {p.stderr.read()}")
    time.sleep(delay)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=timeout)
    return p.returncode


def rng(seed: int | None = None) -> random.Random:
    """Random points; the seed is printed by the tests so a failing try can be replayed."""
    return random.Random(seed)
