"""Quitting the editor ends the process without Python's interpreter teardown (unloading
torch, scipy, OpenCV and Qt took 1.6-2.2 s after the window had closed, on the loaded 2-core
host), yet what quitting must do is done: the settings are written, atexit handlers run (the
temporary paths of app.core.shutdown are removed), the exit status is the event loop's. The
real entry point (app.gui.main.run_app) in a child process, offscreen."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quit_skips_the_interpreter_teardown_but_saves(grey_clip, tmp_path):
    marks = tmp_path / "marks.txt"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT),
               XDG_CONFIG_HOME=str(tmp_path / "config"), HUESHOT_RECOVERY_DIR=str(tmp_path / "recovery"),
               HUESHOT_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-m", "tests.gui.quit_child", str(grey_clip.video), str(marks)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    got = marks.read_text().split()
    assert "atexit" in got                         # atexit handlers ran
    assert "teardown" not in got and "returned" not in got, got   # no module-by-module teardown
    assert not Path(str(marks) + ".tmpdir").exists()   # app.core.shutdown's sweep ran
    ini = list((tmp_path / "config").rglob("*.conf")) + list((tmp_path / "config").rglob("*.ini"))
    assert ini and str(grey_clip.video.name) in "".join(p.read_text() for p in ini)   # recent file saved
    assert not any((tmp_path / "recovery").rglob("*")) if (tmp_path / "recovery").exists() else True


def test_ctrl_q_quits_on_every_platform(qtbot, window, grey_clip):
    """File > Quit is Ctrl+Q even where the platform has no standard Quit key (Windows, the
    offscreen platform these tests run on): the key pressed closes the window."""
    from PySide6.QtCore import Qt
    from tests.gui.conftest import open_shot
    from tests.gui.test_editor_ux import keys
    win = window
    open_shot(qtbot, win, grey_clip.video)
    keys(qtbot, win, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=5000)
