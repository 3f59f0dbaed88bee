"""The luma cache on a full or unwritable disk: the scan ends with the shots in memory, the
editor opens the file and says once why nothing is cached."""
from __future__ import annotations

import os

import numpy as np

from app.core.media import LumaCache, open_media
from app.core.reels.lumastore import LumaStore
from tests.reel.conftest import open_scanned


def _fill(folder) -> None:
    """Every byte left on the file system taken (ENOSPC for the next write)."""
    f = open(folder / "filler", "wb", buffering=0)
    try:
        while True:
            f.write(b"\0" * 4096)
    except OSError:
        pass
    finally:
        f.close()


def test_a_scan_that_meets_a_full_disk_ends_with_the_shots_in_memory(reel, small_fs):
    src = open_media(reel.video)
    store = LumaStore.begin(src, small_fs)         # meta.json written: the disk had room then
    store.use_source(src)
    _fill(small_fs)                                # then a render or a copy took the rest
    assert store.scan() and store.complete         # was: OSError ENOSPC writing meta.json
    assert store.shots == reel.shots and "cannot be written" in store.disk_error
    mem = LumaCache.build(open_media(reel.video), 480)
    for i in (0, 40, len(store) - 1):
        np.testing.assert_array_equal(store.raw(i), mem.raw(i))
    store.close()


def test_the_editor_opens_a_file_when_its_luma_cache_cannot_be_written(qtbot, win, reel, tmp_path, monkeypatch):
    blocker = tmp_path / "not_a_folder"            # a file where the cache folder would go
    blocker.write_text("x")
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(blocker))
    open_scanned(qtbot, win, reel.video)           # was: 'cannot write the luma cache there', no file open
    assert len(win.luma) == len(reel.frames) and win.luma.shots == reel.shots
    said = win._last_box
    assert "luma cache" in said.text() and "cannot be written" in said.text()
    win.seek(50)
    qtbot.waitUntil(lambda: win.current == 50, timeout=10000)
    assert os.path.isfile(blocker)


def test_the_editor_keeps_colour_in_memory_and_says_once_when_the_colour_cache_is_full(
        qtbot, win, reel, small_fs):
    from app.core.project import Project
    from tests.reel.test_editor_shots import set_key, wait_done
    doc = Project(reel.video)
    doc.set_keyframe(0, reel.frames[0])
    doc.save(small_fs / "film.hueshot")           # the project on a disk that then fills up
    _fill(small_fs)
    open_scanned(qtbot, win, small_fs / "film.hueshot")
    wait_done(qtbot, win)
    a, b = reel.shots[0]
    assert not win.store.missing(range(a, b + 1), win.generation)     # the shot is in colour
    box = win._last_box                           # a box that stays until dismissed
    assert "colour cache" in box.text() and "cannot be written" in box.text() and "kept in memory" in box.text()
    set_key(win, 10, reel.frames[10])             # another run: not said again
    wait_done(qtbot, win)
    assert win._last_box is box
    assert not win.store.missing(range(a, b + 1), win.generation)
