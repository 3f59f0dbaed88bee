"""The editor's work is never lost through the project file (found by a hostile test): a second
editor's save does not silently replace the first one's, a running editor's autosave is not
taken for a crash's, keyframe images of another size than the video are left out where the
video's size comes in."""
from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from app.core.project import Project, ProjectChangedOnDisk, autosave, find_recovery
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
