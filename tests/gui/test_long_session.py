"""A long editing session in the real window: every kind of edit undone and redone with the
keys, a redo dropped by a new edit, save and reopen exact; autosave and crash recovery.

Found by a hostile tester walking such a session:
- Undoing back to the saved project left the last autosave (with the undone edits) in the
  recovery folder: after a crash, reopening the project offered the undone edits back as
  "unsaved work", and Yes restored them.
- The first autosave of a session encoded every keyframe image of the project again as PNG
  on the GUI thread (the recovery folder had none of them): seconds with twenty 1080p
  keyframes, the editor frozen once a minute had passed after the first edit.
"""
from __future__ import annotations

import json

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from app.core.project import Project, find_recovery, layers_dir_for
from tests.conftest import write_png
from tests.gui.conftest import open_shot, paint, seek_shown, wait_done
from tests.gui.test_editor_ux import keys
from tests.gui.test_work_kept import answering

CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier


def snapshot(win) -> str:
    """Everything an edit can change in the document, exactly (stroke points, radius, colour,
    frame; keyframe images by hash; marks, shots, stroke reach)."""
    p = win.doc.p
    return json.dumps({
        "strokes": sorted([s.id, s.frame, [[float(x), float(y)] for x, y in s.points], s.radius, list(s.color),
                           s.erase] for s in p.strokes),
        "keys": {f: p.keyframe_hash(f) for f in sorted(p.keyframes)},
        "range": [p.in_point, p.out_point], "shots": [list(s) for s in p.shots], "hint": p.hint_method,
    }, sort_keys=True)


def crash(win) -> None:
    """The window goes as a SIGKILL leaves it: no closeEvent, its autosave as it was."""
    win.workers.stop()
    win.hide()


def test_every_kind_of_edit_undone_redone_and_reopened_exactly(qtbot, make_window, make_clip, tmp_path):
    clip = make_clip(frames=48)
    win = make_window()
    open_shot(qtbot, win, clip.video)
    qtbot.waitUntil(lambda: win.luma.complete, timeout=30000)
    snaps = [snapshot(win)]

    def edit(do):
        do()
        snaps.append(snapshot(win))
        assert snaps[-1] != snaps[-2], f"edit {len(snaps) - 1} changed nothing"

    edit(lambda: paint(qtbot, win, [(0.2, 0.5), (0.5, 0.5)], color=(220, 30, 30)))
    keys(qtbot, win, Qt.Key.Key_Right, SHIFT)
    qtbot.waitUntil(lambda: win.viewer.frame == 10, timeout=10000)
    edit(lambda: paint(qtbot, win, [(0.6, 0.3), (0.8, 0.3)], color=(30, 200, 30), radius=0.05))
    edit(lambda: paint(qtbot, win, [(0.65, 0.3), (0.7, 0.3)], tool="eraser"))
    seek_shown(qtbot, win, 30)
    edit(lambda: keys(qtbot, win, Qt.Key.Key_B, CTRL))                      # split at 30
    edit(lambda: win.import_keyframe(str(write_png(tmp_path / "k30.png", clip.scene.rgb(30)))))
    edit(lambda: win.reach_actions["gate"].trigger())
    keys(qtbot, win, Qt.Key.Key_Left, SHIFT)
    edit(lambda: keys(qtbot, win, Qt.Key.Key_I))
    keys(qtbot, win, Qt.Key.Key_End)
    edit(lambda: keys(qtbot, win, Qt.Key.Key_O))
    seek_shown(qtbot, win, 30)
    edit(lambda: keys(qtbot, win, Qt.Key.Key_B, CTRL | SHIFT))              # merge again
    seek_shown(qtbot, win, 10)
    edit(lambda: keys(qtbot, win, Qt.Key.Key_Backspace, CTRL))              # clear frame 10's hints
    seek_shown(qtbot, win, 30)
    edit(lambda: win.remove_keyframe_image())
    assert win.undo.count() == len(snaps) - 1

    for i in range(len(snaps) - 1, 0, -1):           # all the way down, while the worker runs
        keys(qtbot, win, Qt.Key.Key_Z, CTRL)
        assert snapshot(win) == snaps[i - 1], f"undo of edit {i}"
    assert not win.isWindowModified()
    for i in range(1, len(snaps)):
        keys(qtbot, win, Qt.Key.Key_Y, CTRL)
        assert snapshot(win) == snaps[i], f"redo of edit {i}"
    for _ in range(3):
        keys(qtbot, win, Qt.Key.Key_Z, CTRL)
    seek_shown(qtbot, win, 40)
    paint(qtbot, win, [(0.3, 0.3), (0.4, 0.6)], color=(40, 60, 220))       # a new edit drops the redo
    assert not win.undo.canRedo()
    keys(qtbot, win, Qt.Key.Key_Y, CTRL)
    assert len(win.doc.strokes(40)) == 1 and snapshot(win) != snaps[-1]
    wait_done(qtbot, win, 120000)

    proj = tmp_path / "long.hueshot"
    assert win._save_to(str(proj))
    final, shown = snapshot(win), win.viewer.current_rgb().copy()
    rgb = [win.store.rgb(i).copy() for i in range(win.frame_count())]
    win.close()
    again = make_window()
    open_shot(qtbot, again, proj)
    assert snapshot(again) == final
    assert again.current == 40 and again.tools.color == (40, 60, 220)
    wait_done(qtbot, again, 120000)
    qtbot.waitUntil(lambda: again.viewer.color_img is not None, timeout=10000)
    assert "kept from the project's cache" in again.status_msg.text()   # nothing computed again
    # the colour comes back from the project's cache, whose ab is float16 (app.core.cache): the
    # composed RGB within two levels of what the session showed (measured: 0-2)
    assert int(np.abs(again.viewer.current_rgb().astype(int) - shown).max()) <= 2
    d = [int(np.abs(again.store.rgb(i).astype(int) - rgb[i]).max()) for i in range(len(rgb))]
    assert max(d) <= 2, d


