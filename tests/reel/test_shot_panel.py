"""The Shots dock on a real MainWindow: the reel's shots listed, real key events to navigate."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402

from tests.reel.conftest import key, open_scanned  # noqa: E402


def test_shot_list_navigation_and_marks(qtbot, win, reel, tmp_path):
    open_scanned(qtbot, win, reel.video)
    panel = win.shot_panel
    assert panel.shots == reel.shots                       # found in the editor's own luma pass
    assert [panel.item(k).text().split()[-1] for k in range(3)] == ["grey"] * 3
    key(qtbot, win, Qt.Key.Key_PageDown)
    assert win.current == reel.shots[1][0]
    key(qtbot, win, Qt.Key.Key_PageDown)
    key(qtbot, win, Qt.Key.Key_PageDown)                   # stays on the last shot
    assert win.current == reel.shots[2][0]
    win.seek(reel.shots[2][0] + 5)
    key(qtbot, win, Qt.Key.Key_PageUp)                     # to the start of the current shot
    assert win.current == reel.shots[2][0]
    key(qtbot, win, Qt.Key.Key_PageUp)
    assert win.current == reel.shots[1][0]
    key(qtbot, win, Qt.Key.Key_S, Qt.KeyboardModifier.AltModifier)
    assert win.doc.marks() == reel.shots[1]                # the export range = this shot
    key(qtbot, win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert win.doc.marks() == (None, None)                 # undoable like any marks change
    # a keyframe in shot 2 changes its state in the list
    from app.gui.commands import SetKeyImage
    win.undo.push(SetKeyImage(win.doc, reel.shots[1][0], reel.frames[reel.shots[1][0]]))
    qtbot.waitUntil(lambda: panel.item(1).text().endswith(("has colour", "propagated")), timeout=5000)
    assert panel.item(0).text().endswith("grey")
    panel.itemClicked.emit(panel.item(2))
    assert win.current == reel.shots[2][0]


def test_a_shot_with_only_eraser_strokes_stays_grey_in_the_list(qtbot, win, reel):
    """The render leaves a shot whose only strokes erase grey; the list said "propagated"."""
    from app.gui.commands import AddStroke
    from models.base import HintStroke
    open_scanned(qtbot, win, reel.video)
    panel = win.shot_panel
    f = reel.shots[2][0] + 1
    win.undo.push(AddStroke(win.doc, HintStroke(f, [(0.3, 0.5), (0.5, 0.5)], 0.05, (0, 0, 0), erase=True)))
    win.undo.push(AddStroke(win.doc, HintStroke(reel.shots[1][0], [(0.3, 0.5)], 0.05, (200, 40, 40))))
    qtbot.waitUntil(lambda: panel.item(1).text().endswith("propagated"), timeout=10000)
    assert panel.item(2).text().endswith("grey"), panel.item(2).text()
    n = reel.shots[0][1] - reel.shots[0][0] + 1
    assert f"({n} frames)" in panel.item(0).text()


def test_a_row_is_styled_by_its_state_and_shows_its_length_below():
    """A row's text is painted on two lines, the frame count beside the state below; the state
    alone styles the row (rendered bold, grey dimmed). When the count moved below, the delegate
    compared "grey · 97 frames" with "grey": no row was styled any more."""
    from app.gui.panels.shot_panel import row_lines
    assert row_lines("  3   0–96   (97 frames)   grey") == ("  3   0–96", "grey · 97 frames", "grey")
    assert row_lines(" 12   97–97   (1 frame)   rendered")[1:] == ("rendered · 1 frame", "rendered")
    assert row_lines("  1   0–9   has colour") == ("  1   0–9", "has colour", "has colour")
