"""Opening a second file frees the first file's Document. The worker's import of torch (after a
file's first frame) freezes what is alive then, the first Document with it, and a frozen cycle
is never collected: the first Document stayed alive for the rest of the session. The editor now
gives the frozen objects back to the collector when it replaces its document
(app.gui.worker.release_frozen). A fresh process: in this one torch is imported already."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _opens(mode: str, make_clip, tmp_path) -> dict:
    """What the child (tests/gui/doc_release_child.py) saw, in a fresh process."""
    a, b = make_clip("a.mp4", frames=12), make_clip("b.mp4", frames=12)
    ini = tmp_path / "settings.ini"
    ini.write_text("[General]\ndevice=cpu\nmethod=flow\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT),
               HUESHOT_CACHE_DIR=str(tmp_path / "cache"), HUESHOT_RECOVERY_DIR=str(tmp_path / "recovery"),
               HUESHOT_QUEUE_FILE=str(tmp_path / "queue.json"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    r = subprocess.run([sys.executable, "-m", "tests.gui.doc_release_child", mode, str(a.video), str(b.video),
                        str(ini)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip(), (r.returncode, r.stdout[-2000:], r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_the_first_document_is_freed_when_another_file_opens(make_clip, tmp_path):
    got = _opens("after", make_clip, tmp_path)
    assert got["frozen_after_first"] > 100_000, got      # torch's import froze what was alive
    assert not got["first_alive"], "the first Document outlived the second file's open"


def test_the_first_document_is_freed_when_another_file_opens_during_the_import(make_clip, tmp_path):
    """A second file opened while the worker imports torch (a user opening two files quickly):
    the collector is off during the import and the first Document, garbage by then, was frozen
    with torch's objects when the import ended, after release_frozen had run: it stayed alive
    for the rest of the session (found by a hostile test of the editor)."""
    got = _opens("during", make_clip, tmp_path)
    assert got["during_import"], got          # the second open came while torch was importing
    assert not got["first_alive"], "the first Document outlived the second file's open"
