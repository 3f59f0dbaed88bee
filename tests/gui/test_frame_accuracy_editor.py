"""The editor shows frame N as frame N: a real MainWindow scrubbing (seeks in a random order,
arrow keys, Home/End) a file whose seeks land wrong (H.264 in MPEG-TS with B-frames), with
the luma store past its disk budget so that frames outside the in-memory chunks are decoded
again by a seek, as on a long film. Every frame carries its number (tests/core/test_frame_accuracy)."""
from __future__ import annotations

import random

import numpy as np
from PySide6.QtCore import Qt

from app.gui.qimage import qimage_to_rgb
from tests.core.test_frame_accuracy import encode_numbered, number_of
from tests.gui.conftest import open_shot, seek_shown


def shown_number(win) -> int:
    return number_of(qimage_to_rgb(win.viewer.gray_img))


def test_scrubbing_a_hard_to_seek_file_shows_each_frame_it_names(qtbot, make_window, tmp_path, monkeypatch):
    monkeypatch.setenv("HUESHOT_LUMA_BUDGET_GB", "0")       # chunks live only in the LRU
    clip = encode_numbered(tmp_path / "reel.ts", 240, fmt="mpegts",
                           options={"x264-params": "keyint=24:bframes=3:scenecut=0", "crf": "18"})
    win = make_window()
    open_shot(qtbot, win, clip)
    assert win.frame_count() == 240
    order = random.Random(5).sample(range(240), 24)
    for i in order:
        seek_shown(qtbot, win, i)
        assert shown_number(win) == i, f"seek to {i}"
    seek_shown(qtbot, win, 100)
    for key, want in ((Qt.Key.Key_Right, 101), (Qt.Key.Key_Left, 100), (Qt.Key.Key_Left, 99),
                      (Qt.Key.Key_End, 239), (Qt.Key.Key_Home, 0)):
        qtbot.keyClick(win, key)
        qtbot.waitUntil(lambda: win.viewer.frame == want, timeout=10000)
        assert shown_number(win) == want
    assert np.array_equal(win.luma.raw(0), win.luma.raw(0))


def test_a_frame_read_into_memory_meanwhile_is_shown(qtbot, make_window, tmp_path, monkeypatch):
    """A seek to a frame whose luma chunk is not in memory asks the display loader for it; if
    another read (a timeline thumbnail's in the same chunk) brings the chunk in before the
    loader gets to the request, the frame is still shown (it stayed at 'reading it from the
    source...' for good, the viewer on the previous frame, until the user moved)."""
    import threading
    from app.core.reels.lumastore import CHUNK
    monkeypatch.setenv("HUESHOT_LUMA_BUDGET_GB", "0")       # chunks live only in the LRU
    clip = encode_numbered(tmp_path / "reel.mp4", 10 * CHUNK,
                           options={"x264-params": "keyint=24:bframes=3", "crf": "18"})
    win = make_window()
    open_shot(qtbot, win, clip)
    qtbot.waitUntil(lambda: win.luma.complete, timeout=20000)
    seek_shown(qtbot, win, 5)
    target = 7 * CHUNK + 3
    qtbot.waitUntil(lambda: not win.luma.in_memory(target), timeout=10000)
    gate, entered = threading.Event(), threading.Event()
    real = win.loader.thumb_maker

    def slow_thumb(i):                   # the thumbnail of a frame in the target's chunk
        if i == target + 1:
            entered.set()
            gate.wait(10)
        return real(i)
    win.loader.thumb_maker = slow_thumb
    win.loader.thumb(target + 1)
    assert entered.wait(10)
    win.seek(target)                     # asks the loader, busy with the thumbnail
    assert "reading" in win.frame_label.text()
    gate.set()
    qtbot.waitUntil(lambda: win.viewer.frame == target, timeout=5000)
    assert shown_number(win) == target
