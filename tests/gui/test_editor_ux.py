"""The editor's rough edges, walked through real widgets and real key and mouse events:
redo keys and the shortcut list, opening a folder of frames, failed opens, Esc, the export's
overwrite prompt and memory, one frame-numbering convention, the colour picker's lightness,
guidance without and with a shot, and the view state kept in the project."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox

from tests.conftest import write_png
from tests.gui.conftest import open_shot, paint, seek_shown, wait_done
from tests.gui.test_main_window import _slow_method, stroke_over_object

CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier


def keys(qtbot, win, key, mod=Qt.KeyboardModifier.NoModifier):
    win.activateWindow()
    win.viewer.setFocus()
    qtbot.keyClick(win.viewer, key, mod)


def all_shortcuts(win):
    """(key text, action text) of every enabled-or-not action in the window with a shortcut."""
    out = []
    for a in win.findChildren(QAction):
        for k in a.shortcuts():
            out.append((k.toString(), a.text().replace("&", "")))
    return out


def test_redo_keys_and_the_shortcut_list(qtbot, window, grey_clip):
    win = window
    open_shot(qtbot, win, grey_clip.video)
    paint(qtbot, win, stroke_over_object(grey_clip.scene, 0))
    assert win.undo.index() == 1
    keys(qtbot, win, Qt.Key.Key_Z, CTRL)
    assert win.undo.index() == 0
    keys(qtbot, win, Qt.Key.Key_Z, CTRL | SHIFT)             # Redo, pressed as keys
    assert win.undo.index() == 1
    keys(qtbot, win, Qt.Key.Key_Z, CTRL)
    keys(qtbot, win, Qt.Key.Key_Y, CTRL)                     # the other Redo key
    assert win.undo.index() == 1
    # (an "Ambiguous shortcut overload" warning would fail this test: tests/gui/conftest.py)

    seen = {}
    for k, text in all_shortcuts(win):
        assert k not in seen, f"{k} is both {seen[k]!r} and {text!r}"
        seen[k] = text

    keys(qtbot, win, Qt.Key.Key_F1)
    dlg = win._shortcuts
    qtbot.waitUntil(dlg.isVisible, timeout=2000)
    listed = {(r[1], r[2]) for r in dlg.rows}
    listed_keys = ", ".join(r[2] for r in dlg.rows)
    for k, text in all_shortcuts(win):
        native = QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText)
        assert native in listed_keys, f"{text} ({native}) is not in the shortcut list"
    assert ("Redo", "Ctrl+Shift+Z, Ctrl+Y") in {(r[1], r[2]) for r in dlg.rows}, listed
    qtbot.keyClicks(dlg.filter, "redo")
    assert [r[1] for r in dlg.visible_rows()] == ["Redo"]
    dlg.close()


def test_no_qt_warning_at_start_up(qtbot, make_window, grey_clip):
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication
    from app.gui.qtlog import platform_note
    got = []
    platform = QApplication.instance().platformName()

    def handler(kind, _ctx, msg):
        # the offscreen plugin's own note only, on that plugin (xcb: tests/gui/test_qt_messages.py)
        if kind != QtMsgType.QtDebugMsg and not platform_note(msg, platform):
            got.append(msg)
    old = qInstallMessageHandler(handler)
    try:
        win = make_window()
        open_shot(qtbot, win, grey_clip.video)
        qtbot.wait(100)
        win.close()
    finally:
        qInstallMessageHandler(old)
    assert got == []


def frame_folder(tmp_path, scene, n=12):
    d = tmp_path / "frames"
    d.mkdir()
    for i in range(n):
        write_png(d / f"{i:05d}.png", scene.gray(i))
    return d


def test_open_folder_of_frames(qtbot, window, scene, tmp_path, monkeypatch):
    win = window
    d = frame_folder(tmp_path, scene)
    # File > Open Folder of Frames (Ctrl+Shift+O): the dialog's answer goes through the same path
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(d)))
    with qtbot.waitSignal(win.shotOpened, timeout=20000):
        keys(qtbot, win, Qt.Key.Key_O, CTRL | SHIFT)
    assert win.frame_count() == 12 and "frames" in win.windowTitle()
    title = win.windowTitle()

    # A PNG picked in the Open dialog (its filter shows images now): declining the offer
    # keeps the open shot and the title, and says why in one status line.
    asked = []
    win.ask = lambda t, text, b: asked.append(text) or QMessageBox.StandardButton.Cancel
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(d / "00003.png"), "")))
    keys(qtbot, win, Qt.Key.Key_O, CTRL)
    assert asked and "one frame of 12" in asked[0]
    assert win.windowTitle() == title and win.frame_count() == 12
    msg = win.status_msg.text()
    assert msg.startswith("Cannot open 00003.png: it is a single image") and "Open Folder" in msg
    win._last_box.close()
    # accepting opens the folder
    win.ask = lambda *a: QMessageBox.StandardButton.Open
    with qtbot.waitSignal(win.shotOpened, timeout=20000):
        keys(qtbot, win, Qt.Key.Key_O, CTRL)
    assert win.frame_count() == 12 and Path(win.doc.media_path) == d


def test_failed_open_keeps_the_shot_and_says_why(qtbot, window, grey_clip, tmp_path):
    win = window
    open_shot(qtbot, win, grey_clip.video)
    title = win.windowTitle()
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\0not a video" * 100)
    with qtbot.waitSignal(win.shotOpened, timeout=20000):    # the previous shot comes back
        assert win.open_path(str(bad))
    assert win.windowTitle() == title
    assert win.frame_count() == grey_clip.frames
    msg = win.status_msg.text()
    assert msg.startswith("Cannot open broken.mp4: ") and len(msg) > len("Cannot open broken.mp4: ") + 5, msg
    assert str(bad) not in win.recent_files()
    win._last_box.close()
    # a missing file: the same, without asking the worker
    assert not win.open_path(str(tmp_path / "nope.mp4"))
    assert win.status_msg.text() == "Cannot open nope.mp4: no such file or folder"
    assert win.windowTitle() == title


def test_esc_stops_and_the_status_says_so(qtbot, window, grey_clip):
    win = window
    _slow_method(win, qtbot, delay=0.08)
    open_shot(qtbot, win, grey_clip.video)
    paint(qtbot, win, stroke_over_object(grey_clip.scene, 0))
    qtbot.waitUntil(lambda: win._frames_this_run >= 2, timeout=10000)
    assert "Propagating" in win.status_msg.text() and win.progress.isVisible()
    keys(qtbot, win, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not win.progress.isVisible(), timeout=5000)
    msg = win.status_msg.text()
    assert msg.startswith("Propagation stopped after") and f"of {grey_clip.frames}" in msg, msg
    qtbot.wait(300)
    assert "Propagating" not in win.status_msg.text()
    done = win._frames_this_run
    # Ctrl+R continues: only the frames still missing are computed
    keys(qtbot, win, Qt.Key.Key_R, CTRL)
    wait_done(qtbot, win)
    assert win._frames_this_run == grey_clip.frames - done


def test_export_asks_before_overwriting_and_remembers(qtbot, window, grey_clip, tmp_path):
    from models.registry import QUALITY_METHOD
    win = window
    open_shot(qtbot, win, grey_clip.video)
    paint(qtbot, win, stroke_over_object(grey_clip.scene, 0))
    wait_done(qtbot, win)
    win.seek(4)
    keys(qtbot, win, Qt.Key.Key_I)
    win.seek(15)
    keys(qtbot, win, Qt.Key.Key_O)
    keys(qtbot, win, Qt.Key.Key_E, CTRL)
    dlg = win._export_dlg
    assert dlg.range.currentIndex() == 1 and dlg.frame_range() == (4, 16)   # the marks by default
    assert "frames 4–15" in dlg.range.currentText() and "12 frames" in dlg.range.currentText()
    assert dlg.method.currentData() == QUALITY_METHOD
    dlg.set_method(None)
    dlg.set_format("ffv1")
    out = tmp_path / "out.mkv"
    out.write_bytes(b"keep me")
    dlg.path.setText(str(out))
    asked = []
    win.ask = lambda t, text, b: asked.append(text) or QMessageBox.StandardButton.No
    qtbot.mouseClick(dlg.start_btn, Qt.MouseButton.LeftButton)
    assert asked and "out.mkv already exists" in asked[0]
    assert out.read_bytes() == b"keep me" and not dlg.running()
    win.ask = lambda *a: QMessageBox.StandardButton.Yes
    stages = []
    dlg.stageChanged.connect(stages.append)
    with qtbot.waitSignal(dlg.finished_export, timeout=60000) as sig:
        qtbot.mouseClick(dlg.start_btn, Qt.MouseButton.LeftButton)
        assert win.export_progress.isVisible() and win.status_msg.text().startswith("Export: ")
    assert sig.args[0], sig.args
    assert stages and not any("Starting" in t for t in stages) and "0%" not in " ".join(stages)
    assert any(t.startswith("Writing frame") for t in stages), stages
    assert not win.export_progress.isVisible() and win.status_msg.text().startswith("Exported to")
    assert out.stat().st_size > 1000
    import av
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 12
    dlg.close()
    dlg2 = win.export_dialog()                              # remembers the last choice
    assert dlg2.method.currentData() is None and dlg2.path.text().endswith(".mkv")
    dlg2.close()


def test_one_frame_numbering_with_timecode(qtbot, window, make_clip):
    clip = make_clip(frames=40)
    win = window
    open_shot(qtbot, win, clip.video)
    seek_shown(qtbot, win, 37)
    assert win.frame_label.text().startswith("Frame 37 of 0–39 · 00:00:01:13")
    paint(qtbot, win, stroke_over_object(clip.scene, 37))
    assert win.undo.undoText() == "Brush stroke on frame 37"
    assert win.act_undo.text().endswith("Brush stroke on frame 37")
    win.seek(0)
    assert win.frame_label.text().startswith("Frame 0 of 0–39 · 00:00:00:00")
    assert 37 in win.timeline.keyframes                     # the ruler and the project count from 0 too
    win.undo.undo()


def test_picker_shows_the_painted_lightness_and_neutral_is_visible(qtbot, window, grey_clip):
    from app.gui.tools import rgb_to_lab
    win = window
    open_shot(qtbot, win, grey_clip.video)
    v, g = win.viewer, win.panel.gamut
    L = win.luma[0]
    y, x = np.unravel_index(np.argmin(L), L.shape)
    pos = v.from_norm((x + 0.5) / L.shape[1], (y + 0.5) / L.shape[0]).toPoint()
    qtbot.mouseMove(v, pos)                                  # hover the darkest pixel
    qtbot.waitUntil(lambda: g.lightness < 30, timeout=2000)
    hover_L = g.lightness
    assert abs(rgb_to_lab(win.panel.swatch.shown)[0] - hover_L) < 3      # swatch: the same L as the square
    centre = g._square().center().toPoint()
    qtbot.mouseClick(g, Qt.MouseButton.LeftButton, pos=centre)           # "neutral"
    c = win.tools.color
    Lc, a, b = rgb_to_lab(c)
    assert abs(a) < 2 and abs(b) < 2 and Lc > 50, c                     # not #090909
    assert abs(rgb_to_lab(win.panel.swatch.shown)[0] - hover_L) < 3
    assert f"L {hover_L:.0f}" in win.panel.color_label.text()

    # A neutral hint is drawn visibly over the frame (a mid grey, outlined), even where it is dark.
    paint(qtbot, win, [((x + 0.5) / L.shape[1], 0.5), ((x + 0.5) / L.shape[1] + 0.2, 0.5)], color=(9, 9, 9),
          radius=0.05)
    qtbot.wait(60)
    with_hints = v.grab().toImage()
    keys(qtbot, win, Qt.Key.Key_H)
    qtbot.wait(60)
    without = v.grab().toImage()
    p = v.from_norm((x + 0.5) / L.shape[1] + 0.1, 0.5).toPoint()
    assert with_hints.pixelColor(p).lightness() > without.pixelColor(p).lightness() + 15
    assert win.viewer.overlay_color((9, 9, 9), 255).lightness() > 100


def test_guidance_without_and_with_a_shot(qtbot, window, grey_clip, tmp_path):
    win = window
    export = next(a for a in win.findChildren(QAction) if a.text() == "&Export…")
    assert not export.isEnabled() and not win.play_btn.isEnabled()
    keys(qtbot, win, Qt.Key.Key_E, CTRL)
    keys(qtbot, win, Qt.Key.Key_Space)
    assert not hasattr(win, "_last_box") and not hasattr(win, "_export_dlg")   # no modal complaint
    assert export.toolTip().startswith("Write the coloured shot") and "Ctrl+E" in export.toolTip()
    assert all(b.toolTip() for b in win.panel.buttons.values())
    assert "Open Folder" in win.viewer.message if win.viewer.message else True
    open_shot(qtbot, win, grey_clip.video)
    assert export.isEnabled() and win.play_btn.isEnabled()
    assert "Paint colour hints" in win.status_msg.text()
    assert win.viewer.guide and "brush" in win.viewer.guide.lower()
    assert win.zoom_label.text().startswith("Zoom ") and win.zoom_label.text().endswith("%")
    assert "stale" in win.findChild(type(win.frame_label), "timelineLegend").text()
    assert Path(win.recent_files()[0]).is_absolute()
    assert str(Path(grey_clip.video).parent) in win.recent_menu.actions()[0].text()

    # Space plays the in-out range, looping inside it.
    win.seek(5)
    keys(qtbot, win, Qt.Key.Key_I)
    win.seek(9)
    keys(qtbot, win, Qt.Key.Key_O)
    shown = []
    win.frameShown.connect(shown.append)
    keys(qtbot, win, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: shown.count(5) >= 2, timeout=5000)
    keys(qtbot, win, Qt.Key.Key_Space)
    assert shown and all(5 <= i <= 9 for i in shown), shown

    # The view, the playhead, the tools and the recent colours come back with the project.
    paint(qtbot, win, stroke_over_object(grey_clip.scene, 0), color=(220, 30, 30))
    paint(qtbot, win, stroke_over_object(grey_clip.scene, 0), color=(30, 200, 40), radius=0.05)
    win.seek(7)
    keys(qtbot, win, Qt.Key.Key_2)                          # grey source view
    assert win.viewer.view == "gray"
    proj = tmp_path / "p.hueshot"
    assert win._save_to(str(proj))
    colours = list(win.panel.palette.colors)
    win.close()
    from app.gui.main_window import MainWindow
    win2 = MainWindow(proxy_height=96, settings=win.settings)
    win2.ask = lambda *a: QMessageBox.StandardButton.Discard
    qtbot.addWidget(win2)
    win2.show()
    try:
        open_shot(qtbot, win2, proj)
        assert win2.current == 7 and win2.viewer.view == "gray" and win2.act_view_gray.isChecked()
        assert win2.panel.palette.colors == colours and win2.tools.color == (30, 200, 40)
        assert abs(win2.tools.radius - 0.05) < 1e-6
    finally:
        win2.close()
        win2.workers.stop()