def test_edits_undone_back_to_the_saved_project_are_not_offered_after_a_crash(qtbot, make_window, grey_clip, tmp_path):
    path = Project(grey_clip.video).save(tmp_path / "p.hueshot")
    a = make_window()
    open_shot(qtbot, a, path)
    paint(qtbot, a, [(0.2, 0.5), (0.6, 0.5)])
    a.autosave()                                     # the minute timer
    assert len(find_recovery()) == 1
    keys(qtbot, a, Qt.Key.Key_Z, CTRL)               # back to the file
    assert not a.isWindowModified()
    crash(a)

    b = make_window()
    asked = answering(b, QMessageBox.StandardButton.Yes)
    open_shot(qtbot, b, path)
    assert asked == [] and b.doc.strokes(0) == []

    # edits after that are autosaved again, and a redo after the undo too
    paint(qtbot, b, [(0.2, 0.5), (0.6, 0.5)])
    keys(qtbot, b, Qt.Key.Key_Z, CTRL)
    keys(qtbot, b, Qt.Key.Key_Y, CTRL)
    b.autosave()
    crash(b)
    c = make_window()
    asked = answering(c, QMessageBox.StandardButton.Yes)
    open_shot(qtbot, c, path)
    assert len(asked) == 1 and len(c.doc.strokes(0)) == 1
    # the recovered work's copy stays until it is saved: a crash now still finds it
    crash(c)
    assert len(find_recovery()) == 1


def test_the_first_autosave_of_a_session_does_not_encode_the_keyframes_again(qtbot, make_window, make_clip,
                                                                             tmp_path, monkeypatch):
    import cv2
    clip = make_clip(frames=24)
    p = Project(clip.video)
    for f in (0, 8, 16):
        p.set_keyframe(f, clip.scene.rgb(f))
    path = p.save(tmp_path / "p.hueshot")
    win = make_window()
    open_shot(qtbot, win, path)
    seek_shown(qtbot, win, 4)
    paint(qtbot, win, [(0.2, 0.5), (0.6, 0.5)])

    encoded = []
    real = cv2.imencode

    def imencode(ext, img, *a):
        encoded.append(img.shape)
        return real(ext, img, *a)
    monkeypatch.setattr(cv2, "imencode", imencode)
    win.autosave()                                   # on the GUI thread
    assert encoded == [], "the autosave encoded the project's keyframe PNGs again"
    monkeypatch.setattr(cv2, "imencode", real)

    crash(win)
    rec = find_recovery()
    assert len(rec) == 1
    got = Project.load(rec[0].path)
    assert sorted(got.keyframes) == [0, 8, 16] and len(got.strokes) == 1
    for f in (0, 8, 16):
        assert np.array_equal(got.keyframe(f), clip.scene.rgb(f))
    # the project's own layers are untouched by the recovery copy going away
    own = sorted(q.name for q in layers_dir_for(path).iterdir())
    from app.core.project import discard_recovery
    discard_recovery(rec[0])
    assert sorted(q.name for q in layers_dir_for(path).iterdir()) == own
    assert sorted(Project.load(path).keyframes) == [0, 8, 16]
