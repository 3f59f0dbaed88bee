"""The editor's work is never lost (found by a hostile test on real processes and files).

- An editor killed after an autosave: reopening its project (or its video, for work never
  saved) offers the autosave. Only a start with no file did; `hueshot p.hueshot` opened the last
  saved version without a word, and the question printed a Python repr. A running editor's
  autosave is not offered to a second one as a crash's ("No" deleted it).
- Two editors on one project: the second save replaced the first one's work (and deleted its
  keyframe layers) without a word; it now asks, and Cancel keeps the file and the window's edits.
- A video replaced by one of another size: the project's keyframe images were used stretched and
  every keyframe import then failed inside the undo command; they are left out with a warning.
- A project whose video was moved or renamed: the open failed naming only the video, and the
  project could not be opened; the editor now asks where the video is.
- SIGTERM, SIGHUP (a logout, a closed terminal) killed the editor with the edits since the last
  autosave (up to a minute) lost; Ctrl+C printed a traceback and went on. Both now autosave
  and end.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from app.core.project import Project, find_recovery, recovery_dir
from tests.gui.conftest import open_shot, paint

ROOT = Path(__file__).resolve().parents[2]


def answering(win, answer):
    """win.ask answers `answer` and records every question's text."""
    asked = []

    def ask(title, text, buttons, default=None):
        asked.append(f"{title}: {text}")
        return answer
    win.ask = ask
    return asked


def crash_after_a_stroke(qtbot, make_window, video):
    """A window paints one green stroke on `video`, autosaves and goes, with no closeEvent: its
    autosave is left as a crash leaves it."""
    a = make_window()
    open_shot(qtbot, a, video)
    paint(qtbot, a, [(0.2, 0.5), (0.6, 0.5)], color=(30, 200, 40))
    a.autosave()
    a.workers.stop()
    a.hide()


def test_killed_editors_autosave_is_offered_when_its_project_is_reopened(qtbot, make_window, grey_clip, tmp_path):
    path = Project(grey_clip.video).save(tmp_path / "p.hueshot")
    marker = tmp_path / "autosaved"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err_file:
        child = subprocess.Popen([sys.executable, "-m", "tests.gui.crash_child", str(path),
                                  str(tmp_path / "child.ini"), str(marker)], cwd=ROOT, env=env,
                                 stdout=subprocess.DEVNULL, stderr=err_file)
    try:
        qtbot.waitUntil(lambda: marker.exists() or child.poll() is not None, timeout=120000)
        assert marker.exists(), log.read_text()[-3000:]
        assert marker.read_text().strip() == "1"

        # while that editor runs, its autosave is its own: a second one started without a file
        # does not offer it as a crash's (and "No" would have deleted it)
        win = make_window()
        asked = answering(win, QMessageBox.StandardButton.No)
        win.offer_recovery()
        assert asked == [] and len(list(recovery_dir().glob("*/p.hueshot"))) == 1   # kept
    finally:
        child.kill()                                   # SIGKILL: a crash, no closeEvent
        child.wait()

    # reopening the project (hueshot p.hueshot, File > Open, Open Recent) offers it
    asked = answering(win, QMessageBox.StandardButton.Yes)
    open_shot(qtbot, win, path)
    assert len(asked) == 1 and "Recover" in asked[0] and "p.hueshot" in asked[0], asked
    assert "RecoveryEntry" not in asked[0] and "PosixPath" not in asked[0]
    assert len(win.doc.strokes(0)) == 1 and win.doc.strokes(0)[0].color == (220, 30, 30)
    assert win.doc.path == str(path) and win.isWindowModified()
    assert Project.load(path).strokes == []            # not saved to the user's file yet
    assert win._save_to(str(path))
    assert len(Project.load(path).strokes) == 1 and find_recovery() == []


