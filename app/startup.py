"""Start-up marks for `hueshot bench --startup` (app/core/benchmarks/bench_startup.py).

When $HUESHOT_STARTUP_MARK names a file, the app appends to it
    shown <unix time> torch=<0|1>     at the main window's first paint (torch=1: already imported)
    ready <unix time>                 when the worker has its compute device and method
and is otherwise unchanged. Without the variable nothing is installed.
"""
from __future__ import annotations

import os
import sys
import time


def _write(path: str, line: str) -> None:
    with open(path, "a") as f:
        f.write(line + "\n")


def mark_when_shown(win) -> None:
    path = os.environ.get("HUESHOT_STARTUP_MARK")
    if not path:
        return
    from PySide6.QtCore import QEvent, QObject

    class _FirstPaint(QObject):
        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Paint and obj is win:
                _write(path, f"shown {time.time():.6f} torch={int('torch' in sys.modules)}")
                win.removeEventFilter(self)
            return False

    win._startup_mark = _FirstPaint(win)          # parented: lives as long as the window
    win.installEventFilter(win._startup_mark)
    worker = win.workers.worker
    # Connect first, then look: a device chosen in between is still marked (the bench
    # takes the first "ready" line).
    worker.deviceReady.connect(lambda *_: _write(path, f"ready {time.time():.6f}"))
    if worker.method is not None:
        _write(path, f"ready {time.time():.6f}")
