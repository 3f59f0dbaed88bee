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


def test_the_empty_suggested_colours_say_what_fills_them(qtbot, window, grey_clip):
    """Under 'Suggested colours (under the cursor)' a newcomer saw nine empty, disabled squares
    and no word on why (no tooltip): they fill only once the cursor moves over the frame after
    the prior has read it. An empty swatch now says so, also after a new shot empties them."""
    from tests.gui.conftest import open_shot
    win = window
    strip = win.prior_tools.strip

    def empty_ones_explained():
        for b, c in zip(strip.buttons, strip.colors):
            if c is None:
                assert not b.isEnabled()
                assert "move the cursor over the frame" in b.toolTip(), b.toolTip()
    empty_ones_explained()
    open_shot(qtbot, win, grey_clip.video)
    strip.set_colors([((200, 40, 40), 0.5), ((40, 200, 40), 0.25)])
    assert strip.buttons[0].isEnabled() and "50 %" in strip.buttons[0].toolTip()
    empty_ones_explained()
    win.prior_tools._forget()                    # what a newly opened shot does
    assert all(c is None for c in strip.colors)
    empty_ones_explained()


def test_recent_colours_sit_side_by_side(qtbot, window, grey_clip):
    """After two strokes the Tools dock showed the two recent colours far apart (one in the
    middle of the dock, one at its right): the palette's grid spread its columns across the
    dock's width. They are packed from the left, one swatch after the other."""
    from tests.gui.conftest import open_shot, paint
    win = window
    open_shot(qtbot, win, grey_clip.video)
    paint(qtbot, win, [(0.2, 0.3), (0.4, 0.3)], color=(220, 30, 30))
    paint(qtbot, win, [(0.2, 0.6), (0.4, 0.6)], color=(30, 60, 220))
    pal = win.panel.palette
    assert pal.colors[:2] == [(30, 60, 220), (220, 30, 30)]
    qtbot.waitUntil(lambda: pal._grid.count() == 2, timeout=2000)
    qtbot.wait(50)
    a, b = (pal._grid.itemAt(i).widget() for i in range(2))
    assert a.isVisible() and b.isVisible()
    assert pal.width() > 4 * a.width()                  # room to spread them: the dock is wide
    assert a.x() <= 2 and b.x() - a.x() == a.width() + pal._grid.horizontalSpacing(), (a.x(), b.x())


def test_a_frame_whose_colour_is_being_read_does_not_say_no_colour(qtbot, window, grey_clip):
    """Reopening the walked sample, frame 20 showed grey with 'No colour on this frame yet' over
    it while the frame label said 'propagated' and the status 'All 72 frames are in colour':
    its colour was being read from the cache by the display loader (seconds on a busy CPU).
    The viewer now says the colour is being read; once it is in, the tag goes."""
    from tests.gui.conftest import open_shot, paint, wait_done
    win = window
    open_shot(qtbot, win, grey_clip.video)
    paint(qtbot, win, [(0.2, 0.5), (0.6, 0.5)])
    wait_done(qtbot, win)
    f = win.frame_count() - 1
    assert win.store.sig_of(f) is not None
    v = win.viewer
    # The loader is slow: the frame's RGB is not in memory and the read has not come back.
    asked = []
    win.loader.request, real_request = asked.append, win.loader.request
    win.store.cached_rgb, real_cached = (lambda i: None), win.store.cached_rgb
    try:
        win.seek(f)
        qtbot.waitUntil(lambda: v.frame == f, timeout=5000)
        assert f in asked and v.color_img is None
        assert "propagated" in win.frame_label.text()
        assert v.state_tag() == "Reading this frame's colour…"
    finally:
        win.loader.request, win.store.cached_rgb = real_request, real_cached
    win._show_current()                                  # the read came back (`loaded`)
    qtbot.waitUntil(lambda: v.color_img is not None, timeout=5000)
    assert v.state_tag() is None
    win.seek(0)
    win.remove_keyframe_image()                          # (no image: nothing happens)
    win.undo.undo()                                      # no stroke: frame 0 has no colour
    wait_done(qtbot, win)
    qtbot.waitUntil(lambda: v.frame == 0 and win.store.sig_of(0) is None, timeout=5000)
    assert v.state_tag() == "No colour on this frame yet"


def test_shot_menu_entries_that_cannot_act_say_why(qtbot, window, grey_clip):
    """On the one-shot sample, Shot > Next Shot (PgDown), Previous Shot (PgUp) on its first frame
    and Use Detected Shots (no shot edited by hand) did nothing and said nothing, so a newcomer
    could not tell a dead key from a broken one (Split and Merge already said why). They say so
    in the status bar now."""
    from PySide6.QtCore import Qt
    from tests.gui.conftest import open_shot
    win = window
    open_shot(qtbot, win, grey_clip.video)
    panel = win.shot_panel
    qtbot.waitUntil(lambda: len(panel.shots) >= 1, timeout=10000)
    n = len(panel.shots)
    win.seek(panel.shots[-1][0])
    win.status_msg.setText("")
    win.activateWindow()
    win.viewer.setFocus()
    qtbot.keyClick(win.viewer, Qt.Key.Key_PageDown)
    assert win.status_msg.text() == f"Shot {n} of {n} is the last shot"
    win.seek(0)
    win.status_msg.setText("")
    qtbot.keyClick(win.viewer, Qt.Key.Key_PageUp)
    assert win.current == 0 and "first frame of the first shot" in win.status_msg.text()
    assert not win.doc.shots()
    win.status_msg.setText("")
    win.act_detected_shots.trigger()
    assert "detected ones already" in win.status_msg.text()
    assert win.undo.index() == 0                                # and nothing was pushed


def test_the_first_propagation_does_not_claim_frames_were_kept(qtbot, window, grey_clip):
    """After the first stroke on the sample every frame was computed, and the status said
    'Propagated 72 frame(s) in 47.3 s (1.5 fps); frames the edit cannot change were kept':
    none was. That clause is said only when some frames were not computed again."""
    from tests.gui.conftest import open_shot, paint, wait_done
    win = window
    open_shot(qtbot, win, grey_clip.video)
    n = win.frame_count()
    paint(qtbot, win, [(0.2, 0.5), (0.6, 0.5)])
    wait_done(qtbot, win)
    msg = win.status_msg.text()
    assert msg.startswith(f"Propagated {n} frame(s) in "), msg
    assert "kept" not in msg, msg


def test_the_shots_dock_says_what_it_is_before_a_video_is_open(qtbot, window, grey_clip):
    """On a first launch the Shots dock was an empty box under its title: nothing said what
    would appear there. It says so until a video is open, then counts the shots as before."""
    from PySide6.QtWidgets import QLabel
    from tests.gui.conftest import open_shot
    win = window
    label = win.findChild(QLabel, "shotScanLabel")
    assert label.isVisible() and "open" in label.text().lower() and "shots" in label.text()
    open_shot(qtbot, win, grey_clip.video)
    qtbot.waitUntil(lambda: "shot" in label.text() and "No video open" not in label.text(), timeout=10000)
