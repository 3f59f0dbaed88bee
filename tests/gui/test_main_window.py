"""End-to-end GUI tests on a real MainWindow: open, paint, stream, undo, save/reopen,
correct a later frame, export, cancel. Clips are tiny (160x96, 24 frames) to stay fast."""
from __future__ import annotations

import av
import numpy as np
import pytest

from tests.gui.conftest import follows_motion, open_shot, paint, region_ab, wait_done


def motion_box(win, scene, i, painted_on=0, half=4):
    """Where the stroke's colour must be on frame i: the moved object with the real
    propagator; the stroke's own place (frame 0's object) with the baseline."""
    return obj_center_box(scene, i if follows_motion(win) else painted_on, half)


def obj_center_box(scene, i, half=4):
    x0, y0, x1, y1 = scene.obj_box(i)
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    return cx - half, cy - half, cx + half, cy + half


def stroke_over_object(scene, i):
    x0, y0, x1, y1 = scene.obj_box(i)
    w, h = scene.width, scene.height
    cy = (y0 + y1) / 2 / h
    return [((x0 + 6) / w, cy), ((x0 + x1) / 2 / w, cy), ((x1 - 6) / w, cy)]


def test_paint_stream_undo_save_reopen(qtbot, make_window, grey_clip, tmp_path):
    win = make_window()
    open_shot(qtbot, win, grey_clip.video)
    assert win.frame_count() == grey_clip.frames
    assert win.viewer.color_img is None           # nothing coloured yet
    sc = grey_clip.scene

    # One real mouse stroke over the red object on frame 0: one undo step.
    paint(qtbot, win, stroke_over_object(sc, 0), color=(220, 30, 30))
    assert win.undo.count() == 1
    assert win.isWindowModified()
    first = []
    win.workers.worker.frameReady.connect(lambda g, i, *_: first.append(i))
    wait_done(qtbot, win)
    assert first and first[0] == 0                # the edited keyframe comes first
    a, b = region_ab(win, 12, motion_box(win, sc, 12))
    assert a > 15, f"frame 12 should be red where the object moved, got a={a:.1f} b={b:.1f}"
    win.seek(12)
    qtbot.waitUntil(lambda: win.viewer.color_img is not None, timeout=2000)
    rgb = win.viewer.current_rgb()
    x0, y0, x1, y1 = motion_box(win, sc, 12)
    px = rgb[y0:y1, x0:x1].reshape(-1, 3).mean(0)
    assert px[0] > px[1] + 20 and px[0] > px[2] + 20, px

    # Undo reverts the preview.
    win.undo.undo()
    wait_done(qtbot, win)
    assert win.store.ab(12) is None
    qtbot.waitUntil(lambda: win.viewer.color_img is None, timeout=2000)
    win.undo.redo()
    wait_done(qtbot, win)
    assert region_ab(win, 12, motion_box(win, sc, 12))[0] > 15

    # Save, close, reopen: the hints come back and propagate again.
    proj = tmp_path / "shot.hueshot"
    assert win._save_to(str(proj))
    assert not win.isWindowModified()
    win.close()
    win2 = make_window()
    open_shot(qtbot, win2, proj)
    assert len(win2.doc.strokes(0)) == 1
    assert win2.doc.strokes(0)[0].color == (220, 30, 30)
    wait_done(qtbot, win2)
    assert region_ab(win2, 12, motion_box(win2, sc, 12))[0] > 15


