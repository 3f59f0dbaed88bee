"""The editor's work is never lost through the project file (found by a hostile test): a running
editor's autosave is not taken for a crash's."""
from __future__ import annotations

import json
import os
import subprocess

import numpy as np

from app.core.project import Project, autosave, find_recovery
from models.base import HintStroke


def key_image(seed=0, w=64, h=48):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def stroke(frame=0, color=(200, 30, 30), points=None):
    return HintStroke(frame=frame, points=points or [(0.1, 0.2), (0.3, 0.4)], radius=0.02, color=color)


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
