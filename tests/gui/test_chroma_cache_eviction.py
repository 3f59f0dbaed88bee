"""The user cache's colour of shots without a project is bounded: a folder per video ever
opened (up to 8 GB each) was never removed. The least recently opened go past
USER_CHROMA_DIRS budgets, never the one an editor has open."""
from __future__ import annotations

import gc
import os
import time
from pathlib import Path

import numpy as np

from app.gui import framestore
from app.gui.document import user_cache_root
from app.gui.framestore import FrameStore


def _open(disk: Path, budget: int, keep: bool = False):
    fs = FrameStore(10, (160, 96), disk_dir=disk, disk_max_bytes=budget)
    for i in range(2):                     # two frames' colour on disk (~77 KB each)
        fs.put(i, np.full((96, 160, 2), 20, np.float32), None, 1, "k")
    assert len(list((disk / "k").glob("*.npz"))) == 2
    if fs.evicting is not None:            # the eviction runs off the GUI thread
        fs.evicting.join(30)
        assert not fs.evicting.is_alive()
    if keep:
        return fs
    del fs
    gc.collect()
    return None


def test_the_user_colour_cache_of_many_videos_stays_bounded(tmp_path, monkeypatch):
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "cache"))
    root = Path(user_cache_root()) / "chroma"
    budget = 200 * 1024
    dirs = [root / f"video{i:02d}" for i in range(8)]
    held = _open(dirs[0], budget, keep=True)           # an editor still has video 0 open
    for d in dirs[1:]:
        time.sleep(0.01)
        _open(d, budget)
    left = {p for p in root.iterdir() if not p.name.startswith(".")}
    assert dirs[0] in left and dirs[-1] in left and dirs[-2] in left
    assert dirs[1] not in left and len(left) < 8      # the oldest unused went
    total = sum(f.stat().st_size for d in left for f in d.rglob("*") if f.is_file())
    limit = getattr(framestore, "USER_CHROMA_DIRS", 4) * budget
    assert total <= limit + budget                     # + the one held
    assert held.chroma.get(1, "k") is not None
    assert os.path.isdir(dirs[0] / "k")
