"""Child process of tests/gui/test_quit.py: `hueshot CLIP` through the real entry point
(app.gui.main.run_app); the window is closed once the shot is open and a propagation runs.
Writes markers: one from an atexit handler (must run), one from an object finalised only by the
interpreter's teardown (skipped by the fast exit)."""
from __future__ import annotations

import atexit
import sys


class _Finalised:
    def __init__(self, path):
        self.path = path

    def __del__(self):            # runs at interpreter teardown (module globals cleared)
        open(self.path, "a").write("teardown\n")


def main(clip: str, marks: str) -> None:
    from PySide6.QtCore import QTimer

    from app.core import shutdown
    from app.gui import main as gui_main
    atexit.register(lambda: open(marks, "a").write("atexit\n"))
    tmp = shutdown.track(marks + ".tmpdir")   # a temporary path the atexit sweep removes
    import os
    os.makedirs(tmp, exist_ok=True)
    start = gui_main.start_window

    def start_window(path, *a, **k):
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest
        from PySide6.QtWidgets import QMessageBox
        win = start(path, *a, **k)
        win.ask = lambda *a: QMessageBox.StandardButton.Discard
        done = []

        def opened(*_):
            if done or win.luma is None or win.workers.worker.method is None:
                return
            done.append(1)
            v = win.viewer            # a stroke: the propagation runs while the window closes
            a_, b_ = v.from_norm(0.3, 0.5).toPoint(), v.from_norm(0.6, 0.5).toPoint()
            QTest.mousePress(v, Qt.MouseButton.LeftButton, pos=a_)
            QTest.mouseMove(v, b_)
            QTest.mouseRelease(v, Qt.MouseButton.LeftButton, pos=b_)
            QTimer.singleShot(200, win.close)
        win.workers.worker.deviceReady.connect(lambda *_: QTimer.singleShot(0, opened))
        win.shotOpened.connect(lambda: QTimer.singleShot(0, opened))
        return win
    gui_main.start_window = start_window
    globals()["_keep"] = _Finalised(marks)
    gui_main.run_app(clip)
    open(marks, "a").write("returned\n")       # never: run_app ends the process


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
