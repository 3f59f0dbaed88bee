"""Child process of tests/gui/test_work_kept.py: `hueshot FILE` through app.gui.main.start_window,
one brush stroke with real mouse events, an autosave (what the minute timer does), then a marker
file; it keeps running until the test kills it (SIGKILL: no closeEvent, as in a crash)."""
from __future__ import annotations

import os
import sys
from pathlib import Path


def main(path: str, settings_ini: str, marker: str) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QMessageBox

    from app.gui.main import start_window
    app = QApplication([])
    settings = QSettings(settings_ini, QSettings.Format.IniFormat)
    settings.setValue("device", "cpu")
    win = start_window(path, settings=settings, proxy_height=96)
    win.ask = lambda *a: QMessageBox.StandardButton.No

    def opened():
        v = win.viewer
        win.tools.set_tool("brush")
        win.tools.set_color((220, 30, 30))
        win.tools.set_radius(0.08)
        a, b = v.from_norm(0.2, 0.5).toPoint(), v.from_norm(0.6, 0.5).toPoint()
        QTest.mousePress(v, Qt.MouseButton.LeftButton, pos=a)
        QTest.mouseMove(v, b)
        QTest.mouseRelease(v, Qt.MouseButton.LeftButton, pos=b)
        win.autosave()
        Path(marker).write_text(f"{len(win.doc.strokes(0))}\n")
    win.shotOpened.connect(lambda: QTimer.singleShot(0, opened))
    app.exec()


if __name__ == "__main__":
    main(*sys.argv[1:4])
