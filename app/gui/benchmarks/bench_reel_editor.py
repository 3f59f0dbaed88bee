"""Child process of `hueshot bench --reel --editor / --hour` (app.core.benchmarks.bench_reel): a real
MainWindow (offscreen) opens REEL; prints one JSON line.

    python -m app.gui.benchmarks.bench_reel_editor REEL WORKDIR
        shows every frame in turn (waiting for each frame the background scan has not stored
        yet to be read on demand): frame count, seconds to the first frame, play rate, peak RSS
    python -m app.gui.benchmarks.bench_reel_editor REEL WORKDIR --play-seconds 20 --scrubs 6
        plays (Space) for that long, then jumps to frames spread over the file and waits for
        each: first frame, frames shown, waits, scrub times, peak RSS, how far the scan got

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


if __name__ == "__main__":
    sys.exit(main())
