"""A failed open keeps the shot that was open, also when it comes right after another open
that had not finished yet (found by a hostile test of the editor): the user opened one file
and, before its first frame was in, another that could not be read; the window was left with
no shot at all (the Shots dock and frame label still showing the old shot's state)."""
from __future__ import annotations

from tests.gui.conftest import open_shot


def test_a_failed_open_after_an_unfinished_one_goes_back_to_the_shot_open_before(qtbot, window, make_clip, tmp_path):
    a, b = make_clip("a.mp4", frames=12), make_clip("b.mp4", frames=12)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    win = window
    open_shot(qtbot, win, a.video)
    assert win.open_path(str(b.video))         # still opening: its first frame is not in yet
    assert win.open_path(str(broken))          # read on the worker's open thread, and fails
    qtbot.waitUntil(lambda: "broken.mp4" in (getattr(win, "last_error", "") or ""), timeout=20000)
    qtbot.waitUntil(lambda: win.luma is not None, timeout=20000)
    assert win.doc is not None and win.doc.media_path == str(a.video)
    assert "a.mp4" in win.windowTitle()
    for box in list(win.findChildren(type(win._last_box))):
        box.close()
