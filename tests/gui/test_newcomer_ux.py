"""A newcomer's first session in the real window (opened, coloured, exported), the rough edges
it showed: what a control's look and text tell someone who has never used the editor."""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication


def _rgb(img: QImage) -> np.ndarray:
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    a = np.frombuffer(img.constBits(), np.uint8, img.sizeInBytes())
    return a.reshape(img.height(), img.bytesPerLine())[:, :img.width() * 3].reshape(img.height(), img.width(), 3)


def _menu(win, title):
    for a in win.menuBar().actions():
        if a.menu() is not None and a.text().replace("&", "") == title:
            return a.menu()
    raise AssertionError(title)


def test_a_disabled_menu_entry_looks_disabled(qtbot, window):
    """With the app's own style sheet (resources/style.qss, as `hueshot` starts), File > Save and
    Export (off until a shot is open) and Edit > Redo (nothing to redo) were drawn in the same
    light grey as the entries that work: the sheet's `QWidget { color }` covered the disabled
    text too, so a newcomer clicked them and nothing happened."""
    from app.gui.main import _style
    app = QApplication.instance()
    old = app.styleSheet()
    app.setStyleSheet(_style())
    try:
        menu = _menu(window, "File")
        acts = {a.text().replace("&", ""): a for a in menu.actions()}
        assert acts["Open…"].isEnabled() and not acts["Save"].isEnabled() and not acts["Export…"].isEnabled()
        menu.ensurePolished()
        menu.resize(menu.sizeHint())       # laid out as popped up (a popup warns offscreen)
        img = _rgb(menu.grab().toImage())

        def text_level(a):       # the brightest pixels of the entry's row: its text
            r = menu.actionGeometry(a)
            row = img[r.top():r.bottom(), r.left():r.right()].max(axis=2).ravel()
            return float(np.sort(row)[-20:].mean())
        on, save, export = text_level(acts["Open…"]), text_level(acts["Save"]), text_level(acts["Export…"])
        assert save < on - 60 and export < on - 60, (on, save, export)
    finally:
        app.setStyleSheet(old)


def test_a_long_status_message_says_it_is_cut_and_shows_whole_on_hover(qtbot, window, grey_clip):
    """After an open the status line is the file's description and the next step ('...paint
    colour hints on this frame...'); in a window narrower than that it was cut mid-word
    ('colour then spreads throug') with no way to read the rest. It now ends in '…' and its
    tooltip is the whole message."""
    from tests.gui.conftest import open_shot
    win = window
    open_shot(qtbot, win, grey_clip.video)
    msg = win.status_msg.text()
    assert "Paint colour hints" in msg
    win.status_msg.setText(msg + " " + msg)              # wider than the 900-pixel window
    qtbot.wait(50)
    label = win.status_msg
    assert label.fontMetrics().horizontalAdvance(label.text()) > label.width()
    assert label.toolTip() == label.text() == msg + " " + msg
    shown = label.displayed()
    assert shown.endswith("…") and msg.startswith(shown[:-1].rstrip())

