"""A stroke lands on the frame the viewer shows when it is painted (found by a hostile test).

After a seek to a frame whose luma is not in memory, the display loader reads it on its own
thread (a disk read, or a decode while the background scan has not stored it) and the viewer
keeps the previous frame until it is in. A stroke painted in that moment was stored on the
newly asked frame, which the user had not seen yet. Real window, real mouse events, a real
clip long enough that its first chunks leave the in-memory LRU once the scan is done."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt

from app.gui.qimage import qimage_to_rgb
from tests.gui.conftest import open_shot, seek_shown

FRAMES = 320          # 10 luma chunks of 32: the LRU holds 6, the rest are read from disk


class _PressWatch(QObject):
    """What the viewer holds at the moment the mouse button goes down (a real event filter)."""

    def __init__(self, viewer):
        super().__init__()
        self.viewer = viewer
        self.grey_at_press = None
        viewer.installEventFilter(self)

    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.MouseButtonPress:
            self.grey_at_press = qimage_to_rgb(self.viewer.gray_img)
        return False


def _settle(qtbot, win):
    """The scan done and the frame on screen shown (its luma read), as a user waits for."""
    qtbot.waitUntil(lambda: getattr(win.luma, "complete", True), timeout=60000)
    qtbot.waitUntil(lambda: "reading it" not in win.frame_label.text(), timeout=10000)


def _not_in_memory(win, avoid):
    """A frame whose luma chunk is on disk, not in memory: shown only once the loader read it."""
    from app.core.reels.lumastore import CHUNK
    for i in range(CHUNK // 2, win.frame_count(), CHUNK):
        if not win.luma.in_memory(i) and abs(i - avoid) > CHUNK:
            return i
    raise AssertionError("every chunk is in memory: the clip is too short for this test")


def _viewer_grey(win):
    return qimage_to_rgb(win.viewer.gray_img)


def test_stroke_lands_on_the_frame_shown_not_the_one_still_loading(qtbot, window, make_clip):
    from PySide6.QtTest import QTest
    clip = make_clip(frames=FRAMES)
    win = window
    open_shot(qtbot, win, clip.video)
    _settle(qtbot, win)
    shown = win.current
    grey_shown = _viewer_grey(win)
    watch = _PressWatch(win.viewer)

    # 1. Seek, then paint at once: the new frame is still being read.
    far = _not_in_memory(win, shown)
    win.seek(far)
    assert "reading it" in win.frame_label.text()          # the viewer still shows `shown`
    v = win.viewer
    win.tools.set_tool("brush")
    win.tools.set_color((220, 30, 30))
    a, b = v.from_norm(0.3, 0.5).toPoint(), v.from_norm(0.6, 0.5).toPoint()
    QTest.mousePress(v, Qt.MouseButton.LeftButton, pos=a)
    QTest.mouseMove(v, b)
    QTest.mouseRelease(v, Qt.MouseButton.LeftButton, pos=b)
    assert watch.grey_at_press is not None
    strokes = win.doc.p.strokes
    assert len(strokes) == 1
    # what the user saw when painting is what the stroke is on
    assert np.array_equal(watch.grey_at_press, grey_shown), "the viewer had changed frame at the press"
    assert strokes[0].frame == shown, f"stroke stored on frame {strokes[0].frame}, the viewer showed {shown}"
    assert win.undo.undoText() == f"Brush stroke on frame {shown}"
    # the frame asked for comes on screen, without the stroke of the other frame
    qtbot.waitUntil(lambda: "reading it" not in win.frame_label.text(), timeout=10000)
    assert win.current == far and not v.strokes
    assert not np.array_equal(_viewer_grey(win), grey_shown)

    seek_shown(qtbot, win, shown)
    assert len(v.strokes) == 1                               # the stroke is where it was painted


def test_frame_read_during_a_stroke_waits_for_its_release(qtbot, window, make_clip):
    """The frame asked for arrives while a stroke is being drawn: the viewer keeps the frame
    the stroke began on until the button is released (the frame does not change under the
    brush), the stroke goes there, then the asked frame comes on screen."""
    from PySide6.QtTest import QTest
    clip = make_clip(frames=FRAMES)
    win = window
    open_shot(qtbot, win, clip.video)
    _settle(qtbot, win)
    shown = win.current
    grey_shown = _viewer_grey(win)
    v = win.viewer
    win.tools.set_tool("brush")
    win.tools.set_color((220, 30, 30))
    a, b = v.from_norm(0.3, 0.5).toPoint(), v.from_norm(0.6, 0.5).toPoint()
    far = _not_in_memory(win, shown)
    win.seek(far)
    assert "reading it" in win.frame_label.text()
    QTest.mousePress(v, Qt.MouseButton.LeftButton, pos=a)
    # the loader has read it and the window has handed it to the viewer
    qtbot.waitUntil(lambda: win.luma.in_memory(far) and win._shown == far, timeout=10000)
    QTest.mouseMove(v, b)
    assert np.array_equal(_viewer_grey(win), grey_shown), "the frame changed under the brush"
    QTest.mouseRelease(v, Qt.MouseButton.LeftButton, pos=b)
    strokes = win.doc.p.strokes
    assert [s.frame for s in strokes] == [shown]
    qtbot.waitUntil(lambda: not np.array_equal(_viewer_grey(win), grey_shown), timeout=5000)
    assert win.current == far and not v.strokes              # then the asked frame, its own strokes
    seek_shown(qtbot, win, shown)
    assert len(v.strokes) == 1
