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
