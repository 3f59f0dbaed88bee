"""Corrections land first and only what an edit can change is recomputed; undo and reopen
show chroma already computed (kept in the project's cache folder, keyed by the inputs that
made it) without recomputing it. Real widgets, real mouse strokes, the default method."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from app.gui.timeline import DONE
from tests.gui.conftest import open_shot, paint, region_ab, seek_shown, wait_done
from tests.gui.test_main_window import obj_center_box, paint_background, stroke_over_object

REPO = Path(__file__).resolve().parents[2]


def arrivals(win):
    """Frames computed for the current generation, in arrival order (frameArrived, GUI thread)."""
    got = []
    win.frameArrived.connect(lambda g, i: got.append((g, i)))
    return lambda: [i for g, i in got if g == win.generation]


def test_late_correction_lands_first_and_keeps_frames_it_cannot_change(qtbot, window, make_clip):
    clip = make_clip(frames=40)
    win, sc = window, clip.scene
    open_shot(qtbot, win, clip.video)
    paint_background(qtbot, win, sc, 0)
    paint(qtbot, win, stroke_over_object(sc, 0), color=(220, 30, 30))
    wait_done(qtbot, win)
    seek_shown(qtbot, win, 12)
    paint(qtbot, win, stroke_over_object(sc, 12), color=(220, 200, 30))
    wait_done(qtbot, win)
    before = {i: win.store.ab(i).copy() for i in range(clip.frames)}

    got = arrivals(win)
    seek_shown(qtbot, win, 33)
    assert "keyframe" not in win.frame_label.text()
    paint(qtbot, win, stroke_over_object(sc, 33), color=(30, 200, 40))
    wait_done(qtbot, win)
    order = got()
    assert order[0] == 33, order[:5]                       # the edited frame first
    assert sorted(order) == list(range(13, 40)), order     # frames 0..12 cannot change: kept
    d = [abs(i - 33) for i in order]
    assert d == sorted(d), order                           # then outward, nearest first
    for i in range(13):
        assert np.array_equal(win.store.ab(i), before[i])
    assert region_ab(win, 38, obj_center_box(sc, 38))[0] < -10      # green from 33 on
    assert "keyframe" in win.frame_label.text() and "propagated" in win.frame_label.text()

    # Undo: every frame's chroma for the keys before the correction is still cached: nothing
    # is recomputed and the frame on screen shows the old colour at once (no "keyframe").
    got = arrivals(win)
    win.undo.undo()
    qtbot.waitUntil(lambda: win.store.generation_of(33) == win.generation, timeout=2000)
    assert "keyframe" not in win.frame_label.text()
    wait_done(qtbot, win)
    assert win._frames_this_run == 0 and (win.timeline.states == DONE).all()
    assert all(np.abs(win.store.ab(i) - before[i]).max() < 0.1 for i in range(clip.frames))
    x0, y0, x1, y1 = obj_center_box(sc, 33)

    def shown():
        return win.viewer.current_rgb()[y0:y1, x0:x1].reshape(-1, 3).mean(0)
    qtbot.waitUntil(lambda: shown()[0] > shown()[2] + 20 and shown()[1] > shown()[2] + 20, timeout=1000)  # yellow
    win.undo.redo()                                        # redo: also cached
    wait_done(qtbot, win)
    assert win._frames_this_run == 0
    assert region_ab(win, 38, obj_center_box(sc, 38))[0] < -10


def test_reopened_project_is_in_colour_at_once(qtbot, make_window, grey_clip, tmp_path):
    win = make_window()
    sc = grey_clip.scene
    open_shot(qtbot, win, grey_clip.video)
    paint_background(qtbot, win, sc, 0)
    paint(qtbot, win, stroke_over_object(sc, 0), color=(220, 30, 30))
    wait_done(qtbot, win)
    proj = tmp_path / "shot.hueshot"
    assert win._save_to(str(proj))
    expected = {i: win.store.ab(i).copy() for i in range(grey_clip.frames)}
    win.close()

    win2 = make_window()
    computed = []
    win2.frameArrived.connect(lambda g, i: computed.append(i) if win2._frames_this_run else None)
    open_shot(qtbot, win2, proj)
    qtbot.waitUntil(lambda: (win2.timeline.states == DONE).all(), timeout=3000)
    qtbot.waitUntil(lambda: win2.viewer.color_img is not None, timeout=2000)
    wait_done(qtbot, win2)
    assert win2._frames_this_run == 0 and not computed     # nothing propagated again
    for i in range(grey_clip.frames):
        assert np.abs(win2.store.ab(i) - expected[i]).max() < 0.1
    # the project's own cache folder holds it (found again without the user cache)
    assert list((tmp_path / "shot.hueshot-cache" / "chroma").rglob("*.npz"))
    # a new stroke on frame 20 recomputes only the frames it can change (1..23), not frame 0
    got = arrivals(win2)
    seek_shown(qtbot, win2, 20)
    paint(qtbot, win2, stroke_over_object(sc, 20), color=(30, 200, 40))
    wait_done(qtbot, win2)
    assert got()[0] == 20 and 0 not in got()


def test_sample_reopens_in_colour(qtbot, make_window, tmp_path):
    src = REPO / "resources" / "sample"
    dst = tmp_path / "sample"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.hueshot-cache"))
    proj = dst / "sample.hueshot"
    win = make_window()
    open_shot(qtbot, win, proj)
    wait_done(qtbot, win)
    assert win._frames_this_run == len(win.luma)           # first open: every frame (the key too)
    win.close()
    win2 = make_window()
    open_shot(qtbot, win2, proj)
    qtbot.waitUntil(lambda: (win2.timeline.states == DONE).all(), timeout=3000)
    wait_done(qtbot, win2)
    assert win2._frames_this_run == 0
    qtbot.waitUntil(lambda: win2.viewer.color_img is not None, timeout=2000)
    rgb = win2.viewer.current_rgb()
    assert (rgb.max(-1).astype(int) - rgb.min(-1).astype(int)).mean() > 20


def test_project_given_at_start_up_reopens_in_colour(qtbot, make_window, settings, tmp_path, monkeypatch):
    """`hueshot PROJECT` opens the project as the window starts, before the worker knows its
    frame-key context: the cached chroma must still be shown (it once stayed 'missing' for
    ever: the worker found every frame cached and computed nothing, the window never adopted)."""
    from app.gui.main import start_window
    src = REPO / "resources" / "sample"
    dst = tmp_path / "sample"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.hueshot-cache"))
    proj = dst / "sample.hueshot"
    win = make_window()
    open_shot(qtbot, win, proj)
    wait_done(qtbot, win)
    win.close()
    win.workers.stop()
    # In a fresh process the worker is still importing torch (making its propagator) when the
    # shot has opened, so the frame-key context comes late. Reproduced here by letting the
    # real device set-up run late.
    import time
    from app.gui.worker import PropagationWorker
    real = PropagationWorker._set_device
    monkeypatch.setattr(PropagationWorker, "_set_device", lambda self, *a: (time.sleep(1.0), real(self, *a))[1])
    win2 = start_window(str(proj), settings=settings, proxy_height=96)
    qtbot.addWidget(win2)
    try:
        qtbot.waitUntil(lambda: win2.luma is not None and win2.store is not None, timeout=20000)
        n = len(win2.luma)
        qtbot.waitUntil(lambda: not win2.propagating() and not win2.store.missing(range(n), win2.generation),
                        timeout=20000)
        assert win2._frames_this_run == 0
    finally:
        win2.close()
        win2.workers.stop()
