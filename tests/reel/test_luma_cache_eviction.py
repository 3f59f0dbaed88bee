"""The luma stores of a cache root are bounded: opening one more source removes the least
recently opened stores past STORES_PER_ROOT budgets, never one that a process still uses."""
from __future__ import annotations

import gc
import shutil
import subprocess
import sys
import time
from pathlib import Path

from app.core.media import open_media
from app.core.reels import lumastore
from app.core.reels.lumastore import LumaStore, disk_budget

REPO = Path(__file__).resolve().parents[2]

HOLD = """
import sys, time
from app.core.media import open_media
from app.core.reels.lumastore import LumaStore
with open_media(sys.argv[1]) as src:
    store = LumaStore.open(src, sys.argv[2])
print("held", flush=True)
sys.stdin.readline()
"""


def _open(path: Path, root: Path) -> Path:
    with open_media(path) as src:
        store = LumaStore.open(src, root)
    folder = store.folder
    del store
    gc.collect()
    return folder


def _stores(root: Path) -> set[Path]:
    return {p for p in (root / "luma").iterdir() if not p.name.startswith(".")}


def test_opening_many_sources_keeps_the_cache_bounded_and_spares_stores_in_use(grey_clip, tmp_path, monkeypatch):
    monkeypatch.setenv("HUESHOT_LUMA_BUDGET_GB", str(520 * 1024 / 2**30))   # a chunk (24 frames) fits
    root = tmp_path / "cache"
    clips = []
    for i in range(9):                        # 9 files: 9 stores of ~370 KB, room for 5
        p = tmp_path / f"copy{i}.mp4"
        shutil.copy(grey_clip.video, p)
        clips.append(p)
    env = {"PYTHONPATH": str(REPO), "HUESHOT_LUMA_BUDGET_GB": str(520 * 1024 / 2**30), "PATH": "/usr/bin:/bin"}
    other = subprocess.Popen([sys.executable, "-c", HOLD, str(clips[0]), str(root)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, cwd=REPO, env=env)
    try:
        assert other.stdout.readline().strip() == "held"     # another editor/render uses store 0
        held = next(iter(_stores(root)))
        mine = None
        folders = []
        for p in clips[1:]:
            time.sleep(0.01)
            folders.append(_open(p, root))
            if mine is None:                              # this process keeps store 1 open
                with open_media(clips[1]) as src:
                    mine = LumaStore.begin(src, root)
        left = _stores(root)
        assert held in left and mine.folder in left      # in use: never removed
        assert folders[-1] in left and folders[-2] in left    # the most recently opened stay
        assert len(left) < 9 and folders[1] not in left  # the oldest unused went
        total = sum(f.stat().st_size for d in left for f in d.iterdir())
        assert total <= getattr(lumastore, "STORES_PER_ROOT", 4) * disk_budget() + 2 * 520 * 1024   # + the two in use
        assert mine[3] is not None                        # its chunks are still there
    finally:
        other.stdin.close()
        other.wait(timeout=30)
    _open(clips[-1], root)                    # the other process is gone: its store may go now
    assert held not in _stores(root)


def test_with_no_luma_on_disk_the_shots_of_other_files_are_kept(grey_clip, tmp_path, monkeypatch):
    """HUESHOT_LUMA_BUDGET_GB=0 keeps no chunk, only each file's meta.json (its shots): opening
    one file must not throw away the shots found for the others (their budget is 0 too)."""
    monkeypatch.setenv("HUESHOT_LUMA_BUDGET_GB", "0")
    root = tmp_path / "cache"
    folders = []
    for i in range(3):
        p = tmp_path / f"copy{i}.mp4"
        shutil.copy(grey_clip.video, p)
        folders.append(_open(p, root))
    assert set(folders) <= _stores(root)
    assert all((f / "meta.json").is_file() for f in folders)
