"""The editor counts timecode from the source's own start timecode (MediaInfo.timecode):
frame label and the export dialog's in/out range; from 00:00:00:00 when the file has none."""
from __future__ import annotations

from fractions import Fraction

import pytest

from tests.core.test_timecode import _clip
from tests.gui.conftest import open_shot, seek_shown


@pytest.mark.parametrize("fps, tc, frame, shown", [
    (25, "10:00:00:00", 50, "10:00:02:00"),
    (Fraction(30000, 1001), "00:00:59;28", 2, "00:01:00;02"),    # drop-frame: ;00 and ;01 skipped
    (25, None, 50, "00:00:02:00"),
])
def test_the_frame_label_shows_the_sources_timecode(qtbot, make_window, tmp_path, fps, tc, frame, shown):
    clip = _clip(tmp_path / "tc.mov", 60, fps=fps, tc=tc)
    win = make_window()
    open_shot(qtbot, win, clip)
    assert win.info.timecode == tc
    seek_shown(qtbot, win, frame)
    assert f"Frame {frame} of 0–59 · {shown} ·" in win.frame_label.text()


def test_the_export_dialogs_range_shows_the_sources_timecode(qtbot, make_window, tmp_path):
    from PySide6.QtCore import Qt
    from app.gui.panels.export_dialog import ExportDialog
    clip = _clip(tmp_path / "tc.mov", 60, fps=25, tc="10:00:00:00")
    win = make_window()
    open_shot(qtbot, win, clip)
    seek_shown(qtbot, win, 5)
    qtbot.keyClick(win, Qt.Key.Key_I)
    seek_shown(qtbot, win, 12)
    qtbot.keyClick(win, Qt.Key.Key_O)
    dlg = ExportDialog(win, win.doc, win.info, win.store)
    qtbot.addWidget(dlg)
    assert "(10:00:00:05–10:00:00:12, 8 frames)" in dlg.range.itemText(1)
