"""`hueshot FILE`: the shot's first frame comes before the worker imports torch (the import
holds the GIL for seconds and slowed the open of a 1-hour 1080p file from 0.7 to 2.9 s);
the method is built right after, and the editor colours the shot as usual. Without a file
the method is built at once."""
from __future__ import annotations

from tests.gui.conftest import paint, wait_done


def test_file_given_at_start_up_opens_before_the_method_is_built(qtbot, settings, grey_clip):
    from app.gui.main import start_window
    from PySide6.QtWidgets import QMessageBox
    win = start_window(str(grey_clip.video), settings=settings, proxy_height=96)
    win.ask = lambda *a: QMessageBox.StandardButton.Discard
    qtbot.addWidget(win)
    order = []           # the event loop has not run yet: nothing was asked of the worker
    win.shotOpened.connect(lambda: order.append((win.viewer.has_image(), win._device_asked)))
    try:
        qtbot.waitUntil(lambda: bool(order), timeout=20000)
        assert order[0] == (True, False), "the method was asked for before the first frame was shown"
        qtbot.waitUntil(lambda: win.workers.worker.method is not None, timeout=60000)
        paint(qtbot, win, [(0.3, 0.5), (0.5, 0.5)])      # the editor works as usual afterwards
        wait_done(qtbot, win)
        rgb = win.viewer.current_rgb()
        assert (rgb.max(-1).astype(int) - rgb.min(-1).astype(int)).max() > 30
    finally:
        win.close()
        win.workers.stop()


def test_no_file_builds_the_method_at_once(qtbot, settings):
    from app.gui.main import start_window
    win = start_window(None, settings=settings, proxy_height=96)
    qtbot.addWidget(win)
    try:
        qtbot.waitUntil(lambda: win.workers.worker.method is not None, timeout=2500)  # < DEVICE_DEFER_MS
    finally:
        win.close()
        win.workers.stop()
