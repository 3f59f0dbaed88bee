"""The editor's work is never lost through the project file (found by a hostile test): a second
editor's save does not silently replace the first one's, a failed first save leaves nothing
behind and says so, a running editor's autosave is not taken for a crash's, keyframe images
of another size than the video are left out where the video's size comes in."""
from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from app.core.project import (Project, ProjectChangedOnDisk, ProjectError, autosave, find_recovery,
                              layers_dir_for)
from models.base import HintStroke


def key_image(seed=0, w=64, h=48):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def stroke(frame=0, color=(200, 30, 30), points=None):
    return HintStroke(frame=frame, points=points or [(0.1, 0.2), (0.3, 0.4)], radius=0.02, color=color)


def test_second_editor_save_does_not_replace_the_first_ones_without_asking(tmp_path):
    doc = Project(tmp_path / "v.mp4")
    path = doc.save(tmp_path / "p.hueshot")
    a, b = Project.load(path), Project.load(path)          # two editors on the same project
    a.set_keyframe(3, key_image())
    a.add_stroke(stroke(5))
    a.save()
    b.add_stroke(stroke(7, (0, 200, 0)))
    with pytest.raises(ProjectChangedOnDisk, match="changed on disk"):
        b.save()
    back = Project.load(path)                               # a's work is on disk, whole
    assert sorted(back.keyframes) == [3] and [s.frame for s in back.strokes] == [5]
    assert b.modified
    b.save(overwrite=True)                                  # on purpose: b's project replaces it
    assert [s.frame for s in Project.load(path).strokes] == [7]
    b.add_stroke(stroke(8))
    b.save()                                                # its own file again: no question
    a.add_stroke(stroke(9))
    with pytest.raises(ProjectChangedOnDisk):
        a.save()
    # Save As elsewhere is always possible; a file deleted under the editor is simply written
    assert a.save(tmp_path / "a.hueshot") == tmp_path / "a.hueshot"
    (tmp_path / "a.hueshot").unlink()
    a.add_stroke(stroke(10))
    a.save()
    assert [s.frame for s in Project.load(tmp_path / "a.hueshot").strokes] == [5, 9, 10]


def test_failed_first_save_on_a_full_disk_leaves_nothing_and_says_so(small_fs, tmp_path):
    doc = Project(tmp_path / "v.mp4")
    doc.set_keyframe(0, key_image(w=160, h=96))             # ~46 KB of noise: the layer fits
    pts = [(0.5 + 0.001 * i, 0.5) for i in range(300)]
    for k in range(120):                                    # the JSON (~1 MB) does not
        doc.add_stroke(stroke(k, points=pts))
    free = os.statvfs(small_fs)
    (small_fs / "fill").write_bytes(b"x" * (free.f_bavail * free.f_frsize - 96 * 1024))
    with pytest.raises(ProjectError) as e:
        doc.save(small_fs / "p.hueshot")
    msg = str(e.value)
    assert "No space left on device" in msg and "no project file was written" in msg, msg
    assert "previous version" not in msg
    assert sorted(os.listdir(small_fs)) == ["fill"]        # no orphan layers folder, no temp
    assert doc.path is None and doc.modified
    saved = doc.save(tmp_path / "p.hueshot")                # the work is kept: saved elsewhere
    back = Project.load(saved)
    assert len(back.strokes) == 120 and sorted(back.keyframes) == [0]

    # over an existing project the message says the old version is intact, and it is
    os.unlink(small_fs / "fill")
    small = Project(tmp_path / "v.mp4")
    small.add_stroke(stroke(1))
    target = small.save(small_fs / "q.hueshot")
    free = os.statvfs(small_fs)
    (small_fs / "fill").write_bytes(b"x" * (free.f_bavail * free.f_frsize - 96 * 1024))
    for k in range(120):
        small.add_stroke(stroke(k, points=pts))
    small.set_keyframe(0, key_image(1, w=160, h=96))
    with pytest.raises(ProjectError, match="the previous version on disk is intact"):
        small.save()
    assert [s.frame for s in Project.load(target).strokes] == [1]
    assert os.listdir(layers_dir_for(target)) == []         # the new layer went with the failure


def test_a_failure_after_the_new_file_is_written_is_not_a_failed_save(tmp_path, monkeypatch):
    """Forgetting the layers the new file no longer references comes after it is written: a
    failure there was reported as "saving failed; the previous version on disk is intact" while
    the new version was on disk (and the document stayed unsaved)."""
    doc = Project(tmp_path / "v.mp4")
    doc.set_keyframe(0, key_image())
    path = doc.save(tmp_path / "p.hueshot")
    doc.remove_keyframe(0)
    doc.add_stroke(stroke(2))
    import pathlib

    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))
    monkeypatch.setattr(pathlib.Path, "iterdir", refuse)
    assert doc.save() == path and not doc.modified
    monkeypatch.undo()
    back = Project.load(path)
    assert [s.frame for s in back.strokes] == [2] and back.keyframes == {}


