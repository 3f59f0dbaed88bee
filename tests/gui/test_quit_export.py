"""File > Quit (and closing the window) while File > Export runs asks first (found by a hostile
test: the export was dropped without a word). Cancel, the default, keeps the export running;
confirming cancels it as its own Cancel button does (no partial output left) and quits. Real
window, a real export of a real clip, a real message box answered with Enter."""
from __future__ import annotations

import re

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from tests.gui.conftest import open_shot, paint
from tests.gui.test_editor_ux import keys
from tests.gui.test_main_window import _slow_method, stroke_over_object

CTRL = Qt.KeyboardModifier.ControlModifier


def test_quit_during_an_export_asks_cancel_keeps_it_yes_cancels_it_cleanly(qtbot, window, make_clip, tmp_path):
    from PySide6.QtTest import QTest
    clip = make_clip(frames=48)
    win = window
    _slow_method(win, qtbot, delay=0.1)          # the real default propagator, 0.1 s a frame
    open_shot(qtbot, win, clip.video)
    paint(qtbot, win, stroke_over_object(clip.scene, 0))
    dlg = win.export_dialog()
    dlg.set_method(None)                           # as previewed: it writes frames as they arrive
    dlg.set_format("h264")
    out = tmp_path / "exporting.mp4"
    dlg.path.setText(str(out))
    written = []
    dlg.progressed.connect(lambda d, t: written.append(d))
    assert dlg.start()
    qtbot.waitUntil(lambda: bool(written) and written[-1] >= 2, timeout=30000)

    # File > Quit (Ctrl+Q) with the real question box: Enter takes its default, Cancel.
    win.activateWindow()                           # the export dialog came up in front
    qtbot.waitUntil(win.isActiveWindow, timeout=5000)
    del win.ask                                    # the window's own ask (a real QMessageBox)
    seen = {}

    def answer_with_enter():
        if seen.get("stop"):
            return
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, answer_with_enter)
            return
        if not box.text().startswith("An export is running"):
            seen["other"] = box.text()            # another question first: Escape, keep the window
            QTest.keyClick(box, Qt.Key.Key_Escape)
            return
        seen["text"] = box.text()
        seen["default"] = box.standardButton(box.defaultButton())
        QTest.keyClick(box, Qt.Key.Key_Return)
    QTimer.singleShot(0, answer_with_enter)
    try:
        keys(qtbot, win, Qt.Key.Key_Q, CTRL)
    finally:
        seen["stop"] = True
        win.ask = lambda *a: QMessageBox.StandardButton.Discard   # no real box at teardown
    assert re.match(r"An export is running \(\d+ %, exporting\.mp4\)\. Quit and cancel it\?",
                    seen.get("text", "")), seen
    assert "other" not in seen, seen               # asked about the export before anything else
    assert seen["default"] == QMessageBox.StandardButton.Cancel
    assert win.isVisible() and dlg.running()      # declined: nothing stopped, nothing closed
    n = len(written)
    qtbot.waitUntil(lambda: len(written) > n, timeout=30000)     # and it keeps writing

    # Closing the window, confirmed this time: the export is cancelled, no partial file is left.
    asked = []

    def answer(title, text, buttons, *default):
        asked.append(text)
        if text.startswith("An export is running"):
            return QMessageBox.StandardButton.Yes
        return QMessageBox.StandardButton.Discard   # the unsaved stroke
    win.ask = answer
    assert dlg.running()
    win.close()
    assert not win.isVisible()
    assert asked[0].startswith("An export is running") and "Save changes" in asked[1], asked
    assert not dlg.running()                                      # stopped before the window closed
    assert dlg.result[0] is False and "cancelled" in dlg.result[1], dlg.result
    assert not out.exists()                                       # partial output removed
    assert not list(tmp_path.glob("*exporting*"))                 # no temp leftovers either
