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


def signal_once(argv: list[str], out: Path, tmpdir: Path, sig: int, r: random.Random | None,
                timeout: float = 240) -> tuple[int, str, str]:
    """Run ``hueshot ARGV --progress-json``; send ``sig`` at a random point of the luma pass
    (a third of the tries) or of the render pass, placed by the child's own progress lines
    and ETA so the point does not depend on the machine's load. ``r`` None: no signal.
    Returns (exit code, stderr, where the signal was aimed)."""
    import json
    import threading
    p = subprocess.Popen([sys.executable, "-m", "app", *argv, "--progress-json"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=child_env(tmpdir), cwd=out.parent)
    lines: list[tuple[float, dict | None, str]] = []

    def read():
        for line in p.stderr:
            info = None
            if line.startswith("HUESHOT-PROGRESS "):
                try:
                    info = json.loads(line.split(" ", 1)[1])
                except ValueError:
                    pass
            lines.append((time.monotonic(), info, line))
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    aim = "none"
    if r is not None:
        stage = "luma" if r.random() < 1 / 3 else "render"
        deadline = time.monotonic() + timeout
        first = None
        while p.poll() is None and time.monotonic() < deadline and first is None:
            first = next((info for _, info, _ in list(lines) if info and info["stage"] == stage), None)
            time.sleep(0.005)
        if first is not None:
            left = first["eta"] if first.get("eta") is not None else 1.0
            if stage == "luma":      # the ETA is the whole job's: the luma pass is ~1/5 of it
                left = left / 5
            delay = r.uniform(0.0, 0.9 * max(left, 0.05))
            aim = f"{stage} {first['done']}/{first['total']} +{delay:.2f}s"
            end = time.monotonic() + delay
            while p.poll() is None and time.monotonic() < end:
                time.sleep(0.002)
            if p.poll() is None:
                p.send_signal(sig)
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        reader.join(5)
        return -9, "".join(t for _, _, t in lines) + "\n[timed out]", aim
    reader.join(5)
    err = "".join(t for _, info, t in lines if info is None)
    return p.returncode, err, aim


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
