"""Colour Automatically and the suggested colours, in a real MainWindow with the shipped prior."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from models.color import rgb_to_ab
from tests.gui.conftest import open_shot


def test_colour_automatically_sets_an_undoable_keyframe(qtbot, window, grey_clip):
    open_shot(qtbot, window, grey_clip.video)
    assert window.doc.key_image(0) is None
    window.findChild(type(window.prior_tools.action), "act_auto_colour").trigger()
    qtbot.waitUntil(lambda: window.doc.key_image(0) is not None, timeout=20000)
    rgb = window.doc.key_image(0)
    assert rgb.shape[:2] == (window.info.height, window.info.width)
    assert float(np.abs(rgb_to_ab(rgb)).max()) > 2.0           # it carries colour, not grey
    assert 0 in window.doc.key_frames()
    window.undo.undo()
    assert window.doc.key_image(0) is None


def test_suggestions_follow_the_cursor_and_one_click_uses_one(qtbot, window, grey_clip):
    open_shot(qtbot, window, grey_clip.video)
    v, strip = window.viewer, window.prior_tools.strip
    qtbot.mouseMove(v, v.from_norm(0.3, 0.4).toPoint())
    qtbot.waitUntil(lambda: window.prior_tools._probs is not None, timeout=20000)
    qtbot.mouseMove(v, v.from_norm(0.6, 0.5).toPoint())
    qtbot.waitUntil(lambda: all(b.isEnabled() for b in strip.buttons), timeout=5000)
    assert len({c for c in strip.colors}) >= 5
    pick = strip.colors[2]
    qtbot.mouseClick(strip.buttons[2], Qt.MouseButton.LeftButton)
    assert window.tools.color == pick


def test_colour_automatically_names_the_frame_as_the_editor_numbers_it(qtbot, window, grey_clip):
    """Frames count from 0 everywhere (app.gui.numbering): the undo text and the status say the
    frame the label shows, not that number plus one."""
    from PySide6.QtCore import Qt
    open_shot(qtbot, window, grey_clip.video)
    window.viewer.setFocus()
    for _ in range(3):
        qtbot.keyClick(window.viewer, Qt.Key.Key_Right)
    assert window.current == 3 and window.frame_label.text().startswith("Frame 3 ")
    qtbot.keyClick(window.viewer, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: window.doc.key_image(3) is not None, timeout=20000)
    assert window.undo.undoText() == "Colour frame 3 automatically"
    assert window.act_undo.text() == "&Undo Colour frame 3 automatically"


def test_quitting_does_not_wait_for_a_running_suggestions_job(qtbot):
    """shutdown() returns while the prior's network pass still runs (it used to wait for it:
    ~2.3 s of a 'slow quit'); that job then sends nothing."""
    from app.gui.panels.prior_tools import PriorService
    svc = PriorService()
    got = []
    svc.distReady.connect(lambda *a: got.append(a))
    svc.failed.connect(lambda m: got.append(m))
    frames = np.random.default_rng(1).random((1, 480, 854)).astype(np.float32) * 100   # one 854x480 frame
    svc._prior()                      # weights loaded first: the job is the network pass itself
    svc.request_distribution(("k",), frames, 0, [])
    qtbot.waitUntil(lambda: svc.busy, timeout=10000)
    svc.shutdown()
    assert svc.busy, "shutdown() waited for the running job"
    qtbot.waitUntil(lambda: not svc.busy, timeout=30000)
    qtbot.wait(50)                    # anything it sent would be delivered by now
    assert got == []


def test_closing_the_window_during_a_suggestions_job_is_clean(qtbot, window, grey_clip):
    open_shot(qtbot, window, grey_clip.video)
    v, svc = window.viewer, window.prior_tools.service
    qtbot.mouseMove(v, v.from_norm(0.3, 0.4).toPoint())
    qtbot.waitUntil(lambda: svc.busy or window.prior_tools._probs is not None, timeout=20000)
    window.close()
    assert not window.isVisible() and svc.closed
    qtbot.waitUntil(lambda: not svc.busy, timeout=30000)


def test_suggestions_are_of_the_video_now_open_not_the_last_one(qtbot, window, make_clip, tmp_path):
    """The cached distribution was keyed by (frame, strokes) only: after opening another video,
    frame 0 without strokes had the same key, so the swatches under the cursor were the last
    video's colours, computed from its luma, and were never asked again."""
    from tests.conftest import encode_clip
    a = make_clip("a.mp4")
    b = encode_clip(tmp_path / "b.mp4", [np.full((96, 160, 3), 230, np.uint8)] * 8)
    open_shot(qtbot, window, a.video)
    v, pt, strip = window.viewer, window.prior_tools, window.prior_tools.strip
    qtbot.mouseMove(v, v.from_norm(0.3, 0.4).toPoint())
    qtbot.waitUntil(lambda: pt._probs is not None, timeout=20000)
    qtbot.mouseMove(v, v.from_norm(0.6, 0.5).toPoint())
    qtbot.waitUntil(lambda: all(btn.isEnabled() for btn in strip.buttons), timeout=5000)
    open_shot(qtbot, window, b)
    assert not any(btn.isEnabled() for btn in strip.buttons), "the last video's swatches are still offered"
    L_b = np.asarray(window.luma[0], np.float32)
    qtbot.mouseMove(v, v.from_norm(0.5, 0.5).toPoint())
    qtbot.waitUntil(lambda: pt._L is not None and pt._L.shape == L_b.shape
                    and float(np.abs(pt._L - L_b).max()) < 1e-3, timeout=20000)
    qtbot.mouseMove(v, v.from_norm(0.4, 0.6).toPoint())
    qtbot.waitUntil(lambda: all(btn.isEnabled() for btn in strip.buttons), timeout=5000)


def test_colour_automatically_on_two_frames_in_a_row_colours_both(qtbot, window, grey_clip):
    """Ctrl+Shift+A on frame 0 and, before its result was in, on frame 5: the first result was
    dropped as stale (one token for every request), so frame 0 was never coloured though the
    status had said 'Colouring frame 0 automatically'."""
    open_shot(qtbot, window, grey_clip.video)
    window.viewer.setFocus()
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window.viewer, Qt.Key.Key_A, ctrl_shift)
    window.seek(5)
    assert window.current == 5
    qtbot.keyClick(window.viewer, Qt.Key.Key_A, ctrl_shift)
    qtbot.waitUntil(lambda: window.doc.key_image(0) is not None and window.doc.key_image(5) is not None,
                    timeout=20000)
    assert window.doc.key_frames() == {0, 5}
    assert window.undo.count() == 2


def test_colour_automatically_twice_on_one_frame_is_one_step(qtbot, window, grey_clip):
    open_shot(qtbot, window, grey_clip.video)
    window.viewer.setFocus()
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window.viewer, Qt.Key.Key_A, ctrl_shift)
    qtbot.keyClick(window.viewer, Qt.Key.Key_A, ctrl_shift)
    qtbot.waitUntil(lambda: window.doc.key_image(0) is not None, timeout=20000)
    qtbot.waitUntil(lambda: not window.prior_tools.service.busy, timeout=20000)
    qtbot.wait(100)
    assert window.undo.count() == 1
