"""The Shots dock as a shot list (issue 14): a thumbnail per row, made off the GUI thread, grey
before the shot has colour and in colour after; and a "rendered" state that a real File >
Export of the shot sets, that an edit of the shot's colour or a missing output drops, and that
the saved project keeps. Real MainWindow, real key and mouse events, the real export path."""
from __future__ import annotations

import json
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from tests.gui.conftest import paint, seek_shown, wait_done  # noqa: E402
from tests.gui.test_gui_thread import _record_luma_reads  # noqa: E402
from tests.reel.conftest import build_reel, key, open_scanned  # noqa: E402

CTRL = Qt.KeyboardModifier.ControlModifier
PLACEHOLDER = (58, 58, 62)


@pytest.fixture
def reel2(tmp_path, monkeypatch):
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "_cache"))
    return build_reel(tmp_path / "reel2.mp4", lengths=(20, 22))


def show_dock(win):
    """Give the Shots dock room for both rows (at 900x600 the tools dock, 484 px at least,
    leaves it 54 px: one row)."""
    from PySide6.QtWidgets import QDockWidget
    win.resize(900, 900)
    docks = [win.findChild(QDockWidget, n) for n in ("shotsDock", "toolsDock")]
    win.resizeDocks(docks, [300, 500], Qt.Orientation.Vertical)


def box_pixels(panel, k) -> np.ndarray:
    """The pixels the dock shows in row k's thumbnail box (a grab of the real viewport)."""
    img = panel.viewport().grab().toImage()
    r = panel.thumb_rect(panel.visualItemRect(panel.item(k)))
    assert img.rect().contains(r), (img.rect(), r)          # the row is visible
    px = [img.pixelColor(x, y) for y in range(r.top() + 2, r.bottom() - 1, 2)
          for x in range(r.left() + 2, r.right() - 1, 2)]
    return np.array([(c.red(), c.green(), c.blue()) for c in px], np.int32)


def shows_thumb(panel, k) -> bool:
    px = box_pixels(panel, k)
    return not (px == PLACEHOLDER).all(axis=1).all()


def chroma(px) -> float:
    """Mean distance from grey of the box's pixels (0 for R = G = B)."""
    return float((px.max(1) - px.min(1)).mean())


def states(panel):
    return [panel.item(k).text().rsplit("   ", 1)[-1] for k in range(panel.count())]


def test_rows_show_thumbnails_grey_then_colour_made_off_the_gui_thread(qtbot, win, reel2, monkeypatch):
    show_dock(win)
    open_scanned(qtbot, win, reel2.video)
    panel = win.shot_panel
    assert panel.shots == reel2.shots and panel.isVisible()
    # a reopen: a new store with no chunk in memory; the rows' thumbnails still come, from the
    # display loader's thread
    calls = _record_luma_reads(monkeypatch)
    win.undo.setClean()
    open_scanned(qtbot, win, reel2.video)
    qtbot.waitUntil(lambda: shows_thumb(panel, 0) and shows_thumb(panel, 1), timeout=20000)
    for k in (0, 1):
        px = box_pixels(panel, k)
        assert chroma(px) < 1.0                          # grey: no colour in either shot yet
        assert px.std() > 5                              # a picture, not a flat box
    on_gui = [c for c in calls if c[2]]
    assert calls and not on_gui, f"luma read on the GUI thread: {on_gui}"
    # the second shot gets a keyframe: its row turns colour, the first stays grey
    from app.gui.commands import SetKeyImage
    a1 = reel2.shots[1][0]
    win.undo.push(SetKeyImage(win.doc, a1, reel2.frames[a1]))
    wait_done(qtbot, win)
    qtbot.waitUntil(lambda: chroma(box_pixels(panel, 1)) > 20, timeout=20000)
    assert chroma(box_pixels(panel, 0)) < 1.0
    assert states(panel) == ["grey", "propagated"]
    # undone: grey again
    key(qtbot, win, Qt.Key.Key_Z, CTRL)
    wait_done(qtbot, win)
    qtbot.waitUntil(lambda: chroma(box_pixels(panel, 1)) < 1.0, timeout=20000)
    assert not [c for c in calls if c[2]]


