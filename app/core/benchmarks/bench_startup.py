"""Start-up benchmark (`hueshot bench --startup`): launch to main window shown, venv vs frozen.

Each run starts the app as a new process under offscreen Qt with $HUESHOT_STARTUP_MARK set
(app/startup.py): the app writes the wall-clock time of the main window's first paint, and
of the moment its worker has a compute device (torch imported, method built). Launch time is
taken just before the process is spawned, so interpreter start, imports and window build are
all inside the figure. The targets run interleaved (A B A B ...) so load on the shared host
falls on both alike; one unscored warm-up run each fills the page cache first. Each run gets
fresh settings and recovery folders. Prints medians (min-max) and the frozen/venv ratio.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _launch(cmd: list[str], timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="hueshot-startup-") as tmp:
        mark = os.path.join(tmp, "mark")
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HUESHOT_STARTUP_MARK=mark,
                   HUESHOT_RECOVERY_DIR=os.path.join(tmp, "recovery"), XDG_CONFIG_HOME=os.path.join(tmp, "config"),
                   XDG_DATA_HOME=os.path.join(tmp, "data"), XDG_CACHE_HOME=os.path.join(tmp, "cache"))
        t0 = time.time()
        proc = subprocess.Popen(cmd, env=env, cwd=tmp, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        marks: dict[str, float] = {}
        torch_at_show = None
        try:
            end = time.monotonic() + timeout
            while "ready" not in marks or "shown" not in marks:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode(errors="replace").strip().splitlines()[-3:]
                    raise RuntimeError(f"{cmd[0]} exited with {proc.returncode} before its window was up: "
                                       + " | ".join(err))
                if time.monotonic() > end:
                    raise RuntimeError(f"{cmd[0]}: no start-up mark within {timeout:.0f} s")
                time.sleep(0.005)
                if os.path.exists(mark):
                    for line in open(mark).read().splitlines():
                        parts = line.split()
                        if len(parts) >= 2 and parts[0] not in marks:
                            marks[parts[0]] = float(parts[1])
                            if parts[0] == "shown":
                                torch_at_show = parts[-1] == "torch=1"
        finally:
            proc.kill()
            proc.wait()
            proc.stderr.close()
    return {"shown": marks["shown"] - t0, "ready": marks["ready"] - t0, "torch": torch_at_show}


def _fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1000:.0f} ms ({min(xs) * 1000:.0f}-{max(xs) * 1000:.0f})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="hueshot bench --startup", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7, help="scored launches per target (default 7)")
    ap.add_argument("--frozen", default=str(REPO / "dist" / "hueshot" / "hueshot"),
                    help="the frozen executable (default dist/hueshot/hueshot; skipped when missing)")
    ap.add_argument("--python", default=None if getattr(sys, "frozen", False) else sys.executable,
                    help="the venv's Python for the venv row (default: this interpreter)")
    ap.add_argument("--timeout", type=float, default=120.0)
    args = ap.parse_args(argv)
    if args.runs < 1 or not args.timeout > 0:
        ap.error("--runs must be >= 1 and --timeout > 0")
    targets = {}
    if args.python:
        targets["venv"] = [args.python, "-m", "app"]
    if args.frozen and os.path.exists(args.frozen):
        targets["frozen"] = [os.path.abspath(args.frozen)]
    if not targets:
        print("hueshot: error: nothing to measure (no --python, and no frozen build at "
              f"{args.frozen}: bash packaging/build.sh)", file=sys.stderr)
        return 1
    results: dict[str, list[dict]] = {k: [] for k in targets}
    try:
        for k, cmd in targets.items():
            _launch(cmd, args.timeout)                   # warm-up, not scored
        for _ in range(args.runs):
            for k, cmd in targets.items():
                results[k].append(_launch(cmd, args.timeout))
    except RuntimeError as e:
        print(f"hueshot: error: {e}", file=sys.stderr)
        return 1
    print(f"Hueshot start-up: launch to main window shown (offscreen Qt, {args.runs} runs each after "
          f"a warm-up, median (min-max))")
    rows = [("target", "window shown", "device ready", "torch imported at show")]
    for k, rs in results.items():
        torch = sorted({r["torch"] for r in rs})
        rows.append((k, _fmt([r["shown"] for r in rs]), _fmt([r["ready"] for r in rs]),
                     "/".join("yes" if t else "no" for t in torch)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)))
    if len(results) == 2:
        med = {k: statistics.median(r["shown"] for r in rs) for k, rs in results.items()}
        print(f"  frozen / venv (window shown): {med['frozen'] / med['venv']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
