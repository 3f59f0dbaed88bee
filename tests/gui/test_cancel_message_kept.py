"""A cancelled job's message stays in the status bar once the work still under way at the
cancel has settled; a later job may replace it. The export's Cancel was replaced by
"Propagated…" from the run the export had asked for."""
from __future__ import annotations

from PySide6.QtCore import Qt

from tests.gui.conftest import open_shot, paint, wait_done
from tests.gui.test_main_window import _slow_method, stroke_over_object


def _settled(win) -> bool:
    return not win.propagating() and not win.progress.isVisible()


def test_export_cancel_message_stays_after_its_propagation_ends(qtbot, window, grey_clip, tmp_path):
    win = window
    _slow_method(win, qtbot, delay=0.08)
    open_shot(qtbot, win, grey_clip.video)
    paint(qtbot, win, stroke_over_object(grey_clip.scene, 0))
    qtbot.waitUntil(lambda: win._frames_this_run >= 2, timeout=10000)
    qtbot.keyClick(win, Qt.Key.Key_Escape)                  # frames left without colour
    qtbot.waitUntil(lambda: _settled(win), timeout=10000)
    assert win.status_msg.text().startswith("Propagation stopped after")
    # the export asks the window to propagate what is missing; cancelled while that runs
    dlg = win.export_dialog()
    dlg.set_method(None)
    dlg.set_format("ffv1")
    dlg.path.setText(str(tmp_path / "out.mkv"))
    qtbot.mouseClick(dlg.start_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.propagating() and dlg._written >= 1, timeout=20000)
    qtbot.mouseClick(dlg.cancel_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dlg.running(), timeout=20000)
    assert win.status_msg.text().startswith("Export cancelled")
    qtbot.waitUntil(lambda: _settled(win), timeout=20000)   # the export's run went on to its end
    qtbot.wait(200)
    assert win.status_msg.text().startswith("Export cancelled"), win.status_msg.text()
    dlg.close()
    # a new job replaces it
    paint(qtbot, win, stroke_over_object(grey_clip.scene, 0), color=(30, 200, 30))
    wait_done(qtbot, win)
    assert win.status_msg.text().startswith("Propagated"), win.status_msg.text()


def test_stop_message_stays_after_the_worker_settles(qtbot, window, grey_clip):
    win = window
    _slow_method(win, qtbot, delay=0.08)
    open_shot(qtbot, win, grey_clip.video)
    paint(qtbot, win, stroke_over_object(grey_clip.scene, 0))
    qtbot.waitUntil(lambda: win._frames_this_run >= 2, timeout=10000)
    win.act_stop.trigger()                                  # Frame > Stop Propagation
    qtbot.waitUntil(lambda: _settled(win), timeout=10000)
    qtbot.wait(500)
    assert win.status_msg.text().startswith("Propagation stopped after"), win.status_msg.text()
    # Propagate Again is a new job: its report replaces the message
    qtbot.keyClick(win, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    wait_done(qtbot, win)
    assert win.status_msg.text().startswith("Propagated"), win.status_msg.text()


def test_an_export_cancelled_with_no_run_going_hides_no_later_report(qtbot, window, grey_clip):
    """An export cancelled while no propagation runs (its frames were all there) left the
    marker on the last finished run's generation: the next run at that same generation (an
    export's complete_frames does not bump it) had its reports hidden behind the old cancel."""
    win = window
    open_shot(qtbot, win, grey_clip.video)
    paint(qtbot, win, stroke_over_object(grey_clip.scene, 0))
    wait_done(qtbot, win)
    assert not win.propagating()
    win._on_export_done(False, "Export cancelled; the partial output was removed.")   # the export's own report
    win.store.forget(5)                                      # a frame evicted: missing at this generation
    assert win.complete_frames([5])
    qtbot.waitUntil(lambda: _settled(win), timeout=20000)
    qtbot.wait(200)
    assert not win.status_msg.text().startswith("Export cancelled"), win.status_msg.text()