def export_marked(qtbot, win, out):
    """File > Export of the in/out range, as previewed, through the real dialog and its thread."""
    dlg = win.export_dialog()
    assert dlg.range.currentIndex() == 1                 # the marks: the shot
    dlg.set_method(None)
    dlg.set_format("h264")
    dlg.path.setText(str(out))
    qtbot.mouseClick(dlg.start_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.result is not None, timeout=120000)
    assert dlg.result[0], dlg.result
    dlg.close()
    win.activateWindow()                                 # the editor's shortcuts again
    qtbot.waitUntil(win.isActiveWindow, timeout=5000)
    return dlg


def test_rendered_state_set_by_export_dropped_by_edits_kept_by_save(qtbot, win, reel2, tmp_path):
    show_dock(win)
    open_scanned(qtbot, win, reel2.video)
    panel = win.shot_panel
    (a0, b0), (a1, b1) = reel2.shots
    seek_shown(qtbot, win, a0 + 2)
    paint(qtbot, win, [(0.3, 0.5), (0.6, 0.5)])          # a real stroke in shot 1
    wait_done(qtbot, win)
    qtbot.waitUntil(lambda: states(panel) == ["propagated", "grey"], timeout=10000)
    key(qtbot, win, Qt.Key.Key_S, Qt.KeyboardModifier.AltModifier)      # Mark This Shot
    assert win.doc.marks() == (a0, b0)
    win.undo.setClean()
    out = tmp_path / "shot1.mp4"
    export_marked(qtbot, win, out)
    assert out.is_file()
    qtbot.waitUntil(lambda: states(panel) == ["rendered", "grey"], timeout=10000)
    assert "shot1.mp4" in panel.item(0).toolTip()
    assert not win.undo.isClean()                        # the record is unsaved work
    # saved with the project
    path = tmp_path / "reel2.hueshot"
    assert win._save_to(str(path))
    saved = json.loads(path.read_text())["settings"]["rendered"]
    assert [(r["start"], r["end"], r["output"]) for r in saved] == [(a0, b0, str(out))]
    # a stroke in the rendered shot changes its colour: not rendered any more; undo: it is again
    seek_shown(qtbot, win, a0 + 10)
    paint(qtbot, win, [(0.2, 0.3), (0.4, 0.3)], color=(30, 60, 220))
    wait_done(qtbot, win)
    qtbot.waitUntil(lambda: states(panel) == ["propagated", "grey"], timeout=10000)
    key(qtbot, win, Qt.Key.Key_Z, CTRL)
    wait_done(qtbot, win)
    qtbot.waitUntil(lambda: states(panel) == ["rendered", "grey"], timeout=10000)
    # a stroke in the other shot leaves shot 1 rendered
    seek_shown(qtbot, win, a1 + 3)
    paint(qtbot, win, [(0.3, 0.6), (0.6, 0.6)], color=(40, 200, 60))
    wait_done(qtbot, win)
    qtbot.waitUntil(lambda: states(panel) == ["rendered", "propagated"], timeout=10000)
    key(qtbot, win, Qt.Key.Key_Z, CTRL)
    wait_done(qtbot, win)
    win.undo.setClean()
    # reopened: the saved state is kept
    open_scanned(qtbot, win, path)
    wait_done(qtbot, win)
    qtbot.waitUntil(lambda: states(panel) == ["rendered", "grey"], timeout=20000)
    # the output removed: the state goes (checked every few seconds, no event needed)
    out.unlink()
    qtbot.waitUntil(lambda: states(panel) == ["propagated", "grey"], timeout=10000)


def test_an_edit_during_the_export_is_not_rendered(qtbot, win, reel2, tmp_path):
    show_dock(win)
    open_scanned(qtbot, win, reel2.video)
    panel = win.shot_panel
    (a0, b0), _ = reel2.shots
    paint(qtbot, win, [(0.3, 0.5), (0.6, 0.5)])
    wait_done(qtbot, win)
    key(qtbot, win, Qt.Key.Key_S, Qt.KeyboardModifier.AltModifier)
    dlg = win.export_dialog()
    dlg.set_method(None)
    dlg.set_format("h264")
    dlg.path.setText(str(tmp_path / "during.mp4"))
    qtbot.mouseClick(dlg.start_btn, Qt.MouseButton.LeftButton)
    seek_shown(qtbot, win, a0 + 5)
    paint(qtbot, win, [(0.2, 0.3), (0.4, 0.3)], color=(30, 60, 220))     # while it runs
    assert dlg.running()                                 # (it was still running)
    qtbot.waitUntil(lambda: dlg.result is not None, timeout=120000)
    assert dlg.result[0], dlg.result
    dlg.close()
    win.activateWindow()
    wait_done(qtbot, win)
    assert states(panel)[0] != "rendered"                # part of the file has the old colour
    assert "rendered" not in win.doc.p.settings
    # exported again with nothing changing meanwhile: rendered, to the new file
    export_marked(qtbot, win, tmp_path / "after.mp4")
    qtbot.waitUntil(lambda: states(panel) == ["rendered", "grey"], timeout=10000)
    assert [r["output"] for r in win.doc.p.settings["rendered"]] == [str(tmp_path / "after.mp4")]


