"""Child process of tests/gui/test_work_kept.py: `hueshot CLIP` through the real entry point
(app.gui.main.run_app); once the shot is open, one brush stroke with real mouse events and a
marker file. No autosave has run (its timer fires after a minute): the test then signals it."""
from __future__ import annotations

import sys
from pathlib import Path


def main(clip: str, marker: str) -> None:
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QMessageBox

    from app.gui import main as gui_main
    start = gui_main.start_window

    def start_window(path, *a, **k):
        win = start(path, *a, **k)
        win.ask = lambda *a: QMessageBox.StandardButton.Cancel     # never answered in a signal's way out

        def opened():
            v = win.viewer
            win.tools.set_tool("brush")
            win.tools.set_color((220, 30, 30))
            win.tools.set_radius(0.08)
            a_, b_ = v.from_norm(0.2, 0.5).toPoint(), v.from_norm(0.6, 0.5).toPoint()
            QTest.mousePress(v, Qt.MouseButton.LeftButton, pos=a_)
            QTest.mouseMove(v, b_)
            QTest.mouseRelease(v, Qt.MouseButton.LeftButton, pos=b_)
            Path(marker).write_text(f"{len(win.doc.strokes(0))}\n")
        win.shotOpened.connect(lambda: QTimer.singleShot(0, opened))
        return win
    gui_main.start_window = start_window
    gui_main.run_app(clip)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
