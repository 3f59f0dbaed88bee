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


def test_a_hand_split_is_kept_when_the_source_is_trimmed_shorter_as_the_render_keeps_it(qtbot, win, reel, tmp_path):
    """A project whose hand-edited shots run past a source re-rendered shorter: the editor cut
    them at the new end, as `hueshot render` and the export do. It used to drop them silently
    for the detected ones, so a shot the render leaves grey was shown in colour."""
    import shutil
    from tests.reel.conftest import build_reel
    open_scanned(qtbot, win, reel.video)
    (a0, b0), (a1, b1), (a2, b2) = reel.shots
    cut = a1 + 5
    win.seek(cut)
    key(qtbot, win, Qt.Key.Key_B, CTRL)                    # Split Shot Here
    set_key(win, a1, reel.frames[a1])
    wait_done(qtbot, win)
    path = tmp_path / "reel.hueshot"
    win.doc.save(str(path))
    win.undo.setClean()
    short = build_reel(tmp_path / "short.mp4", lengths=(20, 26, 12))   # the last shot 10 frames shorter
    shutil.copy(short.video, reel.video)
    n = len(short.grey)
    open_scanned(qtbot, win, path)
    want = [(a0, b0), (a1, cut - 1), (cut, b1), (a2, n - 1)]
    panel = win.shot_panel
    assert panel.shots == want and panel.manual and "edited by hand" in panel.label.text()
    assert win.workers.worker.shots == tuple(want)
    wait_done(qtbot, win)
    assert all(win.store.sig_of(i) is None for i in range(cut, b1 + 1))   # grey, as the render has it
    from app.cli import main
    out = tmp_path / "out_png"
    assert main(["render", str(path), "-o", str(out), "--method", "flow", "-q"]) == 0
    import cv2
    frames = sorted(out.glob("*.png"))
    assert len(frames) == n

    def colour(i):
        rgb = cv2.imread(str(frames[i])).astype(np.int16)
        return float((rgb.max(2) - rgb.min(2)).mean())
    assert colour(a1 + 2) > 10 and colour(cut + 2) < 1       # the render agrees: the split shot is grey


def test_hand_shots_that_end_before_the_source_are_said_not_used(qtbot, win, reel, tmp_path):
    """Hand-edited shots shorter than the source (which a render refuses) are not used, and the
    Shots dock says so and why instead of only showing the detected shots as if nothing was lost."""
    from app.core.project import Project
    p = Project(reel.video)
    p.set_shots([(0, 9), (10, 39)])
    path = p.save(tmp_path / "short_shots.hueshot")
    open_scanned(qtbot, win, path)
    panel = win.shot_panel
    assert panel.shots == reel.shots and not panel.manual
    text = panel.label.text()
    assert "not used" in text and "the source has 68 frames" in text and "Use Detected Shots" in text
