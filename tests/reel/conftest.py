"""A small reel: three shots of different synthetic scenes, cuts known, colour truth kept."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import Scene, encode_clip, write_png


@dataclass
class Reel:
    video: Path
    shots: list[tuple[int, int]]          # the true shots, inclusive
    frames: list[np.ndarray]              # colour truth (RGB uint8) of every frame
    grey: list[np.ndarray]

    def key_png(self, tmp: Path, frame: int) -> Path:
        return write_png(tmp / f"key_{frame}.png", self.frames[frame])


def _shot_frames(k: int, n: int, w: int, h: int):
    """Shot k: the shared synthetic scene seen differently (flipped, other colours, other
    motion), so each cut changes the whole picture as a real cut does."""
    sc = Scene(width=w, height=h, pan=1, speed=1,
               obj_color=[(200, 40, 40), (40, 200, 60), (230, 200, 40)][k % 3],
               bg_color=[(40, 90, 200), (150, 60, 160), (60, 160, 150)][k % 3])
    for i in range(n):
        rgb, grey = sc.rgb(i), sc.gray(i)
        if k % 3 == 1:
            rgb, grey = rgb[::-1, ::-1], grey[::-1, ::-1]
        elif k % 3 == 2:
            rgb, grey = rgb[::-1], grey[::-1]
        yield np.ascontiguousarray(rgb), np.ascontiguousarray(grey)


def build_reel(path: Path, lengths=(20, 26, 22), w: int = 160, h: int = 96, audio: bool = False) -> Reel:
    frames, grey, shots, start = [], [], [], 0
    for k, n in enumerate(lengths):
        for rgb, g in _shot_frames(k, n, w, h):
            frames.append(rgb)
            grey.append(g)
        shots.append((start, start + n - 1))
        start += n
    encode_clip(path, grey, audio_seconds=len(grey) / 24 if audio else None)
    return Reel(path, shots, frames, grey)


@pytest.fixture
def reel(tmp_path, monkeypatch) -> Reel:
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "_cache"))
    return build_reel(tmp_path / "reel.mp4")


# ------------------------------------------------------------------ the editor on a reel
@pytest.fixture
def win(qtbot, tmp_path):
    import os
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMessageBox
    from app.gui.main_window import MainWindow
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    s.setValue("device", "cpu")
    s.setValue("method", "flow")
    w = MainWindow(proxy_height=96, settings=s)
    w.ask = lambda *a: QMessageBox.StandardButton.Discard
    w.resize(900, 600)
    qtbot.addWidget(w)
    w.show()
    yield w
    if w.isVisible():
        w.close()
    w.workers.stop()


def key(qtbot, w, k, mod=None):
    from PySide6.QtCore import Qt
    w.activateWindow()
    w.viewer.setFocus()
    qtbot.keyClick(w.viewer, k, Qt.KeyboardModifier.NoModifier if mod is None else mod)


def open_scanned(qtbot, w, path):
    """Open in the editor and wait for its background scan (luma stored, cuts found)."""
    with qtbot.waitSignal(w.shotOpened, timeout=30000):
        assert w.open_path(str(path))
    qtbot.waitUntil(lambda: w.luma is not None and w.luma.complete and w.shot_panel._scan is None, timeout=60000)
