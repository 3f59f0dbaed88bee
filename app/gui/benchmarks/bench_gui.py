"""GUI benchmark (`hueshot bench --gui`): a real MainWindow on a generated 854x480 clip.

Measures
* stroke -> screen: from the mouse release of a real stroke to the first paint of the
  viewer showing a frame of the new generation, the median of --strokes strokes painted one
  after another on frame 0 with the editor idle before each (aim < 150 ms);
* correction -> screen: a stroke on frame 100 of 120 (a correction over what propagation
  from frame 0 gives there) until frame 100 is updated on screen (aim < 300 ms), and the
  same after Undo;
* reopen -> colour: from opening the saved project in a new window until every frame shows
  colour (timeline all done, the viewer painted in colour; aim < 1 s);
* streaming rate: frames per second arriving in the GUI during propagation;
* the longest GUI event-loop stall while propagation runs and while an export runs,
  from a 2 ms QTimer recording the gaps between its ticks (aim < 50 ms), split into the GUI
  thread's own work in it and its wait for a CPU (the host's load; Linux schedstat);
* quit: closing the window while the colour prior's suggestions job runs (it is not waited for);
  and the real app (`hueshot CLIP` as start_window and run_app end it, in a child process):
  Ctrl+Q while a propagation runs until the process has ended.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path


def _make_clip(path: str, w: int, h: int, frames: int) -> None:
    """Grey clip: textured background panning, a textured square moving right."""
    import av
    import cv2
    import numpy as np
    rng = np.random.default_rng(3)
    bg = cv2.resize(rng.random((h // 8, (w + 600) // 8)).astype(np.float32), (w + 600, h), interpolation=cv2.INTER_CUBIC)
    s = h // 3
    ob = cv2.resize(rng.random((s // 6, s // 6)).astype(np.float32), (s, s), interpolation=cv2.INTER_CUBIC)
    with av.open(path, "w") as out:
        st = out.add_stream("libx264", rate=24)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        st.options = {"preset": "ultrafast", "crf": "14"}
        for i in range(frames):
            img = 60 + 110 * bg[:, 3 * i: 3 * i + w]
            x0 = 20 + 8 * i
            img[h // 3: h // 3 + s, x0: x0 + s] = (150 + 90 * ob)[:, : max(0, min(s, w - x0))]
            g = np.clip(img, 0, 255).astype(np.uint8)
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.repeat(g[..., None], 3, 2)), format="rgb24")
            f = f.reformat(format="yuv420p")
            f.pts, f.time_base = i, Fraction(1, 24)
            for p in st.encode(f):
                out.mux(p)
        for p in st.encode():
            out.mux(p)


class StallMeter:
    """Longest gap between ticks of a fast timer = the longest event-loop stall. Each gap is
    also split (Linux) into what the GUI thread did in it: the CPU time it ran
    (time.thread_time) and the time it was runnable but waited for a CPU (run_delay of
    /proc/thread-self/schedstat: the host's load, not the editor's work); the rest is time
    it slept or blocked (the GIL, a lock)."""

    def __init__(self):
        from PySide6.QtCore import Qt, QTimer
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(2)
        self.timer.timeout.connect(self._tick)
        self.max_gap = 0.0
        self.split = (0.0, 0.0)          # (ran, waited for a CPU) in the longest gap, seconds
        self.max_ran = 0.0               # most GUI-thread CPU time in one gap, seconds
        self._last = None
        try:
            self._sched = open("/proc/thread-self/schedstat", "rb", buffering=0)   # the GUI thread's
        except OSError:
            self._sched = None

    def _run_delay(self) -> float:
        if self._sched is None:
            return float("nan")
        self._sched.seek(0)
        return int(self._sched.read().split()[1]) / 1e9

    def _tick(self):
        now, cpu, wait = time.perf_counter(), time.thread_time(), self._run_delay()
        if self._last is not None:
            t, c, w = self._last
            if now - t > self.max_gap:
                self.max_gap, self.split = now - t, (cpu - c, wait - w)
            self.max_ran = max(self.max_ran, cpu - c)
        self._last = (now, cpu, wait)

    def start(self):
        self.max_gap, self.split, self.max_ran, self._last = 0.0, (0.0, 0.0), 0.0, None
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        return self.max_gap * 1000

    def describe(self) -> str:
        """The longest stall, what the GUI thread did in it, and its longest run of work."""
        ran, waited = self.split
        wait = "n/a" if waited != waited else f"{waited * 1000:.0f}"
        return (f"{self.max_gap * 1000:.0f} ms (aim < 50): GUI thread ran {ran * 1000:.0f} ms of it, "
                f"waited {wait} ms for a CPU; longest GUI work between two ticks {self.max_ran * 1000:.0f} ms")


def quit_child(clip: str, mark: str) -> None:
    """Child process of the quit figure: the editor as `hueshot CLIP` starts it
    (app.gui.main.start_window), a stroke, and once its propagation runs, Ctrl+Q (File > Quit);
    the time of the key press goes to `mark`, then the process ends as run_app ends it
    (app.gui.main.leave). The parent times the process's end."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QMessageBox

    from app.gui import qtlog
    from app.gui.main import leave, start_window
    app = QApplication(sys.argv[:1])
    qtlog.install(app)
    s = QSettings(mark + ".ini", QSettings.Format.IniFormat)
    s.setValue("device", "cpu")
    win = start_window(clip, settings=s, proxy_height=480)
    win.ask = lambda *a: QMessageBox.StandardButton.Discard
    end = time.monotonic() + 300
    while (win.luma is None or win.workers.worker.method is None) and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.005)
    v = win.viewer
    a, b = v.from_norm(0.2, 0.5).toPoint(), v.from_norm(0.7, 0.5).toPoint()
    QTest.mousePress(v, Qt.MouseButton.LeftButton, pos=a)
    QTest.mouseMove(v, b)
    QTest.mouseRelease(v, Qt.MouseButton.LeftButton, pos=b)
    while win._frames_this_run < 3 and time.monotonic() < end:     # the propagation runs
        app.processEvents()
        time.sleep(0.005)

    def press_quit():
        with open(mark, "w") as f:
            f.write(f"{time.time():.6f} {int(win.propagating())}")
        win.activateWindow()              # shortcuts reach an active window only
        v.setFocus()
        QTest.keyClick(v, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)    # File > Quit
        if win.isVisible():               # the key did not quit: say so rather than hang
            with open(mark, "a") as f:
                f.write(" key-ignored")
            win.close()
    QTimer.singleShot(0, press_quit)
    leave(app.exec(), win.settings)


