"""The editor propagates shot by shot, and shots are split and merged by hand (real key events,
undoable, saved in the project, drawn on the timeline)."""
from __future__ import annotations

import json
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from tests.reel.conftest import key, open_scanned  # noqa: E402

CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


def wait_done(qtbot, w, timeout=120000):
    qtbot.waitUntil(lambda: w._last_finished == (w.generation, True), timeout=timeout)


def set_key(w, frame, rgb):
    from app.gui.commands import SetKeyImage
    w.undo.push(SetKeyImage(w.doc, frame, rgb))


def test_propagation_never_crosses_a_cut(qtbot, win, reel):
    open_scanned(qtbot, win, reel.video)
    (a0, b0), (a1, b1), (a2, b2) = reel.shots
    set_key(win, a0, reel.frames[a0])
    wait_done(qtbot, win)
    assert all(win.store.sig_of(i) is not None for i in range(a0, b0 + 1))
    assert all(win.store.sig_of(i) is None for i in range(a1, b2 + 1))        # no key there: grey
    assert win.shot_panel.state(0) == "propagated" and win.shot_panel.state(1) == "grey"
    before = [win.store.sig_of(i) for i in range(a0, b0 + 1)]
    near_cut = win.store.ab(b0).copy()
    set_key(win, a2, reel.frames[a2])                   # a key in the third shot
    wait_done(qtbot, win)
    assert [win.store.sig_of(i) for i in range(a0, b0 + 1)] == before      # shot 1 untouched
    np.testing.assert_array_equal(win.store.ab(b0), near_cut)               # no blend towards key 2
    assert all(win.store.sig_of(i) is None for i in range(a1, b1 + 1))      # shot 2 still grey
    assert all(win.store.sig_of(i) is not None for i in range(a2, b2 + 1))
    # shot 3 takes its colours from its own key: mean chroma near its truth, far from shot 1's
    from models.color import rgb_to_ab
    w, h = win.luma.size
    import cv2
    truth = rgb_to_ab(cv2.resize(reel.frames[b2], (w, h), interpolation=cv2.INTER_AREA))
    other = rgb_to_ab(cv2.resize(reel.frames[b0], (w, h), interpolation=cv2.INTER_AREA))
    got = win.store.ab(b2)
    assert np.abs(got - truth).mean() < 0.5 * np.abs(got - other).mean()


def test_split_and_merge_by_hand(qtbot, win, reel, tmp_path):
    open_scanned(qtbot, win, reel.video)
    panel = win.shot_panel
    (a0, b0), (a1, b1), (a2, b2) = reel.shots
    set_key(win, a1, reel.frames[a1])
    wait_done(qtbot, win)
    assert all(win.store.sig_of(i) is not None for i in range(a1, b1 + 1))
    cut = a1 + 10
    win.seek(cut)
    key(qtbot, win, Qt.Key.Key_B, CTRL)                    # Shot > Split Shot Here
    want = [(a0, b0), (a1, cut - 1), (cut, b1), (a2, b2)]
    assert win.doc.shots() == want and panel.shots == want and win.timeline.shots == want
    assert panel.count() == 4 and "edited by hand" in panel.label.text()
    wait_done(qtbot, win)
    assert all(win.store.sig_of(i) is None for i in range(cut, b1 + 1))     # the new shot has no key
    assert all(win.store.sig_of(i) is not None for i in range(a1, cut))
    key(qtbot, win, Qt.Key.Key_Z, CTRL)                    # undo: the detected shots again
    assert win.doc.shots() == [] and panel.shots == reel.shots
    wait_done(qtbot, win)
    assert all(win.store.sig_of(i) is not None for i in range(a1, b1 + 1))
    win.seek(a2 + 3)
    key(qtbot, win, Qt.Key.Key_B, CTRL_SHIFT)              # Merge With Previous Shot
    merged = [(a0, b0), (a1, b2)]
    assert win.doc.shots() == merged and win.timeline.shots == merged
    wait_done(qtbot, win)
    assert all(win.store.sig_of(i) is not None for i in range(a1, b2 + 1))   # the key reaches it now
    win.seek(a0)
    key(qtbot, win, Qt.Key.Key_B, CTRL)                    # the first frame of a shot: nothing to split
    assert win.doc.shots() == merged and "already starts shot 1" in win.status_msg.text()
    # saved with the project, and the reopened project uses it
    path = tmp_path / "reel.hueshot"
    win.doc.save(str(path))
    assert json.loads(path.read_text())["shots"] == [list(s) for s in merged]
    win.undo.setClean()
    open_scanned(qtbot, win, path)
    assert panel.shots == merged and panel.manual
    assert win.workers.worker.shots == tuple(merged)


def test_timeline_draws_the_shots(qtbot, win, reel):
    open_scanned(qtbot, win, reel.video)
    win.seek(reel.shots[1][0] + 2)
    img = win.timeline.grab().toImage()
    tl = win.timeline
    y = tl.RULER_H + tl.THUMB_H + tl.STATE_H + tl.MARK_H + 5 + tl.SHOT_H // 2
    x_cur = int(tl._x(reel.shots[1][0] + 8))
    x_other = int(tl._x(reel.shots[2][0] + 8))
    cur, other = img.pixelColor(x_cur, y), img.pixelColor(x_other, y)
    from app.gui.timeline import SHOT_CURRENT, SHOT_EVEN
    assert cur == SHOT_CURRENT                                        # the current shot, lit
    assert other == SHOT_EVEN                                         # shot 3 of 3 (k = 2)
    cut_x = int(round(tl._x(reel.shots[1][0]) - 0.5 * (tl._x(1) - tl._x(0))))
    # a cut line over the thumbnails: the near-white blue-grey line, bluer than the grey frames
    line = [img.pixelColor(x, tl.RULER_H + 2) for x in range(cut_x - 1, cut_x + 2)]
    assert any(c.blue() > 170 and c.blue() - c.red() >= 10 for c in line), [c.getRgb() for c in line]
