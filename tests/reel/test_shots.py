"""Cut detection, the disk luma store, `hueshot shots`, shots in the project file."""
from __future__ import annotations

import json

import numpy as np

from app.cli import main
from app.core.reels.lumastore import CHUNK, LumaStore, open_store, user_cache_dir
from app.core.media import LumaCache, open_media
from app.core.project import Project
from app.core.reels.shots import ShotDetector, clip_shots, shots_from_cuts, validate_shots


def test_shots_command_finds_the_cuts(reel, capsys):
    assert main(["shots", str(reel.video), "-q"]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert [tuple(map(int, ln.split())) for ln in lines if ln] == reel.shots


def test_shots_command_json(reel, capsys):
    assert main(["shots", str(reel.video), "--json", "-q"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == [{"start": a, "end": b} for a, b in reel.shots]


def test_continuous_shot_has_no_cut(grey_clip, tmp_path):
    store = open_store(grey_clip.video, tmp_path / "c")
    assert store.shots == [(0, grey_clip.frames - 1)]


def test_store_equals_the_in_memory_luma_and_is_reused(reel, tmp_path):
    src = open_media(reel.video)
    mem = LumaCache.build(src, 480)
    store = LumaStore.open(src, tmp_path / "c", max_chunks=2)
    src.close()
    assert len(store) == len(mem) == len(reel.frames)
    assert len(reel.frames) > 2 * CHUNK          # several chunks, read through a 2-chunk LRU
    for i in list(range(len(store))) + [0, len(store) - 1, CHUNK]:
        np.testing.assert_array_equal(store.raw(i), mem.raw(i))
        np.testing.assert_array_equal(store[i], mem[i])
    chunk0 = next((tmp_path / "c" / "luma").glob("*/chunk_000000.u8"))
    mtime = chunk0.stat().st_mtime_ns
    again = open_store(reel.video, tmp_path / "c")       # a reopen reads the cache, decodes nothing
    assert chunk0.stat().st_mtime_ns == mtime and again.shots == store.shots


def test_changed_source_is_not_served_a_stale_store(reel, tmp_path):
    from tests.reel.conftest import build_reel
    a = open_store(reel.video, tmp_path / "c")
    build_reel(reel.video, lengths=(30, 30))
    b = open_store(reel.video, tmp_path / "c")
    assert a.shots != b.shots and b.shots == [(0, 29), (30, 59)]


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "x"))
    assert user_cache_dir() == tmp_path / "x"


def test_shot_list_helpers():
    assert shots_from_cuts([10, 25, 25, 0, 99], 30) == [(0, 9), (10, 24), (25, 29)]
    assert clip_shots([(0, 9), (10, 24), (25, 29)], 5, 27) == [(5, 9), (10, 24), (25, 26)]
    assert validate_shots([[0, 4], [5, 9]], 10) == [(0, 4), (5, 9)]
    for bad in ([[0, 4], [6, 9]], [[0, 4]], [[1, 9]], [[0, 4], [5, 3], [4, 9]], [["a", 2]]):
        try:
            validate_shots(bad, 10)
        except ValueError as exc:
            assert "shot" in str(exc)
        else:
            raise AssertionError(f"{bad} accepted")


def test_detector_needs_frames_in_order():
    d = ShotDetector()
    d.feed(0, np.zeros((8, 8), np.uint8))
    try:
        d.feed(2, np.zeros((8, 8), np.uint8))
    except ValueError as exc:
        assert "in order" in str(exc)
    else:
        raise AssertionError("out-of-order frame accepted")


def test_project_saves_and_loads_its_shots(reel, tmp_path):
    doc = Project(reel.video)
    events = []
    doc.subscribe(events.append)
    old = doc.set_shots(reel.shots)
    assert old == [] and events[-1].kind == "shots" and doc.modified
    path = doc.save(tmp_path / "p.hueshot")
    assert json.loads(path.read_text())["shots"] == [list(s) for s in reel.shots]
    assert Project.load(path).shots == reel.shots
    try:
        doc.set_shots([(0, 5), (7, 9)])
    except ValueError:
        pass
    else:
        raise AssertionError("a gap between shots accepted")


def test_broken_shots_field_is_a_clear_error(reel, tmp_path):
    from app.core.project import ProjectError
    doc = Project(reel.video)
    path = doc.save(tmp_path / "p.hueshot")
    data = json.loads(path.read_text())
    for bad, words in (([[0, 5], [7, 9]], "without gaps"), ("x", "must be a list"), ([[0, "a"]], "pair of integers")):
        data["shots"] = bad
        path.write_text(json.dumps(data))
        try:
            Project.load(path)
        except ProjectError as exc:
            assert words in str(exc) and "p.hueshot" in str(exc)
        else:
            raise AssertionError(f"{bad!r} accepted")


def test_cut_scores_match_one_to_one_within_a_frame():
    from app.core.benchmarks.bench_reel import cut_scores
    assert cut_scores([10, 21, 40], [10, 20, 30]) == (2 / 3, 2 / 3, 2, 1)
    assert cut_scores([10, 11], [10]) == (0.5, 1.0, 1, 1)        # two finds, one true cut
    assert cut_scores([], [5]) == (1.0, 0.0, 0, 0)


def _detect(frames):
    det = ShotDetector()
    for i, g in enumerate(frames):
        det.feed(i, g)
    return det.shots(len(frames))


def test_a_flash_or_a_few_bad_frames_do_not_split_a_shot(tmp_path):
    """One white frame, or one to three frames of another picture, inside a continuous shot:
    the picture comes back to what it was, so it stays one shot (the key at its start reaches
    the frames after it); a real cut at the same place is still found."""
    import cv2

    from tests.reel.conftest import _shot_frames
    A = [cv2.cvtColor(g, cv2.COLOR_RGB2GRAY) for _, g in _shot_frames(0, 81, 160, 96)]
    B = [cv2.cvtColor(g, cv2.COLOR_RGB2GRAY) for _, g in _shot_frames(1, 81, 160, 96)]
    white = list(A)
    white[40] = np.full_like(A[40], 255)
    assert _detect(white) == [(0, 80)]
    for k in (1, 2, 3):
        inserted = A[:40] + B[40:40 + k] + A[40 + k:]
        assert _detect(inserted) == [(0, 80)], k
    assert _detect(A[:40] + B[40:]) == [(0, 39), (40, 80)]       # a cut is still a cut
    # a last shot shorter than the minimum joins the one before
    assert _detect(A[:40] + B[40:45]) == [(0, 44)]
