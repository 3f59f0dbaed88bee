"""The GUI thread does no heavy work: no luma chunk read from disk (or decoded) on it, and an
export's progress reaches it at a bounded rate, not once per frame. Real windows, real
events; the disk reads are counted by wrapping the real LumaStore methods, which still run."""
from __future__ import annotations

import threading
import time

from PySide6.QtCore import Qt

from tests.gui.conftest import open_shot, paint, wait_done
from tests.gui.test_editor_ux import keys


def _record_luma_reads(monkeypatch):
    """Every chunk read from disk or decoded, with whether the GUI (main) thread did it."""
    from app.core.reels.lumastore import LumaStore
    calls = []
    load, fill = LumaStore._load, LumaStore.fill

    def _load(self, c):
        calls.append(("load", c, threading.current_thread() is threading.main_thread()))
        return load(self, c)

    def _fill(self, c):
        calls.append(("fill", c, threading.current_thread() is threading.main_thread()))
        return fill(self, c)
    monkeypatch.setattr(LumaStore, "_load", _load)
    monkeypatch.setattr(LumaStore, "fill", _fill)
    return calls


def test_reopen_and_seek_never_read_luma_on_the_gui_thread(qtbot, make_window, make_clip, monkeypatch):
    clip = make_clip(frames=70)                   # three luma chunks of 32 frames
    win = make_window()
    open_shot(qtbot, win, clip.video)
    qtbot.waitUntil(lambda: win.luma.complete, timeout=30000)     # every chunk on disk now
    win.close()

    calls = _record_luma_reads(monkeypatch)
    win2 = make_window()                          # a new store object: no chunk in memory
    open_shot(qtbot, win2, clip.video)
    shown = lambda i: (win2.frame_label.text().startswith(f"Frame {i} ")       # noqa: E731
                       and "reading" not in win2.frame_label.text() and win2.viewer.has_image())
    qtbot.waitUntil(lambda: shown(0), timeout=10000)
    keys(qtbot, win2, Qt.Key.Key_End)             # the last chunk
    qtbot.waitUntil(lambda: shown(69), timeout=10000)
    keys(qtbot, win2, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    keys(qtbot, win2, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    keys(qtbot, win2, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: shown(39), timeout=10000)   # the middle chunk
    win2.luma._chunks.clear()                    # as if evicted: playback reads them ahead
    keys(qtbot, win2, Qt.Key.Key_Home)
    keys(qtbot, win2, Qt.Key.Key_Space)           # plays across the three chunks
    qtbot.waitUntil(lambda: win2.current >= 66, timeout=20000)
    keys(qtbot, win2, Qt.Key.Key_K)
    qtbot.waitUntil(lambda: shown(win2.current), timeout=10000)
    paint(qtbot, win2, [(0.3, 0.5), (0.6, 0.5)])        # the editor still works on it
    wait_done(qtbot, win2)
    qtbot.waitUntil(lambda: win2.viewer.color_img is not None, timeout=10000)
    on_gui = [c for c in calls if c[2]]
    assert {c[1] for c in calls if c[0] == "load"} >= {0, 1, 2}, calls     # they were read, elsewhere
    assert not on_gui, f"luma chunks read on the GUI thread: {on_gui}"


def test_export_progress_reaches_the_gui_at_a_bounded_rate(qtbot, window, make_clip, tmp_path):
    clip = make_clip(frames=60)
    win = window
    open_shot(qtbot, win, clip.video)
    paint(qtbot, win, [(0.3, 0.5), (0.6, 0.5)])
    wait_done(qtbot, win)
    dlg = win.export_dialog()
    dlg.set_method(None)
    dlg.set_format("ffv1")
    dlg.path.setText(str(tmp_path / "out.mkv"))
    seen = []
    win.export_progress.valueChanged.connect(lambda v: seen.append(v))
    dlg.bar.valueChanged.connect(lambda v: seen.append(v))
    t0 = time.monotonic()
    qtbot.mouseClick(dlg.start_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.result is not None, timeout=60000)
    elapsed = time.monotonic() - t0
    assert dlg.result[0], dlg.result
    # two bars (the dialog's and the status bar's), each updated at most ~10 times a second plus
    # the last frame, instead of twice per frame (each QProgressBar.setValue repaints at once)
    assert len(seen) <= 2 * (elapsed / 0.1 + 3), (len(seen), elapsed)
    assert dlg.bar.value() == 60 and win.export_progress.isHidden()
    assert "Exported to" in win.status_msg.text()


def test_viewer_images_are_in_the_painters_own_format(qtbot, window, grey_clip):
    """The frame on screen is converted once when shown, not on every paint (an RGB888 frame
    scaled smoothly cost ~8 ms a paint at 854x480, RGB32 ~2 ms); its pixels are unchanged."""
    from PySide6.QtGui import QImage
    import numpy as np
    win = window
    open_shot(qtbot, win, grey_clip.video)
    paint(qtbot, win, [(0.3, 0.5), (0.6, 0.5)])
    wait_done(qtbot, win)
    qtbot.waitUntil(lambda: win.viewer.color_img is not None, timeout=10000)
    v = win.viewer
    assert v.color_img.format() == QImage.Format.Format_RGB32
    assert v.gray_img.format() == QImage.Format.Format_RGB32
    assert np.array_equal(v.current_rgb(), win.store.rgb(win.current))
    qtbot.waitUntil(lambda: bool(win._thumbs), timeout=10000)
    assert all(img.format() == QImage.Format.Format_RGB32 for _sig, img in win._thumbs.values())