def test_export_as_previewed_writes_a_shot_without_keys_grey_and_next_shot_stays_in_the_last(
        qtbot, win, reel2, tmp_path):
    """File > Export of the whole reel, as previewed, with a stroke in shot 1 only: shot 2 has
    no key, no propagation will ever colour it, and it is written grey (the export used to
    wait for it forever). Page Down in the last shot stays there (it went back to its start)."""
    import av

    from app.core.media import open_media
    open_scanned(qtbot, win, reel2.video)
    (a0, b0), (a1, b1) = reel2.shots
    seek_shown(qtbot, win, a0 + 2)
    paint(qtbot, win, [(0.3, 0.5), (0.6, 0.5)])
    wait_done(qtbot, win)
    dlg = win.export_dialog()
    dlg.range.setCurrentIndex(0)                         # the whole shot (the reel)
    dlg.set_method(None)
    dlg.set_format("h264")
    out = tmp_path / "all.mp4"
    dlg.path.setText(str(out))
    qtbot.mouseClick(dlg.start_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.result is not None, timeout=60000)
    assert dlg.result[0], dlg.result
    dlg.close()
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == b1 + 1
    assert chroma(frames[a0 + 2].reshape(-1, 3)) > 3          # the stroked shot has colour
    assert all(chroma(f.reshape(-1, 3)) < 2 for f in frames[a1:])   # the other is grey
    win.seek(b1 - 2)
    win.shot_panel.next_shot()
    assert win.current == b1 - 2
    win.shot_panel.previous_shot()
    assert win.current == a1


def test_a_bad_colour_in_a_projects_editor_state_is_ignored_and_strokes_still_land(qtbot, win, reel2, tmp_path):
    """A hand-edited project whose remembered brush colour has two values: the editor state is
    ignored (a warning), the brush keeps a real colour, and a stroke reaches the document (it
    used to fail in the palette on every stroke, without a word)."""
    open_scanned(qtbot, win, reel2.video)
    path = tmp_path / "p.hueshot"
    assert win._save_to(str(path))
    data = json.loads(path.read_text())
    data["settings"]["editor"]["colour"] = [200, 40]
    path.write_text(json.dumps(data))
    win.undo.setClean()
    open_scanned(qtbot, win, path)
    assert len(win.tools.color) == 3
    seek_shown(qtbot, win, 3)
    paint(qtbot, win, [(0.3, 0.5), (0.6, 0.5)], color=(200, 60, 40))
    wait_done(qtbot, win)
    assert 3 in win.doc.key_frames()
    assert "frames are in colour" in win.status_msg.text() or "Propagated" in win.status_msg.text()


def test_a_quick_undo_and_redo_leaves_no_frame_without_its_colour(qtbot, win, reel2):
    """A stroke, then Undo and Redo at once, several times: the superseded run caches frames
    after the new run has looked, the new run skips them as done; when it finishes every frame
    of the stroked shot shows as propagated (before: the keyframe itself was often left "no
    colour yet" until Ctrl+R)."""
    from app.gui.timeline import DONE
    from app.gui.worker import plan_frames
    open_scanned(qtbot, win, reel2.video)
    for k, delay in enumerate((0, 5, 10, 20, 40)):
        seek_shown(qtbot, win, 0)
        paint(qtbot, win, [(0.2, 0.1 + 0.1 * k), (0.5, 0.1 + 0.1 * k)], color=(30 + 20 * k, 200, 40))
        qtbot.wait(delay)
        win.act_undo.trigger()
        win.act_redo.trigger()
        wait_done(qtbot, win)
        wk = win.workers.worker
        sigs, _ = plan_frames(win._specs(), win.frame_count(), wk.context, wk.segment_local, wk.shots)
        holes = [i for i, s in enumerate(sigs) if s is not None and int(win.timeline.states[i]) != DONE]
        assert holes == [], (delay, holes)