def test_autosave_of_work_never_saved_is_offered_when_its_video_is_reopened(qtbot, make_window, grey_clip):
    crash_after_a_stroke(qtbot, make_window, grey_clip.video)

    b = make_window()
    asked = answering(b, QMessageBox.StandardButton.Yes)
    open_shot(qtbot, b, grey_clip.video)
    assert len(asked) == 1 and "never saved" in asked[0] and grey_clip.video.name in asked[0], asked
    assert len(b.doc.strokes(0)) == 1 and b.doc.strokes(0)[0].color == (30, 200, 40)
    assert b.isWindowModified() and b.doc.path is None

    # discarded on purpose (Unsaved changes? Discard), it is not offered again
    b.ask = lambda *a: QMessageBox.StandardButton.Discard
    open_shot(qtbot, b, grey_clip.video)
    assert b.doc.strokes(0) == [] and find_recovery() == []


def test_second_window_on_the_same_project_asks_before_replacing_the_first_ones_save(qtbot, make_window, grey_clip,
                                                                                      tmp_path):
    path = Project(grey_clip.video).save(tmp_path / "p.hueshot")
    a, b = make_window(), make_window()
    open_shot(qtbot, a, path)
    open_shot(qtbot, b, path)
    paint(qtbot, a, [(0.2, 0.3), (0.6, 0.3)], color=(220, 30, 30))
    assert a.import_keyframe(str(grey_clip.key_png))
    assert a.save()
    paint(qtbot, b, [(0.2, 0.7), (0.6, 0.7)], color=(30, 200, 40))

    asked = answering(b, QMessageBox.StandardButton.Cancel)       # Ctrl+S in the second window
    assert not b.save()
    assert len(asked) == 1 and "changed on disk" in asked[0], asked
    back = Project.load(path)                                      # the first window's work is there
    assert [s.color for s in back.strokes] == [(220, 30, 30)] and sorted(back.keyframes) == [0]
    assert b.isWindowModified() and "Not saved" in b.status_msg.text()

    asked = answering(b, QMessageBox.StandardButton.Save)          # on purpose: replaced
    assert b.save() and len(asked) == 1
    back = Project.load(path)
    assert [s.color for s in back.strokes] == [(30, 200, 40)] and back.keyframes == {}
    assert not b.isWindowModified()

    # quitting the first window with new edits asks to save; its save asks again, Cancel keeps
    # both the file and the window open with its edits
    paint(qtbot, a, [(0.2, 0.5), (0.6, 0.5)], color=(20, 20, 220))
    answers = iter([QMessageBox.StandardButton.Save, QMessageBox.StandardButton.Cancel])
    a.ask = lambda *args: next(answers)
    a.close()
    assert a.isVisible() and a.isWindowModified() and len(a.doc.p.strokes) == 2
    assert [s.color for s in Project.load(path).strokes] == [(30, 200, 40)]
    a.ask = lambda *args: QMessageBox.StandardButton.Discard


def test_video_replaced_by_one_of_another_size_leaves_its_keyframes_out(qtbot, make_window, make_clip, tmp_path):
    old = make_clip("clip.mp4", width=128, height=96)
    proj = Project(old.video)
    import cv2
    proj.set_keyframe(0, cv2.cvtColor(cv2.imread(str(old.key_png)), cv2.COLOR_BGR2RGB))
    path = proj.save(tmp_path / "p.hueshot")
    new = make_clip("clip.mp4", width=160, height=96)              # same name, another size
    win = make_window()
    open_shot(qtbot, win, path)
    msg = win.last_error or ""
    assert "another size than clip.mp4 (160x96" in msg and "frame 0 (128x96)" in msg, msg
    assert win.doc.key_frames() == set() and win.isWindowModified()
    assert win._last_box.isVisible() and "until you save" in win._last_box.informativeText()
    win._last_box.close()
    # a keyframe at the video's size is accepted (it raised "the other keyframes are 128x96"
    # inside the undo command: a traceback and nothing on screen)
    win.last_error = None
    assert win.import_keyframe(str(new.key_png))
    assert win.doc.key_frames() == {0} and win.last_error is None


