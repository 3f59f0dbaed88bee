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
