"""The luma store used before it is complete: chunks decoded on demand by seek, a scan that
stops and resumes, the disk budget; and the editor showing the first frame before the scan."""
from __future__ import annotations

import json

import numpy as np
import pytest

from app.core.media import LumaCache, open_media
from app.core.reels.lumastore import CHUNK, LumaStore, disk_budget


def _store_dir(root):
    return next((root / "luma").iterdir())


def test_frames_decoded_on_demand_equal_the_scanned_ones(reel, tmp_path):
    src = open_media(reel.video)
    mem = LumaCache.build(src, 480)
    store = LumaStore.begin(src, tmp_path / "c")
    store.use_source(src)
    assert not store.complete and len(store) == len(reel.frames)
    last = len(store) - 1
    assert not store.ready(5)
    np.testing.assert_array_equal(store.peek(5), mem.raw(5))         # one frame alone, same pixels
    assert store.ready(5) and not store.ready(6)
    assert not store.ready(last)
    np.testing.assert_array_equal(store.raw(last), mem.raw(last))     # a seek into the last chunk
    assert store.ready(last) and store.ready(last - last % CHUNK)
    np.testing.assert_array_equal(store.raw(CHUNK + 3), mem.raw(CHUNK + 3))
    assert store.shots == [(0, last)]                                 # no cut known before the scan
    assert store.scan() and store.complete
    assert store.shots == reel.shots
    for i in range(len(store)):
        np.testing.assert_array_equal(store.raw(i), mem.raw(i))
    store.close()


def test_a_stopped_scan_resumes_where_it_stopped(reel, tmp_path):
    whole = LumaStore.open(open_media(reel.video), tmp_path / "whole")
    src = open_media(reel.video)
    part = LumaStore.begin(src, tmp_path / "c")
    seen = []

    def stop():
        seen.append(1)
        return len(seen) > CHUNK + 5          # stopped inside the second chunk
    assert part.scan(src, should_stop=stop) is False
    meta = json.loads((_store_dir(tmp_path / "c") / "meta.json").read_text())
    assert meta["complete"] is False and meta["scanned"] == CHUNK
    again = LumaStore.begin(src, tmp_path / "c")        # a later open: the scan goes on from there
    assert again.scanned == CHUNK and again.ready(0) and not again.ready(CHUNK)
    assert again.scan(src) and again.shots == whole.shots == reel.shots
    for i in range(len(whole)):
        np.testing.assert_array_equal(again.raw(i), whole.raw(i))
    src.close()


def test_past_the_disk_budget_chunks_stay_in_memory(reel, tmp_path, monkeypatch):
    monkeypatch.setenv("HUESHOT_LUMA_BUDGET_GB", "0")
    src = open_media(reel.video)
    store = LumaStore.open(src, tmp_path / "c", max_chunks=2)
    src.close()
    assert store.complete and store.shots == reel.shots
    assert not list(_store_dir(tmp_path / "c").glob("chunk_*.u8"))    # nothing written
    mem = LumaCache.build(open_media(reel.video), 480)
    for i in (len(store) - 1, 0, CHUNK + 1):                           # decoded again on demand
        np.testing.assert_array_equal(store.raw(i), mem.raw(i))
    store.close()


def test_a_bad_budget_says_what_is_wrong(monkeypatch):
    monkeypatch.setenv("HUESHOT_LUMA_BUDGET_GB", "lots")
    with pytest.raises(ValueError, match="HUESHOT_LUMA_BUDGET_GB must be a number of gigabytes"):
        disk_budget()


# ------------------------------------------------------------------ the editor
def test_editor_shows_the_first_frame_before_the_scan(qtbot, win, reel, monkeypatch):
    """`opened` is sent (the window shows frame 0) while the store is still incomplete; a frame
    the scan has not stored is read by the display loader, the frame label saying so meanwhile."""
    from PySide6.QtCore import Qt
    monkeypatch.setenv("HUESHOT_LUMA_BUDGET_GB", "0")    # nothing stored: every chunk read on demand
    at_open = []
    win.workers.worker.opened.connect(lambda info, luma: at_open.append((luma.complete, luma.ready(0))),
                                      Qt.ConnectionType.DirectConnection)
    with qtbot.waitSignal(win.shotOpened, timeout=30000):
        assert win.open_path(str(reel.video))
    assert at_open == [(False, True)]                    # first frame decoded, scan not done
    assert win.viewer.has_image()
    qtbot.waitUntil(lambda: win.luma.complete, timeout=60000)
    last = len(win.luma) - 1
    assert not win.luma.ready(last)                      # in no chunk kept: decoded when shown
    win.seek(last)
    assert "reading it from the source" in win.frame_label.text()
    qtbot.waitUntil(lambda: "reading" not in win.frame_label.text(), timeout=20000)
    assert win.frame_label.text().startswith(f"Frame {last} ")
    np.testing.assert_array_equal(win.viewer._luma, win.luma[last])     # that frame is on screen
    img = win.viewer.gray_img
    assert (img.width(), img.height()) == win.luma.size
    assert win.shot_panel.shots == reel.shots


