"""Entry point of the desktop app: `run_app(path)` (called by `hueshot` in app/cli.py)."""
from __future__ import annotations

import logging
import sys
from pathlib import Path


def _style() -> str:
    qss = Path(__file__).resolve().parents[2] / "resources" / "style.qss"
    try:
        return qss.read_text()
    except OSError:
        return ""


def start_window(path: str | None = None, settings=None, proxy_height: int | None = None):
    """The main window as the app starts it: shown, then (once the event loop runs) the
    given path opened, or, without one, recovery offered when an autosave was left behind."""
    from PySide6.QtCore import QSettings, QTimer

    from app.gui.main_window import MainWindow

    settings = settings if settings is not None else QSettings("Hueshot", "Hueshot")
    if proxy_height is None:
        proxy_height = int(settings.value("proxy_height", 480))
    win = MainWindow(proxy_height=proxy_height, settings=settings)
    win.defer_device_until_open = bool(path)     # the shot's first frame before torch's import
    win.show()
    if path:
        QTimer.singleShot(0, lambda: win.open_path(str(path)))
    else:
        QTimer.singleShot(0, win.offer_recovery)     # after the window is up
    return win


def run_app(path: str | None = None, argv: list[str] | None = None) -> int:
    from PySide6.QtWidgets import QApplication

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    from app.gui import qtlog
    qtlog.install(app)       # the offscreen plugin's propagateSizeHints note only
    app.setApplicationName("Hueshot")
    app.setOrganizationName("Hueshot")
    app.setStyle("Fusion")
    app.setStyleSheet(_style())
    from PySide6.QtGui import QIcon
    app.setWindowIcon(QIcon(str(Path(__file__).resolve().parents[2] / "resources" / "icons" / "hueshot-256.png")))
    app.setDesktopFileName("hueshot")        # matches packaging/hueshot.desktop
    win = start_window(path)  # noqa: F841  (kept alive for the event loop)
    _end_on_signals(app, win)
    from app.startup import mark_when_shown
    mark_when_shown(win)      # only with $HUESHOT_STARTUP_MARK (hueshot bench --startup)
    rc = app.exec()
    leave(rc, win.settings)


def _end_on_signals(app, win) -> None:
    """SIGINT (Ctrl+C in the editor's terminal), SIGTERM (kill, a logout) and SIGHUP (its terminal
    closed) end the editor with exit status 128 + the signal, after MainWindow.end_on_signal has
    autosaved what was not saved. Python runs a handler only when the interpreter gets control,
    so a short timer lets it in while Qt waits for events."""
    import signal

    from PySide6.QtCore import QTimer
    ending = []

    def end(signum: int) -> None:
        if not ending:
            ending.append(signum)
            win.end_on_signal()
            app.exit(128 + signum)

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), lambda signum, _frame: QTimer.singleShot(0, lambda: end(signum)))
    tick = QTimer(app)
    tick.timeout.connect(lambda: None)
    tick.start(200)


def leave(rc: int, settings=None) -> None:
    """End the process once the editor has closed, without Python's interpreter teardown.
    The window's closeEvent has done what quitting needs (project closed, recovery file
    removed, workers stopped, the render queue saved); what is left is unloading torch, scipy,
    OpenCV and Qt module by module, which took 1.6-2.2 s after the window had closed in
    20-160 ms (Ctrl+Q while propagating, loaded 2-core host): the "quitting takes 2-5 s" of
    issue 13. The settings are written and the atexit handlers run (logging, the temporary
    paths of app.core.shutdown), then os._exit."""
    import atexit
    import os
    if settings is not None:
        settings.sync()
    atexit._run_exitfuncs()
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except Exception:
            pass
    os._exit(int(rc or 0))


if __name__ == "__main__":
    raise SystemExit(run_app(sys.argv[1] if len(sys.argv) > 1 else None))