def test_project_whose_video_was_moved_asks_where_it_is(qtbot, make_window, grey_clip, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog
    from models.base import HintStroke
    proj = Project(grey_clip.video)
    proj.add_stroke(HintStroke(frame=3, points=[(0.2, 0.5), (0.6, 0.5)], radius=0.05, color=(200, 30, 30)))
    path = proj.save(tmp_path / "p.hueshot")
    moved = grey_clip.video.rename(tmp_path / "renamed.mp4")

    # declined: not opened, and the message names the project's video and where it was
    win = make_window()
    asked = answering(win, QMessageBox.StandardButton.Cancel)
    assert not win.open_path(str(path))
    assert len(asked) == 1 and "Video not found" in asked[0] and str(grey_clip.video) in asked[0], asked
    msg = win.last_error or ""
    assert "p.hueshot" in msg and str(grey_clip.video) in msg and "missing" in msg, msg
    win._last_box.close()

    # located: opened with its strokes, the project refers to the new name once saved
    asked = answering(win, QMessageBox.StandardButton.Open)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(moved), "")))
    open_shot(qtbot, win, path)
    assert win.doc.media_path == str(moved) and len(win.doc.strokes(3)) == 1
    assert win.isWindowModified()
    assert win._save_to(str(path))
    win.ask = lambda *a: QMessageBox.StandardButton.Discard
    assert Project.load(path).source == moved


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_signalled_editor_autosaves_what_was_not_saved(grey_clip, tmp_path, sig):
    marker = tmp_path / "painted"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT),
               XDG_CONFIG_HOME=str(tmp_path / "config"))
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err_file:
        child = subprocess.Popen([sys.executable, "-m", "tests.gui.signal_child", str(grey_clip.video), str(marker)],
                                 cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err_file)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), log.read_text()[-3000:]
        assert find_recovery() == []                   # no autosave yet: its timer is a minute
        child.send_signal(getattr(signal, sig))
        rc = child.wait(timeout=30)
    finally:
        child.kill()
        child.wait()
    err = log.read_text()
    assert rc == 128 + getattr(signal, sig), (rc, err[-3000:])
    assert "Traceback" not in err, err[-3000:]
    (entry,) = find_recovery()                         # the stroke is offered at the next open
    assert entry.source == str(grey_clip.video) and entry.original is None
    assert len(Project.load(entry.path).strokes) == 1


def test_frame_of_the_last_shot_arriving_while_the_next_opens_is_ignored(qtbot, window, make_clip):
    """The display loader's `loaded` for the frame on screen, queued before File > Open of
    another file and delivered after it (no shot yet): _show_current read the luma of no shot,
    an AttributeError in the event loop (seen reopening a video at once: 5 runs in 8)."""
    first, second = make_clip("a.mp4"), make_clip("b.mp4", frames=12)
    win = window
    open_shot(qtbot, win, first.video)
    with qtbot.waitSignal(win.shotOpened, timeout=20000):
        assert win.open_path(str(second.video))
        assert win.luma is None and win.current == 0
        win.loader.loaded.emit(0)              # as the loader thread's queued signal arrives
        win.workers.worker.finished.emit(win.generation, True, 0.01)
    assert win.frame_count() == 12
    qtbot.waitUntil(lambda: win.viewer.frame == 0, timeout=10000)   # the new shot's first frame


