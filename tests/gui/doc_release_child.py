"""Child of tests/gui/test_doc_release.py: a fresh editor process (torch not imported yet) opens
one file, then a second one, and prints, as JSON, whether the first Document is still alive after
a full collection. Mode "after": the second open comes once the worker has imported torch
(app.gui.worker.import_torch freezes what is alive then). Mode "during": it comes while the
worker is importing torch (the collector off meanwhile, the freeze at the import's end)."""
import gc
import json
import os
import sys
import time
import weakref


def main(mode: str, a: str, b: str, ini: str) -> None:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication, QMessageBox

    from app.gui import worker
    from app.gui.main_window import MainWindow
    app = QApplication([])
    win = MainWindow(proxy_height=96, settings=QSettings(ini, QSettings.Format.IniFormat))
    win.ask = lambda *x: QMessageBox.StandardButton.Discard
    win.show()

    def pump(cond, timeout=120.0, step=0.005):
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise TimeoutError("the editor did not get there")
            app.processEvents()
            time.sleep(step)
    win.open_path(a)
    if mode == "after":
        pump(lambda: win.luma is not None and "torch" in sys.modules and win.workers.worker.method is not None)
        seen = {"frozen_after_first": gc.get_freeze_count()}
    else:
        pump(lambda: win.luma is not None)
        pump(lambda: worker._torch_import.locked() or "torch" in sys.modules, step=0)
        seen = {"during_import": worker._torch_import.locked()}      # the import is under way now
    first = weakref.ref(win.doc)
    win.open_path(b)
    pump(lambda: win.doc is not None and win.doc is not first() and win.luma is not None
         and win.workers.worker.method is not None)
    gc.collect()
    print(json.dumps({**seen, "first_alive": first() is not None}), flush=True)
    win.close()
    app.processEvents()
    os._exit(0)


if __name__ == "__main__":
    main(*sys.argv[1:5])
