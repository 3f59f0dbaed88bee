"""Child process of tests/gui/test_qt_messages.py: the editor started as `hueshot CLIP` starts
it (app.gui.main.start_window) on whatever platform QT_QPA_PLATFORM names, driven through a
stroke, the shortcut list, the export dialog and quitting; every Qt message of any kind from
before the QApplication exists is printed as one JSON line at the end."""
from __future__ import annotations

import json
import sys
import time


def main(clip: str, work: str, install_filter: bool) -> int:
    from PySide6.QtCore import QSettings, Qt, qInstallMessageHandler
    got = []
    qInstallMessageHandler(lambda kind, _ctx, msg: got.append([kind.name, msg]))
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QMessageBox
    app = QApplication(sys.argv[:1])
    if install_filter:                 # what run_app, the smoke test and bench --gui install
        from app.gui import qtlog
        qtlog.install(app)
    from app.gui.main import start_window
    s = QSettings(f"{work}/settings.ini", QSettings.Format.IniFormat)
    s.setValue("device", "cpu")
    win = start_window(clip, settings=s, proxy_height=96)
    win.ask = lambda *a: QMessageBox.StandardButton.Discard

    def pump(cond, timeout=120.0):
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise TimeoutError
            app.processEvents()
            time.sleep(0.005)
    pump(lambda: win.luma is not None and win.workers.worker.method is not None)
    v = win.viewer
    a, b = v.from_norm(0.3, 0.5).toPoint(), v.from_norm(0.6, 0.5).toPoint()
    QTest.mousePress(v, Qt.MouseButton.LeftButton, pos=a)
    QTest.mouseMove(v, b)
    QTest.mouseRelease(v, Qt.MouseButton.LeftButton, pos=b)
    pump(lambda: win._last_finished == (win.generation, True))
    win.activateWindow()
    QTest.qWaitForWindowActive(win, 5000)
    v.setFocus()
    QTest.keyClick(v, Qt.Key.Key_F1)
    pump(lambda: getattr(win, "_shortcuts", None) is not None, 10)
    dlg = win.export_dialog()
    pump(lambda: dlg.isVisible() and win._shortcuts.isVisible())
    dlg.close()
    win._shortcuts.close()
    t0 = time.perf_counter()
    win.close()
    app.processEvents()
    print(json.dumps({"platform": app.platformName(), "messages": got,
                      "close_ms": (time.perf_counter() - t0) * 1000}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], len(sys.argv) > 3 and sys.argv[3] == "filter"))