def test_escape_on_the_recovery_question_keeps_the_autosave(qtbot, make_window, grey_clip):
    """Escape, or closing the "Recover unsaved work?" box, answered No: the autosave was deleted.
    It now keeps it (Cancel) and opens nothing; the question comes again at the next open."""
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication
    crash_after_a_stroke(qtbot, make_window, grey_clip.video)

    b = make_window()
    del b.ask                                          # the real question, a real QMessageBox
    seen = []

    def press_escape():
        box = QApplication.activeModalWidget()
        if box is None:
            QTimer.singleShot(50, press_escape)
            return
        seen.append(box.text())
        qtbot.keyClick(box, Qt.Key.Key_Escape)
    QTimer.singleShot(50, press_escape)
    assert not b.open_path(str(grey_clip.video))
    assert seen and "Cancel keeps it for later" in seen[0], seen
    assert b.doc is None and "kept" in b.status_msg.text()
    assert len(find_recovery()) == 1                   # still there

    asked = answering(b, QMessageBox.StandardButton.Yes)
    open_shot(qtbot, b, grey_clip.video)
    assert len(asked) == 1 and len(b.doc.strokes(0)) == 1
    b.ask = lambda *args: QMessageBox.StandardButton.Discard


def test_autosave_of_edits_undone_is_not_offered_when_the_project_is_opened_again(qtbot, window, make_clip, tmp_path):
    clip, other = make_clip("a.mp4"), make_clip("b.mp4", frames=12)
    path = Project(clip.video).save(tmp_path / "p.hueshot")
    win = window
    asked = answering(win, QMessageBox.StandardButton.Yes)
    open_shot(qtbot, win, path)
    paint(qtbot, win, [(0.2, 0.5), (0.6, 0.5)])
    win.autosave()                                     # the minute timer
    win.undo.undo()                                    # back to the file: nothing to save
    assert not win.isWindowModified()
    open_shot(qtbot, win, other.video)                 # dropped without a question
    open_shot(qtbot, win, path)                        # same session: no crash to recover from
    assert asked == [] and win.doc.strokes(0) == [] and find_recovery() == []


def test_an_autosave_that_fails_is_said_once_in_a_box(qtbot, make_window, grey_clip, tmp_path, monkeypatch):
    """The recovery folder cannot be made (a file stands where it should be): the first failed
    autosave says so in a box, not only in the status line that propagation soon overwrites;
    the next failures do not repeat the box; after one that works, a new failure says it again."""
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    monkeypatch.setenv("HUESHOT_RECOVERY_DIR", str(blocker / "recovery"))
    win = make_window()
    errors = []
    win._error = lambda msg, detail=None: errors.append((msg, detail))
    open_shot(qtbot, win, grey_clip.video)
    paint(qtbot, win, [(0.2, 0.5), (0.6, 0.5)])
    win.autosave()
    assert len(errors) == 1 and errors[0][0].startswith("Autosave failed:") and "Save the project" in errors[0][1]
    win.autosave()
    assert len(errors) == 1 and win.status_msg.text().startswith("Autosave failed:")
    monkeypatch.setenv("HUESHOT_RECOVERY_DIR", str(tmp_path / "recovery"))
    win.autosave()                                   # works again
    assert len(errors) == 1 and find_recovery()
    monkeypatch.setenv("HUESHOT_RECOVERY_DIR", str(blocker / "recovery"))
    paint(qtbot, win, [(0.2, 0.3), (0.6, 0.3)])
    win.autosave()
    assert len(errors) == 2


def test_an_autosave_is_offered_when_its_video_is_opened_through_a_symlinked_folder(
        qtbot, make_window, grey_clip, tmp_path):
    """Work autosaved on a video opened by its real path is offered when the same video is opened
    through a symlinked folder (the match compared absolute paths, not resolved ones)."""
    link = tmp_path / "linked"
    link.symlink_to(grey_clip.video.parent, target_is_directory=True)
    crash_after_a_stroke(qtbot, make_window, grey_clip.video)

    b = make_window()
    asked = answering(b, QMessageBox.StandardButton.Yes)
    open_shot(qtbot, b, link / grey_clip.video.name)
    assert len(asked) == 1 and "never saved" in asked[0], asked
    assert len(b.doc.strokes(0)) == 1 and b.doc.strokes(0)[0].color == (30, 200, 40)