def test_editor_on_a_truncated_file_keeps_the_readable_frames(qtbot, win, tmp_path):
    """The scan meets the break behind the window's back: the window ends up with the frames
    that can be read and says once where it broke."""
    from tests.conftest import encode_clip
    from tests.reel.conftest import _shot_frames
    grey = [g for _, g in _shot_frames(0, 40, 160, 96)]
    path = encode_clip(tmp_path / "t.mkv", grey)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    errors = []
    win._error = lambda msg, **kw: errors.append(msg)
    with qtbot.waitSignal(win.shotOpened, timeout=30000):
        assert win.open_path(str(path))
    qtbot.waitUntil(lambda: win.luma.complete and win.shot_panel._scan is None, timeout=60000)
    n = len(win.luma)
    assert 5 < n < 40 and win.frame_count() == win.timeline.length == n
    assert win.luma.error is not None
    assert len([e for e in errors if "Only part of the shot could be read" in e]) == 1
    win.seek(n - 1)
    qtbot.waitUntil(lambda: win.frame_label.text().startswith(f"Frame {n - 1} ") and
                    "reading" not in win.frame_label.text(), timeout=20000)


def test_a_scan_sink_failure_is_raised_by_the_scan_not_lost(reel, tmp_path, monkeypatch):
    """Chunks are written (and shots detected) behind the decode on a thread of their own; an error there (other than
    the disk's, which the store absorbs) reaches the scan's caller, and the scan does not hang."""
    def broken(self, c, frames):
        raise RuntimeError(f"chunk {c} cannot be written")
    monkeypatch.setattr(LumaStore, "_write", broken)
    src = open_media(reel.video)
    with pytest.raises(RuntimeError, match="chunk 0 cannot be written"):
        LumaStore.open(src, tmp_path / "c")
    src.close()


def test_a_failed_scan_closes_the_source_it_opened_and_reports_the_decoders_error(reel, tmp_path, monkeypatch):
    """A scan that opened its own source (the editor's) closes it when the sink fails; an error
    of the decode itself is the one reported even when the sink has failed too."""
    from app.core import media
    opened, closed = [], []
    real_open = media.open_media

    def tracking_open(path, *a, **k):
        src = real_open(path, *a, **k)
        opened.append(src)
        real_close = src.close
        src.close = lambda: (closed.append(src), real_close())
        return src
    monkeypatch.setattr(media, "open_media", tracking_open)
    monkeypatch.setattr(LumaStore, "_write", lambda self, c, frames: (_ for _ in ()).throw(RuntimeError("disk gone")))
    src = open_media(reel.video)
    store = LumaStore.begin(src, tmp_path / "c")
    src.close()
    with pytest.raises(RuntimeError, match="disk gone"):
        store.scan(None)
    assert len(opened) == 1 and closed == opened

    def broken_decode(self, start, end, size):
        for i, y in real_iter(self, start, end, size):
            if i == CHUNK + 2:
                raise KeyboardInterrupt("stopped by the user")
            yield i, y
    real_iter = media.VideoSource.iter_proxy_luma
    monkeypatch.setattr(media.VideoSource, "iter_proxy_luma", broken_decode)
    with pytest.raises(KeyboardInterrupt, match="stopped by the user"):
        LumaStore.begin(open_media(reel.video), tmp_path / "d").scan(None)


