"""A project whose keyframes, hint strokes or marks refer to frames past the end of its video
(found by a hostile test: it opened without a word and failed only at export). The editor opens
it, leaves those items out with a warning that lists them and the clip's length, marks the
document modified, and the rest is edited and exported; the file keeps them until it is saved.
Real window, a real project file written by app.core.project, a real export."""
from __future__ import annotations

import json

import cv2

from app.core.project import Project
from models.base import HintStroke
from tests.gui.conftest import open_shot, wait_done
from tests.gui.test_main_window import export_and_decode, stroke_over_object


def test_project_with_frames_past_the_end_opens_without_them_and_exports(qtbot, make_window, grey_clip, tmp_path):
    n = grey_clip.frames                                         # 24
    proj = Project(grey_clip.video)
    key0 = cv2.cvtColor(cv2.imread(str(grey_clip.key_png)), cv2.COLOR_BGR2RGB)
    proj.set_keyframe(0, key0)                                   # in the clip: kept
    proj.set_keyframe(40, key0)                                  # past the end
    pts = stroke_over_object(grey_clip.scene, 0)
    proj.add_stroke(HintStroke(frame=5, points=pts, radius=0.05, color=(30, 200, 40)))   # kept
    for f in (30, 30, 41):
        proj.add_stroke(HintStroke(frame=f, points=pts, radius=0.05, color=(200, 30, 30)))
    proj.set_range(2, 50)
    path = proj.save(tmp_path / "longer.hueshot")
    on_disk = path.read_text()

    win = make_window()
    open_shot(qtbot, win, path)
    msg = win.last_error or ""
    assert "longer.hueshot refers to frames past the end of clip.mp4 (24 frames, 0–23)" in msg, msg
    assert "keyframe 40" in msg and "3 hint strokes on frames 30 (2), 41" in msg, msg
    assert "the out mark at frame 50" in msg, msg
    assert win._last_box.isVisible() and "keyframe 40" in win._last_box.text()
    assert "until you save" in win._last_box.informativeText()
    assert win.doc.key_frames() == {0, 5} and win.doc.marks() == (2, None)
    assert win.timeline.keyframes == {0, 5} and win.timeline.mark_out is None
    assert all(s.frame < n for s in win.doc.p.strokes) and len(win.doc.p.strokes) == 1
    assert win.isWindowModified()                                # quitting asks to save
    assert path.read_text() == on_disk                           # the file is untouched until saved
    win._last_box.close()

    # the rest is edited and exported as usual: the marked range, 2..23
    wait_done(qtbot, win)
    dlg = win.export_dialog()
    assert dlg.frame_range() == (2, n)
    frames = export_and_decode(qtbot, dlg, tmp_path / "out.mkv", None)
    assert len(frames) == n - 2
    dlg.close()

    # saved: the file no longer has them, and opens without a warning
    assert win._save_to(str(path))
    data = json.loads(path.read_text())
    assert [k["frame"] for k in data["keyframes"]] == [0] and [s["frame"] for s in data["strokes"]] == [5]
    assert data["range"] == {"in": 2, "out": None}
    win.close()
    win2 = make_window()
    open_shot(qtbot, win2, path)
    assert win2.last_error is None and not win2.isWindowModified()
    assert win2.doc.key_frames() == {0, 5}
