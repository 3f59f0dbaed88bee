"""No Qt warning at start-up or while the editor is used, checked honestly: on a real display
platform (xcb, under Xvfb) not a single Qt message is accepted; on the offscreen platform the
tests run on, the one message allowed is the plugin's own "does not support
propagateSizeHints()" (app.gui.qtlog), and the filter the app installs there drops that exact
message and nothing else."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run_child(clip, work, platform, *extra, xvfb=False):
    env = dict(os.environ, QT_QPA_PLATFORM=platform, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "tests.gui.qt_messages_child", str(clip), str(work), *extra]
    if xvfb:
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24"] + cmd
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    return out, r.stderr


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="needs xvfb-run (Xvfb) for the xcb platform")
def test_no_qt_message_at_all_on_a_real_display(grey_clip, tmp_path):
    out, _err = _run_child(grey_clip.video, tmp_path, "xcb", xvfb=True)
    assert out["platform"] == "xcb"
    assert out["messages"] == []


def test_offscreen_prints_only_its_plugin_note(grey_clip, tmp_path):
    from app.gui.qtlog import OFFSCREEN_NOTE
    out, _err = _run_child(grey_clip.video, tmp_path, "offscreen")
    assert out["platform"] == "offscreen"
    assert out["messages"], "the offscreen plugin's note is expected here (else drop the filter)"
    assert {m for _k, m in out["messages"]} == {OFFSCREEN_NOTE}


def test_the_offscreen_filter_drops_that_note_and_nothing_else(tmp_path):
    code = ("import sys\n"
            "from PySide6.QtCore import qWarning\n"
            "from PySide6.QtWidgets import QApplication, QDialog, QVBoxLayout, QLabel\n"
            "app = QApplication(sys.argv[:1])\n"
            "from app.gui import qtlog\n"
            "qtlog.install(app)\n"
            "d = QDialog(); QVBoxLayout(d).addWidget(QLabel('x')); d.show(); app.processEvents()\n"
            "qWarning('another warning, kept')\n"
            "qWarning(qtlog.OFFSCREEN_NOTE + ' and more')\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert "another warning, kept" in lines
    assert "This plugin does not support propagateSizeHints() and more" in lines    # not a broad match
    assert "This plugin does not support propagateSizeHints()" not in lines
