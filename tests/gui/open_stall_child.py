"""Child process of tests/gui/test_open_stall.py: `hueshot REEL` as app.gui.main.start_window
starts it, in a fresh process (offscreen, nothing imported yet), until the shot is open, its
worker has the method and the colour prior has run once; prints one JSON line saying which
thread loaded what, and in what state, during the open and the seconds after.

    python -m tests.gui.open_stall_child REEL SETTINGS.ini
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

WATCHED = ("av", "torch", "torch._C", "models.prior.net", "scenedetect.detectors")
_loads: list[dict] = []          # every first import of a watched module
_phase = ["start"]


def _torch_native_mapped() -> bool:
    """torch's native library (libtorch_cpu) is in this process's memory already."""
    try:
        with open("/proc/self/maps") as f:
            return "libtorch_cpu" in f.read()
    except OSError:
        return False


def _audit(event: str, args) -> None:
    if event == "import" and args[0] in WATCHED:
        _loads.append({"module": args[0], "phase": _phase[0],
                       "gui_thread": threading.current_thread() is threading.main_thread(),
                       "native_mapped": _torch_native_mapped() if args[0] == "torch._C" else None})


def main(reel: str, ini: str) -> int:
    sys.addaudithook(_audit)
    import gc

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication, QMessageBox
    app = QApplication(sys.argv[:1])
    from app.gui import main_window
    from app.gui.main import start_window
    # the device is asked after DEVICE_DEFER_MS even if the scan has not started (a slow open's
    # safety net); a host loaded enough to delay the scan's first imports past it would make
    # the order checked here a race with that timer: the order is this test's subject
    main_window.DEVICE_DEFER_MS = 60_000
    settings = QSettings(ini, QSettings.Format.IniFormat)
    win = start_window(reel, settings=settings, proxy_height=96)   # opens REEL once the loop runs
    win.ask = lambda *a: QMessageBox.StandardButton.Discard
    _phase[0] = "open"               # the window is up: from here on the GUI thread must stay free
    prior = win.prior_tools.service
    t0 = time.monotonic()

    def settled() -> bool:
        return (win.luma is not None and win.viewer.has_image() and win.workers.worker.method is not None
                and any(x["module"] == "models.prior.net" for x in _loads) and not prior.busy)
    while not settled() and time.monotonic() - t0 < 120:
        app.processEvents()
        time.sleep(0.005)
    ok = settled()
    print(json.dumps({"settled": ok, "seconds": time.monotonic() - t0, "loads": _loads,
                      "gc_frozen": gc.get_freeze_count()}), flush=True)
    win.close()
    win.workers.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