def test_later_frame_correction_and_export(qtbot, window, grey_clip, tmp_path):
    win, sc = window, grey_clip.scene
    open_shot(qtbot, win, grey_clip.video)
    paint(qtbot, win, stroke_over_object(sc, 0), color=(220, 30, 30))
    wait_done(qtbot, win)
    late = 20 if follows_motion(win) else 13       # the baseline drifts off after a few frames
    if follows_motion(win):
        assert region_ab(win, late, motion_box(win, sc, late))[0] > 15

    # Hint on frame 12: it becomes a keyframe and frames after it follow the new colour.
    win.seek(12)
    qtbot.waitUntil(lambda: win.current == 12)
    paint(qtbot, win, stroke_over_object(sc, 12), color=(30, 200, 40))
    assert 12 in win.timeline.keyframes
    wait_done(qtbot, win)
    a20, _ = region_ab(win, late, motion_box(win, sc, late, painted_on=12))
    assert a20 < -10, f"frame {late} should turn green after the correction, a={a20:.1f}"
    assert region_ab(win, 2, obj_center_box(sc, 2))[0] > 15   # frames before keep red

    # Export FFV1 (lossless) and decode it back: frame count and colours match the preview.
    dlg = win.export_dialog()
    dlg.set_format("ffv1")
    out = tmp_path / "out.mkv"
    dlg.path.setText(str(out))
    with qtbot.waitSignal(dlg.finished_export, timeout=60000) as sig:
        assert dlg.start()
    assert sig.args[0], sig.args[1]
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == grey_clip.frames
    for i in (0, 12, 20):
        prev = win.store.rgb(i).astype(int)
        diff = np.abs(frames[i].astype(int) - prev).mean()
        assert diff < 3.0, f"frame {i}: export differs from preview by {diff:.2f}"
    x0, y0, x1, y1 = motion_box(win, sc, late, painted_on=12)
    px = frames[late][y0:y1, x0:x1].reshape(-1, 3).mean(0)
    assert px[1] > px[0] + 20, px


def test_cancel_propagation_and_export(qtbot, window, grey_clip, tmp_path, monkeypatch):
    import time
    from models import registry
    import app.gui.export_dialog as ed

    win, sc = window, grey_clip.scene
    base = registry.get_propagator(win.settings.value("method"), None)

    class Slow:   # the real propagator, slowed so a cancel lands mid-run
        name = "slow_test"

        def run(self, *a, **kw):
            for pf in base.run(*a, **kw):
                time.sleep(0.05)
                yield pf
    registry.register("slow_test", lambda device=None, **kw: Slow())
    win.workers.worker.deviceRequested.emit("cpu", "slow_test")
    qtbot.waitUntil(lambda: "slow_test" in win.device_label.text(), timeout=10000)
    open_shot(qtbot, win, grey_clip.video)

    got = []

    def on_frame(g, i, *_):
        got.append((g, i))
        if len(got) == 2:
            win.cancel_propagation()
    win.workers.worker.frameReady.connect(on_frame)
    paint(qtbot, win, stroke_over_object(sc, 0))
    gen = win.generation
    with qtbot.waitSignal(win.propagationFinished, timeout=20000,
                          check_params_cb=lambda g, ok: g == gen) as sig:
        pass
    assert sig.args == [gen, False]
    assert len(got) < grey_clip.frames            # stopped between frames
    qtbot.wait(200)
    n = len(got)
    qtbot.wait(200)
    assert len(got) == n                           # nothing more streams after the cancel
    from app.gui.timeline import STALE
    assert (win.timeline.states == STALE).any()    # the rest is marked stale, not done
    win.workers.worker.frameReady.disconnect(on_frame)

    # Let it finish, then cancel a running export (slowed the same way).
    win.repropagate()
    wait_done(qtbot, win)
    real = ed.compose_full
    monkeypatch.setattr(ed, "compose_full", lambda *a: (time.sleep(0.05), real(*a))[1])
    dlg = win.export_dialog()
    dlg.set_format("h264")
    out = tmp_path / "cancelled.mp4"
    dlg.path.setText(str(out))
    progress = []
    with qtbot.waitSignal(dlg.finished_export, timeout=30000) as sig:
        assert dlg.start()
        dlg.job.progress.connect(lambda d, t: (progress.append(d), len(progress) == 2 and dlg.cancel()))
    assert sig.args[0] is False and "cancel" in sig.args[1].lower()
    assert not out.exists()                        # partial output removed
    assert win.isEnabled()
