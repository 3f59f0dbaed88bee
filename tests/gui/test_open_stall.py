"""Opening a file as `hueshot FILE` does keeps the GUI thread free: opening a film-scale reel
stalled it 258-972 ms (issue 14; 180-250 ms here on a small reel too, the GUI thread itself
running ~1 ms of it). The stall was the worker's import of torch right after the first frame
(and the colour prior's): CPython holds the GIL while it loads libtorch_cpu.so for torch._C
(~0.2 s), and the cyclic garbage collector's full collections walked the import's ~150,000
objects, also with the GIL held. The first open in a process also imported PyAV on the GUI
thread (~90 ms), for a list of file extensions.

Checked by what happens, not by a timer (the figures come from `hueshot bench --reel --film`,
README): in a fresh process started as `hueshot REEL` starts it, the GUI thread loads neither
PyAV nor torch once the window is up; when torch._C is imported, libtorch_cpu is loaded
already (app.gui.worker.import_torch: by a dlopen that releases the GIL), after the
background scan's own first imports; and the import's objects are out of the collector's
way (frozen)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_opening_at_start_up_loads_nothing_heavy_on_the_gui_thread_nor_holds_it_for_torch(tmp_path):
    from tests.reel.conftest import build_reel
    reel = build_reel(tmp_path / "reel.mp4", lengths=(20, 26, 22))
    ini = tmp_path / "settings.ini"
    ini.write_text("[General]\ndevice=cpu\nmethod=flow\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT),
               HUESHOT_CACHE_DIR=str(tmp_path / "cache"), HUESHOT_RECOVERY_DIR=str(tmp_path / "recovery"),
               HUESHOT_QUEUE_FILE=str(tmp_path / "queue.json"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    r = subprocess.run([sys.executable, "-m", "tests.gui.open_stall_child", str(reel.video), str(ini)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip(), (r.returncode, r.stdout[-2000:], r.stderr[-3000:])
    got = json.loads(r.stdout.strip().splitlines()[-1])
    loads = got["loads"]
    on_gui = [x["module"] for x in loads if x["phase"] == "open" and x["gui_thread"]
              and x["module"] in ("av", "torch", "torch._C")]
    assert on_gui == [], f"the GUI thread imported {on_gui} while the window was up: {loads}"
    torch_c = [x for x in loads if x["module"] == "torch._C"]
    assert torch_c, loads
    assert torch_c[0]["native_mapped"], (
        "torch._C was imported with libtorch_cpu not loaded yet: its load held the GIL (the GUI "
        f"thread waited) {loads}")
    assert got["gc_frozen"] > 100_000, got["gc_frozen"]     # torch's objects, out of every collection
    # while libtorch_cpu loads, a thread loading another library holds the GIL waiting for the
    # loader: the background scan's first imports (its shot detector) come before torch's
    order = [x["module"] for x in loads]
    assert "scenedetect.detectors" in order and order.index("scenedetect.detectors") < order.index("torch"), loads