def _live_process():
    return subprocess.Popen(["sleep", "60"])


def test_autosave_of_a_running_editor_is_not_offered_as_a_crash(tmp_path):
    rec = tmp_path / "rec"
    doc = Project(tmp_path / "v.mp4")
    doc.add_stroke(stroke())
    copy = autosave(doc, rec)
    assert [e.path for e in find_recovery(rec)] == [copy]     # this process's own copy (tests)
    data = json.loads(copy.read_text())
    assert data["autosaved_by"]["pid"] == os.getpid()

    other = _live_process()                                   # another editor, still running
    try:
        data["autosaved_by"]["pid"] = other.pid
        copy.write_text(json.dumps(data))
        assert find_recovery(rec) == []
        boot = data["autosaved_by"]["boot"]
        if boot is not None:                                  # the same pid in an earlier boot: dead
            data["autosaved_by"]["boot"] = "another-boot"
            copy.write_text(json.dumps(data))
            assert len(find_recovery(rec)) == 1
            data["autosaved_by"]["boot"] = boot
            copy.write_text(json.dumps(data))
    finally:
        other.kill()
        other.wait()
    entries = find_recovery(rec)                              # it died without closing: a crash's
    assert len(entries) == 1 and entries[0].by["pid"] == other.pid
    # the recovered document does not carry the autosave's bookkeeping into the user's file
    from app.core.project import recover
    back = recover(entries[0])
    out = back.save(tmp_path / "r.hueshot")
    saved = json.loads(out.read_text())
    assert not {"autosaved_by", "autosaved_at", "origin", "session_id"} & set(saved)


def test_keyframes_of_another_size_are_left_out_when_the_size_is_known(tmp_path):
    doc = Project(tmp_path / "v.mp4")
    doc.set_keyframe(0, key_image(w=128, h=96))
    doc.set_keyframe(9, key_image(1, w=128, h=96))
    path = doc.save(tmp_path / "p.hueshot")
    back = Project.load(path)
    seen = []
    back.subscribe(seen.append)
    assert back.drop_other_size(128, 96) == [] and not seen and not back.modified
    assert back.drop_other_size(160, 96) == ["frame 0 (128x96)", "frame 9 (128x96)"]
    assert back.keyframes == {} and back.modified and seen[-1].kind == "trimmed"
    back.set_keyframe(4, key_image(2, w=160, h=96))          # the video's size is accepted now
    assert len(json.loads(path.read_text())["keyframes"]) == 2   # the file keeps them until saved


@pytest.mark.parametrize("by", [{"pid": 2**70}, {"pid": -5}, {"pid": True}, {"pid": "12"}, ["x"], 7, None])
def test_a_damaged_autosave_record_is_still_offered(tmp_path, by):
    """What a damaged or hand-edited autosave says of its writer never stops the offer (a pid of
    2**70 raised OverflowError in os.kill: every open failed with it)."""
    rec = tmp_path / "rec"
    doc = Project(tmp_path / "v.mp4")
    doc.add_stroke(stroke())
    copy = autosave(doc, rec)
    data = json.loads(copy.read_text())
    data["autosaved_by"] = by
    copy.write_text(json.dumps(data))
    assert [e.path for e in find_recovery(rec)] == [copy]


@pytest.mark.parametrize("field,value", [("autosaved_at", 1e300), ("autosaved_at", "soon"), ("autosaved_at", -1),
                                         ("source", {"path": 5}), ("origin", 5)])
def test_a_damaged_autosave_time_or_source_is_offered_and_described(tmp_path, monkeypatch, field, value):
    """The question names the autosave's time: a time of 1e300 raised OverflowError in
    time.localtime (every open of the project failed with it), a source path that is no string a
    TypeError, an origin that is no string hid the copy; they are now taken from the file (its
    mtime) or left out."""
    from app.gui.document import find_recovery as find_for, recovery_text
    rec = tmp_path / "rec"
    monkeypatch.setenv("HUESHOT_RECOVERY_DIR", str(rec))
    doc = Project(tmp_path / "v.mp4")
    doc.add_stroke(stroke())
    copy = autosave(doc, rec)
    data = json.loads(copy.read_text())
    data[field] = value
    copy.write_text(json.dumps(data))
    (entry,) = find_recovery(rec)
    assert "autosaved at" in recovery_text(entry)
    assert find_for(str(tmp_path / "other.mp4")) is None
