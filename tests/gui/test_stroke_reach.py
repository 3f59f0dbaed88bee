"""Tools > Stroke Reach: the hint method a project paints with. Real widgets, a real mouse
stroke, the real QAction; the choice re-colours the painted keyframe, is undoable, is saved
with the project and is what `hueshot render PROJECT` uses."""
from __future__ import annotations

import numpy as np

from app.core.project import Project
from app.core.render import job_from_project
from tests.gui.conftest import open_shot, paint, wait_done
from tests.gui.test_main_window import stroke_over_object


def test_stroke_reach_recolours_the_key_is_undoable_and_saved(qtbot, make_window, grey_clip, tmp_path):
    win = make_window()
    sc = grey_clip.scene
    open_shot(qtbot, win, grey_clip.video)
    paint(qtbot, win, stroke_over_object(sc, 0), color=(220, 30, 30))
    wait_done(qtbot, win)
    local = win.store.ab(0).copy()
    far = win.reach_actions["gate"]
    assert win.reach_actions[None].isChecked() and far.isEnabled() and not far.isChecked()

    far.trigger()
    wait_done(qtbot, win)
    assert far.isChecked() and win.doc.hint_method() == "gate"
    assert win.undo.undoText().startswith("Stroke reach: Far")
    reached = win.store.ab(0).copy()
    assert np.abs(reached - local).mean() > 0.5          # the key's colour changed

    win.undo.undo()                                      # back to Local: the old chroma, cached
    wait_done(qtbot, win)
    assert win.reach_actions[None].isChecked() and win.doc.hint_method() is None
    assert np.abs(win.store.ab(0) - local).max() < 0.1

    win.undo.redo()
    wait_done(qtbot, win)
    assert np.abs(win.store.ab(0) - reached).max() < 0.1
    proj = tmp_path / "shot.hueshot"
    assert win._save_to(str(proj))
    saved = Project.load(proj)
    assert saved.hint_method == "gate"
    assert job_from_project(saved, tmp_path / "out.mp4").hint_method == "gate"

    far.trigger()                                        # clicking the checked entry keeps it
    assert far.isChecked() and win.doc.hint_method() == "gate"
    win.doc.set_hint_method("spread")                    # a method the menu does not list
    assert not any(a.isChecked() for a in win.reach_actions.values())
    win.reach_actions[None].trigger()
    assert win.reach_actions[None].isChecked() and win.doc.hint_method() is None
