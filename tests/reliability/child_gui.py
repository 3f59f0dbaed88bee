"""Child process: the editor as the issue's user drove it, then quit, so a fatal error at
interpreter exit ("none_dealloc: deallocating None", a SIGABRT) shows as this process's exit.

    child_gui.py CLIP OUTDIR     open, paint, undo/redo, split view, export and cancel it,
                                 a full export, save, Ctrl+Q; prints QUIT before exiting
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def wait(app, cond, timeout=60.0):
    import time
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise SystemExit(f"timed out waiting for {cond}")
        app.processEvents()
        time.sleep(0.005)


def main(clip: str, outdir: str) -> int:
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QMessageBox

    from app.gui.main_window import MainWindow
    app = QApplication.instance() or QApplication([])
    out = Path(outdir)
    settings = QSettings(str(out / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("device", "cpu")
    win = MainWindow(proxy_height=96, settings=settings)
    win.ask = lambda *a: QMessageBox.StandardButton.Discard
    win.resize(900, 600)
    win.show()
    try:
        return _drive(app, win, out, clip)
    except BaseException:
        import traceback
        traceback.print_exc()
        win.close()             # stop the worker threads: the failure is the script's, not a crash
        return 1


def _drive(app, win, out, clip) -> int:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    opened = []
    win.shotOpened.connect(lambda: opened.append(1))
    assert win.open_path(clip)
    wait(app, lambda: opened)
    v = win.viewer
    win.tools.set_tool("brush")
    win.tools.set_color((220, 30, 30))
    win.tools.set_radius(0.08)
    pts = [v.from_norm(x, 0.5).toPoint() for x in (0.2, 0.3, 0.4)]
    QTest.mousePress(v, Qt.MouseButton.LeftButton, pos=pts[0])
    for p in pts[1:]:
        QTest.mouseMove(v, p)
    QTest.mouseRelease(v, Qt.MouseButton.LeftButton, pos=pts[-1])
    win.undo.undo()
    win.undo.redo()
    win.set_view("split")
    for fmt, name, cancel in (("h264", "cancelled.mp4", True), ("ffv1", "whole.mkv", False)):
        dlg = win.export_dialog()
        dlg.set_method(None)
        dlg.set_format(fmt)
        (out / name).unlink(missing_ok=True)
        dlg.path.setText(str(out / name))
        done = []
        dlg.finished_export.connect(lambda ok, msg: done.append((ok, msg)))
        if cancel:
            dlg.progressed.connect(lambda d, t: d >= 2 and dlg.cancel())
        assert dlg.start()
        wait(app, lambda: done, 120)
        print("EXPORT", fmt, done[0][0], flush=True)
        dlg.close()
    assert win._save_to(str(out / "quit.hueshot"))
    # Ctrl+Q: File > Quit
    from PySide6.QtGui import QAction
    # (the offscreen platform binds no key to the standard Quit: the File > Quit action)
    quit_actions = [a for a in win.findChildren(QAction) if a.text().replace("&", "") == "Quit"]
    assert quit_actions, "no Quit action"
    quit_actions[0].trigger()
    wait(app, lambda: not win.isVisible(), 30)
    app.processEvents()
    print("QUIT", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