@pytest.mark.parametrize("first", [CHUNK, CHUNK + 2])
def test_a_resumed_scan_finds_a_cut_just_after_where_it_stopped(tmp_path, first):
    """A scan stopped after the first chunk goes on from frame CHUNK; its shot detector sees the
    frames before that again, so a cut at or just after it is found (started cold it missed
    every cut in its first frames, and the two shots around it became one)."""
    from tests.reel.conftest import build_reel
    reel = build_reel(tmp_path / "r.mp4", lengths=(first, 26, 22))
    src = open_media(reel.video)
    part = LumaStore.begin(src, tmp_path / "c")
    seen = []

    def stop():
        seen.append(1)
        return len(seen) > CHUNK + 12
    assert part.scan(src, should_stop=stop) is False and part.scanned == CHUNK
    again = LumaStore.begin(src, tmp_path / "c")
    assert again.scan(src)
    assert again.shots == reel.shots == LumaStore.open(src, tmp_path / "whole").shots
    src.close()


def test_a_resumed_scan_keeps_the_minimum_shot_length_after_a_cut_before_it(tmp_path, monkeypatch):
    """Cuts at 53 and 57: an uninterrupted scan keeps no 4-frame shot (the minimum shot length
    after the cut at 53). Stopped at frame 70 and resumed from its checkpoint at 64, the scan
    gives the same shots: its detector starts before the cut at 53 and finds it itself."""
    from app.core.reels import lumastore as LS
    from tests.reel.conftest import build_reel
    reel = build_reel(tmp_path / "r.mp4", lengths=(53, 4, 53))
    src = open_media(reel.video)
    whole = LumaStore.open(src, tmp_path / "whole").shots
    monkeypatch.setattr(LS, "CHECKPOINT_S", 0.0)     # progress saved at every chunk
    done = {"n": 0}
    part = LumaStore.begin(src, tmp_path / "c")
    assert part.scan(src, lambda d, t: done.update(n=d), lambda: done["n"] >= 70) is False
    again = LumaStore.begin(src, tmp_path / "c")
    assert again.scanned == 2 * CHUNK and again.scan(src)
    assert again.shots == whole
    src.close()


def test_a_killed_processs_half_written_chunk_is_swept(reel, tmp_path):
    """A chunk is written under a temp name (with its process's tag) and renamed; a process
    killed in between leaves the temp file, which the next open of the store removes."""
    src = open_media(reel.video)
    store = LumaStore.open(src, tmp_path / "c")
    folder = _store_dir(tmp_path / "c")
    stale = folder / ".chunk_000000.999999-0123abcd.tmp"       # pid 999999: no such process
    stale.write_bytes(b"half a chunk")
    mine = folder / f".chunk_000001.{__import__('os').getpid()}-0123abcd.tmp"   # a live writer's
    mine.write_bytes(b"being written")
    again = LumaStore.begin(src, tmp_path / "c")
    assert not stale.exists() and mine.exists() and again.complete
    assert again.shots == store.shots
    src.close()


@pytest.mark.parametrize("edit", [
    lambda m: [1, 2], lambda m: None, lambda m: dict(m, frames="abc"), lambda m: dict(m, frames=10),
    lambda m: dict(m, shots=None), lambda m: dict(m, shots=[[0, 5], [50, len(m) * 0 + 60]]),
    lambda m: dict(m, error="boom"), lambda m: dict(m, complete="false"),
    lambda m: {**{k: v for k, v in m.items() if k != "shots"}, "complete": False, "scanned": 10**6, "cuts": []},
    lambda m: {**{k: v for k, v in m.items() if k != "shots"}, "complete": False, "scanned": 32, "cuts": ["a"]},
], ids=["list", "null", "frames-str", "frames-short", "shots-null", "shots-gap", "error-str",
        "complete-str", "scanned-huge", "cuts-str"])
def test_a_broken_meta_json_rebuilds_the_store(reel, tmp_path, edit):
    """A store's meta.json that this version did not write for this source (wrong types, counts
    that disagree with the source, shots with a gap) is not trusted: the store is rebuilt and
    gives the shots of the source, instead of an internal error or wrong shots later."""
    src = open_media(reel.video)
    LumaStore.open(src, tmp_path / "c")
    meta_path = _store_dir(tmp_path / "c") / "meta.json"
    meta_path.write_text(json.dumps(edit(json.loads(meta_path.read_text()))))
    store = LumaStore.begin(src, tmp_path / "c")
    assert store.scan(src) and store.shots == reel.shots and len(store) == len(reel.frames)
    src.close()
