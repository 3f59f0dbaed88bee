"""Reels at the scale of a film: thousands of shots, tens of thousands of frames. The editor's
GUI thread does no work per shot or per frame of the source where the work is per pixel or per
edited shot (measured on a 70,582-frame, 1,682-shot reel: every stroke and undo froze the
editor 0.4 s in MainWindow._adopt, the Shots dock's states took 65 ms at each edit, and each
timeline paint 9-25 ms). Counted here on small stand-ins, so the tests take seconds."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from tests.gui.conftest import paint, seek_shown, wait_done  # noqa: E402
from tests.reel.conftest import build_reel, key, open_scanned  # noqa: E402


class _Count:
    """Counts calls of ``cls.name`` (a Python or a Qt method) while installed."""

    def __init__(self, monkeypatch, cls, name):
        self.n = 0
        orig = getattr(cls, name)

        def counted(*a, **k):
            self.n += 1
            return orig(*a, **k)
        monkeypatch.setattr(cls, name, counted)


def test_the_timeline_draws_thousands_of_shots_and_state_runs_per_pixel_not_per_run(qtbot, monkeypatch):
    from PySide6.QtGui import QColor, QPainter
    from app.gui.timeline import DONE, SHOT_CURRENT, STALE, STATE_COLORS, Timeline
    rng = np.random.default_rng(3)
    lengths = rng.integers(8, 60, 4000)
    cur = 1234
    lengths[cur] = 3000                                   # a long take among the short shots
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    n = int(lengths.sum())
    shots = [(int(a), int(a + m - 1)) for a, m in zip(starts, lengths)]
    states = np.zeros(n, np.uint8)
    half = n // 2
    states[:half] = DONE                                  # the first half done
    for k, (a, b) in enumerate(shots):                    # the second: every other shot done
        if a >= half and k % 2:
            states[a:b + 1] = DONE
    one = n // 10
    states[one] = STALE                                   # one stale frame among thousands
    tl = Timeline()
    tl.resize(1000, 110)
    qtbot.addWidget(tl)
    tl.show()
    tl.reset(n, None)
    tl.set_shots(shots)
    tl.set_all_states(lambda s: states)
    tl.set_current(shots[cur][1] - 2)                     # the playhead at its end
    fills = _Count(monkeypatch, QPainter, "fillRect")
    img = tl.grab().toImage()
    assert fills.n < 50, f"{fills.n} rects for {len(shots)} shots: one a shot or a run"
    y_state = tl.RULER_H + tl.THUMB_H + 2 + tl.STATE_H // 2
    y_shot = tl.RULER_H + tl.THUMB_H + tl.STATE_H + tl.MARK_H + 5 + tl.SHOT_H // 2
    dpr = img.devicePixelRatio()

    def px(x, y):
        return QColor(img.pixel(int(x * dpr), int(y * dpr))).rgb()
    assert px(tl._x(one), y_state) == STATE_COLORS[STALE].rgb()          # not lost between pixels
    assert px(tl._x(n // 4), y_state) == STATE_COLORS[DONE].rgb()
    assert px(tl._x(shots[cur][0]) + 3, y_shot) == SHOT_CURRENT.rgb()     # the current shot lit
    assert px(tl._x(shots[cur - 200][0]), y_shot) != SHOT_CURRENT.rgb()


@pytest.fixture
def long_reel(tmp_path, monkeypatch):
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "_cache"))
    return build_reel(tmp_path / "long.mp4", lengths=(160, 160, 160))


def test_an_edit_on_a_reel_of_many_shots_does_no_work_per_frame_of_the_source(qtbot, win, long_reel, monkeypatch):
    from app.gui.commands import SetShots
    from app.gui.document import Document
    from app.gui.framestore import FrameStore
    from app.gui.timeline import DONE, NONE
    open_scanned(qtbot, win, long_reel.video)
    n = win.frame_count()
    shots = [(a, min(n - 1, a + 9)) for a in range(0, n, 10)]     # 48 shots of 10 frames
    win.undo.push(SetShots(win.doc, shots, "many shots"))
    panel = win.shot_panel
    qtbot.waitUntil(lambda: len(panel.shots) == len(shots))
    a, b = shots[20]
    seek_shown(qtbot, win, a + 3)
    per_frame = _Count(monkeypatch, FrameStore, "forget")
    adopts = _Count(monkeypatch, FrameStore, "adopt")
    walks = _Count(monkeypatch, Document, "key_frames")
    paint(qtbot, win, [(0.3, 0.3), (0.6, 0.5)])                        # real mouse events
    wait_done(qtbot, win)
    s = win.timeline.states
    assert (s[a:b + 1] == DONE).all() and (np.delete(s, np.arange(a, b + 1)) == NONE).all()
    assert panel.item(20).text().endswith("propagated") and panel.item(19).text().endswith("grey")
    # per edited frame at most, never per frame of the source (each adopt was 480 calls)
    assert per_frame.n == 0 and adopts.n <= 3 * (b - a + 1), (per_frame.n, adopts.n)
    # the dock's states find the keys once a refresh, not once a shot (48 walks a refresh)
    walks.n = 0
    from PySide6.QtWidgets import QListWidgetItem
    texts = _Count(monkeypatch, QListWidgetItem, "setText")
    panel.refresh_states()
    assert walks.n <= 1, walks.n
    # and a refresh with nothing changed sets no row's text again (each of a film's 1,682 rows
    # was set at every edit)
    assert texts.n == 0, texts.n
    key(qtbot, win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)    # undo the stroke
    wait_done(qtbot, win)
    assert (win.timeline.states == NONE).all()
    assert all(win.store.sig_of(i) is None for i in range(a, b + 1))
    assert win.store.cached_rgb(a + 3) is None
    assert panel.item(20).text().endswith("grey") and panel.item(21).text().endswith("grey")
    assert texts.n <= 3, texts.n          # the undo changed shot 21's row, not all 48
    key(qtbot, win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    wait_done(qtbot, win)                                            # redo: the cached colour back
    assert (win.timeline.states[a:b + 1] == DONE).all()
    assert per_frame.n == 0, per_frame.n


def test_a_render_with_many_grey_shots_says_so_in_one_line_and_lists_them_with_verbose(reel, tmp_path, capsys):
    """A film with keys in a few of its 2,000 shots printed a line for each grey one (1,678 lines
    on the 70,582-frame reel): one line counts them now; --verbose lists every one."""
    from app.cli import main
    from app.core.project import Project
    doc = Project(reel.video)
    doc.set_keyframe(0, reel.frames[0])
    n = len(reel.frames)
    shots = [(a, min(n - 1, a + 3)) for a in range(0, n, 4)]        # 17 shots, the first keyed
    doc.set_shots(shots)
    path = doc.save(tmp_path / "reel.hueshot")
    assert main(["render", str(path), "-o", str(tmp_path / "out"), "--method", "flow"]) == 0
    err = capsys.readouterr().err
    grey = [line for line in err.splitlines() if "left grey" in line]
    assert grey == [f"16 shots have no key or hint in them and were left grey (frames 4..7, 8..11, "
                    f"12..15, 16..19, 20..23 and 11 more; --verbose lists them all)"], err
    assert main(["render", str(path), "-o", str(tmp_path / "out2"), "--method", "flow", "--verbose"]) == 0
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "left grey" in line] == [
        f"shot at frames {a}..{b}: no key or hint in it, left grey" for a, b in shots[1:]]


def test_timeline_markers_are_drawn_once_a_pixel_column_and_still_show(qtbot, monkeypatch):
    """Hundreds of keys and hinted frames on a film drew a marker each, most of them over one
    another (several frames a pixel column): ~9 ms a paint of the playhead's repaints. One a
    column now, and each key still shows where it lies."""
    from PySide6.QtGui import QColor, QPainter
    from app.gui.timeline import Timeline
    n = 70_000
    rng = np.random.default_rng(5)
    keys = sorted(int(v) for v in rng.choice(n, 350, replace=False))
    hinted = sorted(int(v) for v in rng.choice(n, 700, replace=False))
    tl = Timeline()
    tl.resize(600, 110)
    qtbot.addWidget(tl)
    tl.show()
    tl.reset(n, None)
    tl.set_markers(keys, hinted)
    polys, dots = _Count(monkeypatch, QPainter, "drawPolygon"), _Count(monkeypatch, QPainter, "drawEllipse")
    img = tl.grab().toImage()
    assert polys.n <= len({int(tl._x(i)) for i in keys}) < len(keys), polys.n
    assert dots.n <= len({int(tl._x(i)) for i in set(hinted) - set(keys)}), dots.n
    y = tl.RULER_H + tl.THUMB_H + tl.STATE_H + 4 + 5          # the middle of a diamond
    dpr = img.devicePixelRatio()
    for i in keys[::35]:        # the key's fill shows within its diamond (a neighbour's outline may cross it)
        near = [QColor(img.pixel(int((tl._x(i) + d) * dpr), int(y * dpr))) for d in (-2, -1, 0, 1, 2)]
        assert any(c.red() > 150 and 0.3 < c.green() / c.red() < 0.6 and c.blue() / c.red() < 0.35 for c in near), \
            (i, [c.getRgb() for c in near])
