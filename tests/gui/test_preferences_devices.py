"""File > Preferences opened before any shot does not stop the window for torch's import: it
listed the compute devices through torch on the GUI thread (1.1 s here; the editor imports
torch only once a file opens). It now shows "auto", "cpu" and the saved choice at once and
adds the devices torch finds from a thread. A fresh process: in this one torch is imported."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import json, os, sys, time
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication
    from app.gui.preferences import PreferencesDialog
    app = QApplication([])
    s = QSettings(sys.argv[1], QSettings.Format.IniFormat)
    s.setValue("device", "cuda:3")                       # a saved choice this machine lacks
    d = PreferencesDialog(None, s)
    at_once = {"torch": "torch" in sys.modules, "items": [d.device.itemText(i) for i in range(d.device.count())],
               "shown": d.device.currentText()}
    end = time.monotonic() + 120
    while "torch" not in sys.modules and time.monotonic() < end:   # the thread imports it
        app.processEvents()
        time.sleep(0.01)
    t = time.monotonic() + 3
    while time.monotonic() < t:                          # and its list arrives
        app.processEvents()
        time.sleep(0.01)
    later = {"torch": "torch" in sys.modules, "items": [d.device.itemText(i) for i in range(d.device.count())],
             "shown": d.device.currentText()}
    print(json.dumps({"at_once": at_once, "later": later}), flush=True)
    os._exit(0)
""")


def test_preferences_before_any_shot_lists_devices_without_torch_on_the_gui_thread(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "settings.ini")], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip(), (r.returncode, r.stdout[-2000:], r.stderr[-3000:])
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["at_once"]["torch"] is False, "the dialog imported torch on the GUI thread"
    assert got["at_once"]["items"][:2] == ["auto", "cpu"] and "cuda:3" in got["at_once"]["items"]
    assert got["at_once"]["shown"] == "cuda:3"           # the saved choice, kept visible
    assert got["later"]["torch"], "the devices were never looked up"
    assert "cpu" in got["later"]["items"] and got["later"]["shown"] == "cuda:3"
