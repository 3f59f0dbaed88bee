"""The timeline's shots band does not borrow a colour of the state legend (the current shot
was lit in amber, which a newcomer read as "stale (old colour)" on a shot just opened)."""
from __future__ import annotations

from app.gui.timeline import STATE_COLORS
from tests.gui.conftest import open_shot


def test_shots_band_reads_as_no_state_colour(qtbot, window, grey_clip):
    win = window
    open_shot(qtbot, win, grey_clip.video)
    tl = win.timeline
    qtbot.waitUntil(lambda: bool(tl.shots), timeout=20000)
    img = tl.grab().toImage()
    top = tl.RULER_H                # as Timeline.paintEvent lays the rows out
    y = top + tl.THUMB_H + tl.STATE_H + tl.MARK_H + 5 + tl.SHOT_H // 2
    c = img.pixelColor(int(tl.width() * 0.5), int(y * img.height() / tl.height()))
    for state, sc in STATE_COLORS.items():
        d = ((c.red() - sc.red()) ** 2 + (c.green() - sc.green()) ** 2 + (c.blue() - sc.blue()) ** 2) ** 0.5
        assert d > 80, f"the shots band ({c.name()}) looks like state {state} ({sc.name()})"
    assert "shots" in win.findChild(type(win.frame_label), "timelineLegend").toolTip()
