"""File > Export with the best-quality method (the dialog's default, which propagates the reel
again from the project) keeps each shot's colour inside it, as the preview and `hueshot render`
do: real MainWindow, real dialog and export thread, the output decoded with PyAV."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from tests.gui.conftest import paint, seek_shown, wait_done  # noqa: E402
from tests.reel.conftest import build_reel, open_scanned  # noqa: E402
from tests.reel.test_shot_list import chroma  # noqa: E402


@pytest.fixture
def reel3(tmp_path, monkeypatch):
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "_cache"))
    return build_reel(tmp_path / "reel3.mp4", lengths=(20, 22, 18))


def _export(qtbot, win, out, marked: bool):
    dlg = win.export_dialog()
    dlg.range.setCurrentIndex(1 if marked else 0)
    dlg.set_method("quality")
    dlg.set_format("h264")
    dlg.path.setText(str(out))
    qtbot.mouseClick(dlg.start_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.result is not None, timeout=120000)
    dlg.close()
    return dlg.result


def test_a_quality_export_keeps_each_shots_colour_in_its_shot(qtbot, win, reel3, tmp_path):
    """A stroke in shot 1 only; the whole reel exported with `quality`: shots 2 and 3 have no key
    and come out grey (the colour must not run across the cuts). Then shot 2 marked (Mark This
    Shot) with a stroke of its own: the export of the marks succeeds although shot 1 has a key
    outside them, and writes shot 2 in colour."""
    import av
    open_scanned(qtbot, win, reel3.video)
    (a0, b0), (a1, b1), (a2, b2) = reel3.shots
    seek_shown(qtbot, win, a0 + 2)
    paint(qtbot, win, [(0.3, 0.5), (0.6, 0.5)])
    wait_done(qtbot, win)
    ok, msg = _export(qtbot, win, tmp_path / "all.mp4", marked=False)
    assert ok, msg
    with av.open(str(tmp_path / "all.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24").reshape(-1, 3) for f in c.decode(video=0)]
    assert len(frames) == b2 + 1
    assert chroma(frames[a0 + 2]) > 3                     # the stroked shot has colour
    assert max(chroma(f) for f in frames[a1:]) < 2, [round(chroma(f), 1) for f in frames[a1:]]

    seek_shown(qtbot, win, a1 + 3)
    win.shot_panel.mark_shot()                           # the marks = shot 2
    assert win.doc.marks() == (a1, b1)
    paint(qtbot, win, [(0.3, 0.5), (0.6, 0.5)], color=(40, 90, 220))
    wait_done(qtbot, win)
    ok, msg = _export(qtbot, win, tmp_path / "shot2.mp4", marked=True)
    assert ok, msg
    with av.open(str(tmp_path / "shot2.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24").reshape(-1, 3) for f in c.decode(video=0)]
    assert len(frames) == b1 - a1 + 1
    assert min(chroma(f) for f in frames) > 3