def _time_quit(clip: str, work: str) -> tuple[float, bool]:
    """(ms from Ctrl+Q to the end of the `hueshot CLIP` process, propagation was running)."""
    import subprocess
    mark = os.path.join(work, "quit_mark")
    env = dict(os.environ, HUESHOT_RECOVERY_DIR=os.path.join(work, "recovery-quit"))
    subprocess.run([sys.executable, "-m", "app.gui.benchmarks.bench_gui", "--quit-child", clip, mark],
                   env=env, check=True, timeout=600, stdout=subprocess.DEVNULL)
    t_end = time.time()
    t_quit, running, *rest = open(mark).read().split()
    if rest:
        raise RuntimeError("Ctrl+Q did not quit the editor (closed by the benchmark instead)")
    return (t_end - float(t_quit)) * 1000, running == "1"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="hueshot bench --gui")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--method", default="")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--strokes", type=int, default=5, help="strokes timed on frame 0 (median; default 5)")
    ap.add_argument("--hint-method", default=None,
                    help="the project's stroke reach (models.hinting.hints.HINT_METHODS: geo, gate, "
                         "gate+prior uses the colour prior); default: the project default")
    args = ap.parse_args(argv)
    # refused before the window opens: a bad value used to leave the window waiting for a
    # propagation that never came (300 s per step) instead of saying what was wrong
    if args.frames < 2:
        ap.error(f"--frames must be at least 2, got {args.frames}")
    if args.strokes < 1:
        ap.error(f"--strokes must be at least 1, got {args.strokes}")
    if args.method:
        from models.registry import available_methods
        if args.method not in available_methods():
            ap.error(f"unknown method {args.method!r}; available: {', '.join(available_methods())}")
    if args.hint_method:
        from models.hinting.hints import HINT_METHODS
        if args.hint_method not in HINT_METHODS:
            ap.error(f"unknown hint method {args.hint_method!r}; available: {', '.join(HINT_METHODS)}")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QPoint, QSettings, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QMessageBox

    from app.gui.main_window import MainWindow

    tmp = tempfile.mkdtemp(prefix="hueshot-bench-gui-")
    os.environ.setdefault("HUESHOT_RECOVERY_DIR", os.path.join(tmp, "recovery"))
    clip = os.path.join(tmp, "bench854.mp4")
    _make_clip(clip, 854, 480, args.frames)
    app = QApplication.instance() or QApplication([])
    from app.gui import qtlog
    qtlog.install(app)       # the offscreen plugin's propagateSizeHints note only
    settings = QSettings(os.path.join(tmp, "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("device", args.device)
    if not args.method:
        from models.registry import DEFAULT_METHOD
        args.method = DEFAULT_METHOD
    settings.setValue("method", args.method)
    win = MainWindow(proxy_height=480, settings=settings)
    win.ask = lambda *a: QMessageBox.StandardButton.Discard
    win.resize(1280, 800)
    win.show()

    def pump_until(cond, timeout=300.0):
        end = time.perf_counter() + timeout
        while not cond():
            if time.perf_counter() > end:
                line = sys._getframe(1).f_lineno      # which step: the line that waited
                # every thread's stack on stderr: a step that never ends is a hang to find
                import faulthandler
                faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
                raise TimeoutError(f"benchmark step at {Path(__file__).name}:{line} timed out after {timeout:.0f} s")
            app.processEvents()
            time.sleep(0.0005)

    win.open_path(clip)
    pump_until(lambda: win.luma is not None and win.workers.worker.method is not None)
    if args.hint_method:
        win.set_hint_method(args.hint_method)     # as Tools > Stroke Reach does (one undo step)
    # Warm-up stroke (first use loads/compiles things) so the figures are steady-state.
    v = win.viewer
    marks = {}

    def stroke(y):
        a, b = v.from_norm(0.05, y).toPoint(), v.from_norm(0.25, y).toPoint()
        QTest.mousePress(v, Qt.MouseButton.LeftButton, pos=a)
        for k in range(1, 9):
            QTest.mouseMove(v, a + (b - a) * (k / 8))
        marks.clear()
        marks["release"] = time.perf_counter()
        QTest.mouseRelease(v, Qt.MouseButton.LeftButton, pos=b)

    def on_arrived(gen, index):
        # Emitted on the GUI thread for frames of the current generation (after the stroke).
        if "release" in marks and "arrived" not in marks and index == win.current:
            marks["arrived"] = time.perf_counter()

    def on_paint():
        if "arrived" in marks and "screen" not in marks:
            marks["screen"] = time.perf_counter()

    win.frameArrived.connect(on_arrived)
    v.on_painted = on_paint
    win.tools.set_color((200, 50, 40))
    stroke(0.45)
    pump_until(lambda: win._last_finished == (win.generation, True))

    meter = StallMeter()
    count = [0]
    # Baseline: the same meter with the editor idle (a shot open, nothing running) for 3 s: what
    # the host's load alone does to the event loop in this run.
    meter.start()
    t_idle = time.perf_counter()
    pump_until(lambda: time.perf_counter() - t_idle > 3.0)
    meter.stop()
    d_idle = meter.describe()
    import statistics
    colours = [(40, 160, 60), (220, 200, 40), (150, 60, 160), (40, 170, 200), (230, 120, 30)]
    lat = []
    meter.start()
    for k in range(max(1, args.strokes)):
        # idle before each stroke: the suggestions job a shown frame starts (after 250 ms) is done
        pump_until(lambda: not win.prior_tools.service.busy and not win.prior_tools._refresh_timer.isActive())
        win.tools.set_color(colours[k % len(colours)])
        stroke(0.55 + 0.3 * k / max(1, args.strokes))
        t0 = marks["release"]
        last = k == max(1, args.strokes) - 1
        if not last:     # the frame on screen, then Esc: the next stroke starts from an idle editor
            pump_until(lambda: "screen" in marks)
            win.cancel_propagation()
            pump_until(lambda: win._last_finished is not None and win._last_finished[0] == win.running_gen)
        else:            # the last one propagates the whole shot: the streaming figures
            pump_until(lambda: win._last_finished == (win.generation, True))
        lat.append((marks.get("screen", float("nan")) - t0) * 1000)
    count[0] = win._frames_this_run      # frames of this generation that reached the GUI thread
    t_prop = time.perf_counter() - t0
    meter.stop()
    d_prop = meter.describe()
    latency = statistics.median(lat)
    fps = count[0] / t_prop

    # Correction on a late frame: the base is what the frame shows now (from the cache).
    late = min(100, args.frames - 1)
    win.seek(late)
    pump_until(lambda: win.viewer.frame == late)     # on screen: a stroke lands on the frame shown
    app.processEvents()
    meter.start()
    win.tools.set_color((60, 90, 210))
    arrived = {}
    track = lambda g, i: arrived.setdefault(i, time.perf_counter()) if g == win.generation else None  # noqa: E731
    win.frameArrived.connect(track)
    stroke(0.35)
    t0 = marks["release"]
    pump_until(lambda: "screen" in marks)
    t_corr = (marks["screen"] - t0) * 1000
    pump_until(lambda: late - 1 in arrived and (late + 1 in arrived or late + 1 >= args.frames))
    t_sides = (max(arrived[late - 1], arrived.get(late + 1, 0)) - t0) * 1000
    win.frameArrived.disconnect(track)
    pump_until(lambda: win._last_finished == (win.generation, True))
    t_corr_all = time.perf_counter() - t0
    n_corr = win._frames_this_run
    # Undo of it: the frame's previous chroma is cached; nothing is recomputed.
    gen0 = win.generation
    paints = []
    v.on_painted = lambda: paints.append(time.perf_counter())
    t0 = time.perf_counter()
    win.undo.undo()
    pump_until(lambda: win.generation > gen0 and win.store.generation_of(late) == win.generation)
    n_paints = len(paints)
    pump_until(lambda: len(paints) > n_paints)
    t_undo = (paints[-1] - t0) * 1000
    v.on_painted = on_paint
    pump_until(lambda: win._last_finished == (win.generation, True))
    n_undo = win._frames_this_run
    meter.stop()
    d_corr = meter.describe()

    # Save, close, reopen in a new window: in colour from the project's cache folder.
    proj = os.path.join(tmp, "bench.hueshot")
    assert win._save_to(proj)
    pump_until(lambda: True)
    win.close()
    app.processEvents()
    win = MainWindow(proxy_height=480, settings=settings)
    win.ask = lambda *a: QMessageBox.StandardButton.Discard
    win.resize(1280, 800)
    win.show()
    pump_until(lambda: win.workers.worker.method is not None)
    from app.gui.timeline import DONE
    v = win.viewer
    painted = {}
    v.on_painted = lambda: painted.setdefault("color", time.perf_counter()) if v.color_img is not None else None
    meter.start()
    t0 = time.perf_counter()
    win.open_path(proj)
    pump_until(lambda: win.luma is not None and (win.timeline.states == DONE).all() and "color" in painted)
    t_reopen = (time.perf_counter() - t0) * 1000
    pump_until(lambda: win._last_finished == (win.generation, True))
    n_reopen = win._frames_this_run
    meter.stop()
    d_reopen = meter.describe()

    dlg = win.export_dialog()
    dlg.set_method(None)                           # the preview's own chroma
    dlg.set_format("h264")
    dlg.path.setText(os.path.join(tmp, "out.mp4"))
    meter.start()
    t1 = time.perf_counter()
    dlg.start()
    pump_until(lambda: dlg.result is not None)
    t_exp = time.perf_counter() - t1
    meter.stop()
    d_exp = meter.describe()
    ok = dlg.result[0]
    dlg.close()
    device = win.device_label.text()
    # Quit while the suggestions job runs (a frame looked at for 250 ms asks for it).
    svc = win.prior_tools.service
    pump_until(lambda: not svc.busy)
    win.seek(win.current + 1 if win.current + 1 < args.frames else win.current - 1)
    pump_until(lambda: svc.busy, timeout=30)
    t1 = time.perf_counter()
    win.close()
    t_quit = (time.perf_counter() - t1) * 1000
    quit_waited = not svc.busy
    t_exit, quit_running = _time_quit(clip, tmp)

    rows = [
        ("clip", f"854x480, {args.frames} frames"),
        ("host load average (1 min) at the end", f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"),
        ("device / method", device.replace("Device: ", "")),
        ("stroke reach (hint method)", win.doc.hint_method() or "default (geo)"),
        ("stroke end -> updated frame on screen", f"{latency:.0f} ms median of {len(lat)} (aim < 150); "
         f"each: {', '.join(f'{x:.0f}' for x in lat)}"),
        ("frames streamed per second (propagation)", f"{fps:.1f} fps ({count[0]} frames in {t_prop:.2f} s)"),
        ("longest GUI stall, editor idle (host baseline)", d_idle.replace(" (aim < 50)", "")),
        ("longest GUI stall during strokes + propagation", d_prop),
        (f"correction on frame {late} -> frame {late} on screen", f"{t_corr:.0f} ms (aim < 300); "
         f"{n_corr} frames recomputed in {t_corr_all:.2f} s"),
        (f"correction -> frames {late - 1} and {late + 1} computed", f"{t_sides:.0f} ms"),
        ("undo of it -> frame on screen", f"{t_undo:.0f} ms; {n_undo} frames recomputed"),
        ("longest GUI stall during correction + undo", d_corr),
        ("reopen saved project -> every frame in colour", f"{t_reopen:.0f} ms (aim < 1000); {n_reopen} frames recomputed"),
        ("longest GUI stall during reopen", d_reopen),
        ("export H.264 (full res)", f"{args.frames / t_exp:.1f} fps, {'ok' if ok else 'FAILED'}"),
        ("longest GUI stall during export", d_exp),
        ("quit while a suggestions job runs -> window closed", f"{t_quit:.0f} ms "
         f"({'the job had ended' if quit_waited else 'the job still running, not waited for'})"),
        ("hueshot CLIP, Ctrl+Q -> process ended", f"{t_exit:.0f} ms "
         f"({'while propagating' if quit_running else 'propagation had ended'}; child process, offscreen)"),
    ]
    w = max(len(r[0]) for r in rows)
    print("Hueshot GUI benchmark")
    for k, val in rows:
        print(f"  {k:<{w}}  {val}")
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--quit-child"]:
        quit_child(sys.argv[2], sys.argv[3])
    sys.exit(main())
