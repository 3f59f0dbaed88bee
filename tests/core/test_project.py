"""Project document: observers, mutations for undo, save/load, atomicity, broken files, autosave."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from app.core.validate import ValidationError
from app.core.project import (ChangeEvent, Project, ProjectError, autosave, clear_recovery,
                              discard_recovery, find_recovery, layers_dir_for, load_strokes, recover)
from models.base import HintStroke


def key_image(seed=0, w=64, h=48):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def stroke(frame=0, color=(200, 30, 30)):
    return HintStroke(frame=frame, points=[(0.1, 0.2), (0.3, 0.4)], radius=0.02, color=color)


def test_mutations_notify_and_undo_data(tmp_path):
    doc = Project(tmp_path / "v.mp4")
    events: list[ChangeEvent] = []
    unsubscribe = doc.subscribe(events.append)
    assert doc.set_keyframe(5, key_image()) is None
    old = doc.set_keyframe(5, key_image(1))
    assert np.array_equal(old, key_image())
    sid = doc.add_stroke(stroke(5))
    doc.add_stroke(stroke(7))
    s, pos = doc.remove_stroke(sid)
    assert pos == 0 and s.id == sid
    doc.add_stroke(s, position=pos)          # what an undo does
    assert [x.id for x in doc.strokes][0] == sid
    doc.set_range(2, 20)
    doc.set_proxy_height(360)
    assert [e.kind for e in events] == ["keyframe", "keyframe", "strokes", "strokes", "strokes",
                                        "strokes", "range", "settings"]
    assert events[0].frame == 5 and doc.modified
    unsubscribe()
    doc.remove_keyframe(5)
    assert len(events) == 8 and doc.keyframe(5) is None
    with pytest.raises(ValueError):
        doc.set_range(10, 3)
    with pytest.raises(KeyError):
        doc.remove_stroke("nope")


def test_propagation_key_changes_with_content(tmp_path):
    doc = Project(tmp_path / "v.mp4")
    k0 = doc.propagation_key()
    doc.set_keyframe(0, key_image())
    k1 = doc.propagation_key()
    doc.add_stroke(stroke())
    k2 = doc.propagation_key()
    assert len({k0, k1, k2}) == 3
    doc.set_setting("ui.zoom", 2)           # not propagation-relevant
    assert doc.propagation_key() == k2


def test_save_load_round_trip_and_moved_folder(tmp_path):
    shot = tmp_path / "work"
    shot.mkdir()
    video = shot / "footage" / "clip.mp4"
    video.parent.mkdir()
    video.write_bytes(b"stand-in for the video; only its location matters here")
    doc = Project(video)
    doc.set_keyframe(0, key_image(0))
    doc.set_keyframe(30, key_image(3))
    doc.add_stroke(stroke(12, (10, 200, 40)))
    doc.set_range(0, 40)
    doc.set_method("dis_chain")
    doc.set_setting("export.format", "prores")
    path = doc.save(shot / "proj")
    assert path.name == "proj.hueshot" and not doc.modified
    assert sorted(p.name for p in layers_dir_for(path).iterdir())[0].startswith("key_000000_")

    # move the whole folder: the relative source path still finds the video
    moved = tmp_path / "elsewhere"
    shutil.move(str(shot), str(moved))
    doc2 = Project.load(moved / "proj.hueshot")
    assert doc2.source == (moved / "footage" / "clip.mp4").resolve() and doc2.source_exists
    assert sorted(doc2.keyframes) == [0, 30]
    assert np.array_equal(doc2.keyframe(30), key_image(3))
    assert [(s.frame, s.color) for s in doc2.strokes] == [(12, (10, 200, 40))]
    assert (doc2.in_point, doc2.out_point, doc2.method) == (0, 40, "dis_chain")
    assert doc2.settings["export.format"] == "prores"
    assert not doc2.modified

    # moving only the project file: the absolute path still finds the video
    video2 = moved / "footage" / "clip.mp4"
    alone = tmp_path / "alone"
    alone.mkdir()
    doc2.save(alone / "p2.hueshot")
    shutil.move(str(alone), str(tmp_path / "alone2"))
    assert Project.load(tmp_path / "alone2" / "p2.hueshot").source == video2.resolve()


def test_save_replaces_layers_only_after_json(tmp_path):
    doc = Project(tmp_path / "v.mp4")
    doc.set_keyframe(0, key_image(0))
    path = doc.save(tmp_path / "p.hueshot")
    first = {p.name for p in layers_dir_for(path).iterdir()}
    doc.set_keyframe(0, key_image(9))
    doc.save()
    second = {p.name for p in layers_dir_for(path).iterdir()}
    assert len(first) == len(second) == 1 and first != second   # old layer collected
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_interrupted_save_keeps_previous_version(tmp_path, monkeypatch):
    doc = Project(tmp_path / "v.mp4")
    doc.set_keyframe(0, key_image(0))
    path = doc.save(tmp_path / "p.hueshot")
    before = path.read_bytes()
    doc.set_keyframe(0, key_image(5))
    doc.add_stroke(stroke())

    # a crash while the new JSON is being written (after the new layer PNG is on disk)
    import app.core.project as project_mod
    real_replace = os.replace

    def crash_on_json(src, dst):
        if str(dst).endswith(".hueshot"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)
    monkeypatch.setattr(project_mod.os, "replace", crash_on_json)
    with pytest.raises(ProjectError, match="previous version on disk is intact"):
        doc.save()
    monkeypatch.undo()
    assert path.read_bytes() == before
    old = Project.load(path)                       # the old project loads, complete
    assert np.array_equal(old.keyframe(0), key_image(0)) and old.strokes == []
    assert doc.modified
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_broken_and_unsupported_files(tmp_path):
    p = tmp_path / "bad.hueshot"
    p.write_text('{"format": "hueshot-project", "version": 1, "keyframes": [')
    with pytest.raises(ProjectError, match=r"bad.hueshot: project file is broken \(invalid JSON at line 1"):
        Project.load(p)
    p.write_text(json.dumps({"format": "hueshot-project", "version": 99}))
    with pytest.raises(ProjectError, match="newer Hueshot.*version 99"):
        Project.load(p)
    p.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ProjectError, match="not a Hueshot project"):
        Project.load(p)
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(ProjectError, match="not a Hueshot project"):
        Project.load(p)
    p.write_text(json.dumps({"format": "hueshot-project", "version": 1,
                             "keyframes": [{"frame": 3, "image": "key_000003_x.png"}]}))
    with pytest.raises(ProjectError, match="keyframe 3 image .* is missing"):
        Project.load(p)
    p.write_text(json.dumps({"format": "hueshot-project", "version": 1,
                             "strokes": [{"frame": 0, "radius": 0.1}]}))
    with pytest.raises(ProjectError, match="stroke 0 lacks the field 'points'"):
        Project.load(p)
    with pytest.raises(ProjectError, match="no such project file"):
        Project.load(tmp_path / "missing.hueshot")


def test_hint_method_is_saved_checked_and_keys_the_propagation(tmp_path):
    doc = Project(tmp_path / "v.mp4")
    plain = doc.propagation_key()
    path = doc.save(tmp_path / "p.hueshot")
    assert "hint_method" not in json.loads(path.read_text())      # the default writes nothing new
    assert doc.set_hint_method("gate") is None
    assert doc.propagation_key() != plain
    doc.save(path)
    assert Project.load(path).hint_method == "gate"
    with pytest.raises(ValidationError, match="hint method must be one of spread, geo, .*, got .nearest."):
        doc.set_hint_method("nearest")
    doc.set_hint_method("geo")                      # the default by name: the same as unset
    assert doc.hint_method is None and doc.propagation_key() == plain
    doc.save(path)
    assert "hint_method" not in json.loads(path.read_text())
    doc.set_hint_method("gate")
    doc.save(path)
    data = json.loads(path.read_text())
    data["hint_method"] = "nearest"
    path.write_text(json.dumps(data))
    with pytest.raises(ProjectError, match=r"p.hueshot.*hint_method must be one of .*gate\+prior, got .nearest."):
        Project.load(path)


def test_missing_source_still_loads(tmp_path):
    doc = Project(tmp_path / "gone.mp4")
    path = doc.save(tmp_path / "p.hueshot")
    assert not Project.load(path).source_exists


def test_autosave_and_recovery(tmp_path):
    rec = tmp_path / "rec"
    doc = Project(tmp_path / "v.mp4")
    assert autosave(doc, rec) is None               # nothing changed: nothing written
    doc.set_keyframe(0, key_image())
    doc.add_stroke(stroke())
    saved = autosave(doc, rec)
    assert saved is not None and doc.modified       # autosave never marks the doc saved
    entries = find_recovery(rec)
    assert len(entries) == 1 and entries[0].original is None
    back = recover(entries[0])
    assert np.array_equal(back.keyframe(0), key_image()) and len(back.strokes) == 1
    assert back.modified

    # a saved project: autosave remembers where it belongs; saving clears the copy
    doc.save(tmp_path / "p.hueshot")
    doc.add_stroke(stroke(3))
    autosave(doc, rec)
    entries = find_recovery(rec)
    assert entries[0].original == tmp_path / "p.hueshot" and entries[0].name == "p.hueshot"
    back = recover(entries[0])
    assert back.path == tmp_path / "p.hueshot" and len(back.strokes) == 2
    assert back.source == tmp_path / "v.mp4"
    doc.save()
    assert find_recovery(rec) == []

    # the default location comes from HUESHOT_RECOVERY_DIR (set per test by conftest)
    doc.add_stroke(stroke(4))
    autosave(doc)
    assert len(find_recovery()) == 1
    discard_recovery(find_recovery()[0])
    assert find_recovery() == []
    clear_recovery(doc)


def test_hints_file(tmp_path):
    p = tmp_path / "h.json"
    p.write_text(json.dumps([{"frame": 2, "points": [[0.5, 0.5]], "radius": 0.05, "color": [255, 0, 0]}]))
    (s,) = load_strokes(p)
    assert s.frame == 2 and s.color == (255, 0, 0) and s.id
    p.write_text("[{]")
    with pytest.raises(ProjectError, match="h.json: hints file is not valid JSON"):
        load_strokes(p)
    p.write_text(json.dumps([{"frame": 2, "points": [[0.5, 0.5]], "color": [300, 0, 0]}]))
    with pytest.raises(ProjectError, match="stroke 0.*0..255"):
        load_strokes(p)


def test_drop_past_end_leaves_out_what_the_source_does_not_have(tmp_path):
    """The editor calls it once the source's length is known (the file alone does not know it):
    keyframes, strokes and marks past the end are left out and named; the rest stays."""
    doc = Project(tmp_path / "v.mp4")
    doc.set_keyframe(3, key_image())
    doc.set_keyframe(24, key_image(1))
    doc.set_keyframe(99, key_image(2))
    kept = stroke(23)
    doc.add_stroke(kept)
    for f in (24, 30, 30):
        doc.add_stroke(stroke(f))
    doc.set_range(5, 40)
    path = doc.save(tmp_path / "p.hueshot")
    doc = Project.load(path)
    events: list[ChangeEvent] = []
    doc.subscribe(events.append)
    assert doc.drop_past_end(24) == ["keyframes 24, 99", "3 hint strokes on frames 24, 30 (2)",
                                     "the out mark at frame 40 (the range now ends at the last frame)"]
    assert sorted(doc.keyframes) == [3] and [s.id for s in doc.strokes] == [kept.id]
    assert (doc.in_point, doc.out_point) == (5, None)
    assert [e.kind for e in events] == ["trimmed"] and doc.modified      # one change, unsaved
    assert doc.drop_past_end(24) == [] and len(events) == 1              # nothing left to drop
    # an in mark past the end drops the range
    doc.set_range(30, None)
    assert doc.drop_past_end(24) == ["the in mark at frame 30"]
    assert (doc.in_point, doc.out_point) == (None, None)
    doc.set_range(25, 26)
    assert doc.drop_past_end(24) == ["the in mark at frame 25 and the out mark at frame 26"]
    # a project whose frames all fit is untouched
    fresh = Project.load(path)
    assert fresh.drop_past_end(100) == [] and not fresh.modified


def test_a_hand_written_relative_source_path_is_relative_to_the_project(tmp_path, monkeypatch):
    """"source": {"path": "clip.mp4"} (a project written by hand or by a script) was taken
    relative to the working directory: the project opened only from its own folder, and from
    anywhere else its video was 'missing', named by the bare file name."""
    folder = tmp_path / "job"
    (folder / "footage").mkdir(parents=True)
    video = folder / "footage" / "clip.mp4"
    video.write_bytes(b"stand-in for the video")
    proj = folder / "p.hueshot"
    proj.write_text(json.dumps({"format": "hueshot-project", "version": 1,
                                "source": {"path": "footage/clip.mp4"}}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    doc = Project.load(proj)
    assert doc.source_exists and doc.source.resolve() == video.resolve()
    # missing: named with the folder it was looked for in, not as a bare relative name
    video.unlink()
    doc = Project.load(proj)
    assert not doc.source_exists and doc.source.is_absolute()
    assert doc.source.resolve() == video.resolve()
    # saved again, it records both paths from the project's folder
    video.write_bytes(b"back")
    doc = Project.load(proj)
    doc.save(proj)
    src = json.loads(proj.read_text())["source"]
    assert src == {"path": str(video.resolve()), "relative": os.path.join("footage", "clip.mp4")}


def test_two_keyframe_images_for_one_frame_are_refused_naming_both(tmp_path):
    """"keyframes": [{"frame": 0, ...}, {"frame": 0, ...}] (a hand-edited or merged project):
    the second image silently replaced the first, and saving then dropped it for good."""
    doc = Project()
    doc.set_keyframe(0, key_image(0))
    doc.set_keyframe(5, key_image(1))
    path = doc.save(tmp_path / "p.hueshot")
    data = json.loads(path.read_text())
    data["keyframes"][1]["frame"] = 0
    path.write_text(json.dumps(data))
    with pytest.raises(ProjectError, match=r"keyframes\[1\]\.frame is 0, and keyframes\[0\] is frame 0 too"):
        Project.load(path)
    assert len(list(layers_dir_for(path).iterdir())) == 2       # nothing removed
