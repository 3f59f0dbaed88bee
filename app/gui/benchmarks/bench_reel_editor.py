"""Child process of `hueshot bench --reel --editor / --hour` (app.core.benchmarks.bench_reel): a real
MainWindow (offscreen) opens REEL; prints one JSON line.

    python -m app.gui.benchmarks.bench_reel_editor REEL WORKDIR
        shows every frame in turn (waiting for each frame the background scan has not stored
        yet to be read on demand): frame count, seconds to the first frame, play rate, peak RSS
    python -m app.gui.benchmarks.bench_reel_editor REEL WORKDIR --play-seconds 20 --scrubs 6
        plays (Space) for that long, then jumps to frames spread over the file and waits for
        each: first frame, frames shown, waits, scrub times, peak RSS, how far the scan got

    python -m app.gui.benchmarks.bench_reel_editor REEL WORKDIR --stalls 8 [--at-start]
        only opens and waits that many seconds, the GUI event loop's longest stall measured
        from just before File > Open (a 2 ms timer, app.gui.benchmarks.bench_gui.StallMeter:
        what of it the GUI thread ran, waited for a CPU, or was blocked, e.g. on the GIL)

The first frame is timed from File > Open (open_path) to the window having shown frame 0
(`shotOpened` is emitted after it); everything else fills in behind. By default the editor is
started and idle first (its method loaded); --at-start opens at once after the window is up
(`hueshot FILE`), while the worker thread still imports torch.
"""
import argparse
import json
import os
import resource
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("reel")
    ap.add_argument("work")
    ap.add_argument("--play-seconds", type=float, default=None)
    ap.add_argument("--scrubs", type=int, default=0)
    ap.add_argument("--stalls", type=float, default=None,
                    help="only open, and measure the GUI's longest stall over the open and this many seconds")
    ap.add_argument("--at-start", action="store_true",
                    help="open at once after the window is up (while the worker still imports torch)")
    args = ap.parse_args()
    app = QApplication([])
    from app.gui.main_window import MainWindow
    s = QSettings(os.path.join(args.work, "settings.ini"), QSettings.Format.IniFormat)
    s.setValue("device", "cpu")
    w = MainWindow(settings=s)
    w.defer_device_until_open = args.at_start     # as `hueshot FILE` starts it (app.gui.main.start_window)
    w.ask = lambda *a: QMessageBox.StandardButton.Discard
    w.resize(1200, 800)
    w.show()
    for _ in range(20):
        app.processEvents()
    t_ready = time.perf_counter()
    if not args.at_start:   # the editor started and idle (its method loaded: torch imported) first
        while w.workers.worker.method is None and time.perf_counter() - t_ready < 120:
            app.processEvents()
            time.sleep(0.01)
        time.sleep(1.0)
    opened = []
    w.shotOpened.connect(lambda: opened.append(time.perf_counter()))
    if args.stalls is not None:
        return stalls(app, w, args, opened)
    t0 = time.perf_counter()
    w.open_path(args.reel)
    while not opened:
        app.processEvents()
        time.sleep(0.002)
    first = opened[0] - t0
    assert w.viewer.has_image()

    def reading() -> bool:
        return "reading it from the source" in w.frame_label.text()

    def wait_shown(limit: float = 120.0) -> float:
        t = time.perf_counter()
        while reading() and time.perf_counter() - t < limit:
            app.processEvents()
            time.sleep(0.002)
        return time.perf_counter() - t

    n = w.frame_count()
    out = {"frames": n, "first_frame_s": first, "open_s": first}
    if args.play_seconds is None:
        t1 = time.perf_counter()
        for i in range(n):            # every frame through the viewer
            w.seek(i)
            app.processEvents()
            wait_shown()
        t_play = time.perf_counter() - t1
        out["play_fps"] = n / t_play if t_play > 0 else 0.0
    else:
        shown, waits, last = 0, 0, w.current
        w.toggle_play()
        t1 = time.perf_counter()
        was_reading = False
        while time.perf_counter() - t1 < args.play_seconds:
            app.processEvents()
            time.sleep(0.001)
            r = reading()
            if r and not was_reading:
                waits += 1
            was_reading = r
            if w._shown != last:
                shown += 1
                last = w._shown
        w.stop_playback()
        out.update(play_s=time.perf_counter() - t1, shown=shown, waits=waits)
        times = []
        for k in range(args.scrubs):
            target = int((k + 1) * (n - 1) / (args.scrubs + 1)) + 7 * k
            w.seek(min(n - 1, target))
            app.processEvents()
            times.append(wait_shown())
        times.sort()
        out.update(scrubs=len(times), scrub_median_s=times[len(times) // 2] if times else 0.0,
                   scrub_max_s=times[-1] if times else 0.0)
    if args.at_start:      # the method, whose torch import waited for the first frame
        while w.workers.worker.method is None and time.perf_counter() - t0 < 120:
            app.processEvents()
            time.sleep(0.01)
        out["device_ready_s"] = time.perf_counter() - t0
    out["scanned"] = int(getattr(w.luma, "scanned", n))
    out["shots_found"] = len(w.shot_panel.shots)
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(out), flush=True)
    w.close()
    w.workers.stop()
    return 0


def stalls(app, w, args, opened) -> int:
    """Open and keep the event loop running for args.stalls seconds; the longest gaps between
    the ticks of a 2 ms timer, the first counted from just before open_path (which runs on the
    GUI thread), each split into what the GUI thread ran, waited for a CPU and was blocked."""
    from app.gui.benchmarks.bench_gui import StallMeter
    gaps = []

    class Meter(StallMeter):
        def _tick(self):
            last = self._last
            super()._tick()
            if last is not None:
                now, cpu, wait = self._last
                gaps.append((now - last[0], cpu - last[1], wait - last[2], now))
    from PySide6.QtCore import QTimer
    meter = Meter()
    meter.start()
    QTimer.singleShot(int(args.stalls * 1000), app.quit)
    meter._tick()                       # the first gap starts here, before File > Open
    t0 = time.perf_counter()
    w.open_path(args.reel)
    app.exec()                          # Qt's own event loop, as the app runs (no Python loop here)
    meter.stop()
    gaps.sort(reverse=True)
    top = [{"ms": g * 1000, "ran_ms": r * 1000, "cpu_wait_ms": c * 1000,
            "blocked_ms": max(0.0, g - r - (c if c == c else 0.0)) * 1000, "at_s": at - t0}
           for g, r, c, at in gaps[:5]]
    out = {"frames": w.frame_count(), "first_frame_s": (opened[0] - t0) if opened else None,
           "seconds": args.stalls, "longest_ms": top[0]["ms"] if top else 0.0, "top": top,
           "scanned": int(getattr(w.luma, "scanned", 0) or 0),
           "method_ready": w.workers.worker.method is not None,
           "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    print(json.dumps(out), flush=True)
    w.close()
    w.workers.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
