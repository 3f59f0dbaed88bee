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


def run_app(path: str | None = None, argv: list[str] | None = None) -> int:
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.gui.main_window import MainWindow

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("Hueshot")
    app.setOrganizationName("Hueshot")
    app.setStyle("Fusion")
    app.setStyleSheet(_style())
    settings = QSettings("Hueshot", "Hueshot")
    win = MainWindow(proxy_height=int(settings.value("proxy_height", 480)), settings=settings)
    win.show()
    if path:
        QTimer.singleShot(0, lambda: win.open_path(str(path)))
    else:
        QTimer.singleShot(0, win.offer_recovery)     # after the window is up
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(run_app(sys.argv[1] if len(sys.argv) > 1 else None))
