"""GUI test fixtures: a real MainWindow on an isolated QSettings, small generated clips."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_collection_modifyitems(items):
    """Qt warnings fail GUI tests (a cross-thread timer stop, a paint outside the GUI thread...).
    The one exception is the offscreen plugin's own note, that exact text and only while the
    tests run on that plugin (app.gui.qtlog); tests/gui/test_qt_messages.py checks that a real
    display (xcb under Xvfb) prints no Qt message at all."""
    from app.gui.qtlog import OFFSCREEN_NOTE_RE
    offscreen = os.environ.get("QT_QPA_PLATFORM") == "offscreen"
    for item in items:
        if "tests/gui/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.qt_log_level_fail("WARNING"))
            if offscreen:
                item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_NOTE_RE))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """The chroma of unsaved shots goes to a per-test cache folder, not ~/.cache."""
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "_cache"))


@pytest.fixture
def settings(tmp_path):
    from PySide6.QtCore import QSettings
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    s.setValue("device", "cpu")
    from models.registry import DEFAULT_METHOD
    s.setValue("method", DEFAULT_METHOD)
    return s


@pytest.fixture
def make_window(qtbot, settings):
    from PySide6.QtWidgets import QMessageBox
    from app.gui.main_window import MainWindow
    made = []

    def make():
        w = MainWindow(proxy_height=96, settings=settings)
        w.ask = lambda *a: QMessageBox.StandardButton.Discard
        w.resize(900, 600)
        qtbot.addWidget(w)
        w.show()
        made.append(w)
        return w
    yield make
    for w in made:
        for dlg in getattr(w, "running_exports", list)():
            dlg.stop()          # an export a failed test left running (closing asks about it)
        if w.isVisible():
            w.close()
        w.workers.stop()


@pytest.fixture
def window(make_window):
    return make_window()


def open_shot(qtbot, win, path, timeout=20000):
    with qtbot.waitSignal(win.shotOpened, timeout=timeout):
        assert win.open_path(str(path))


def paint(qtbot, win, points, color=(220, 30, 30), radius=0.08, tool="brush"):
    """Paint one stroke with real mouse events; points are normalised image coordinates."""
    from PySide6.QtCore import Qt
    v = win.viewer
    win.tools.set_tool(tool)
    win.tools.set_color(color)
    win.tools.set_radius(radius)
    pts = [v.from_norm(x, y).toPoint() for x, y in points]
    qtbot.mousePress(v, Qt.MouseButton.LeftButton, pos=pts[0])
    for p in pts[1:]:
        qtbot.mouseMove(v, p)
    qtbot.mouseRelease(v, Qt.MouseButton.LeftButton, pos=pts[-1])


def wait_done(qtbot, win, timeout=60000):
    """Wait until the current generation's propagation completed."""
    qtbot.waitUntil(lambda: win._last_finished == (win.generation, True), timeout=timeout)


def region_ab(win, frame, box):
    """Mean (a, b) of the frame store's chroma in a pixel box (x0, y0, x1, y1)."""
    ab = win.store.ab(frame)
    assert ab is not None, f"frame {frame} has no colour"
    x0, y0, x1, y1 = box
    return ab[y0:y1, x0:x1].reshape(-1, 2).mean(0)


def seek_shown(qtbot, win, frame, timeout=10000):
    """Go to `frame` and wait until the viewer shows it, as a user does before painting on it:
    a frame whose luma is not in memory is read by the display loader first, and a stroke lands
    on the frame the viewer shows (MainWindow._on_stroke)."""
    win.seek(frame)
    qtbot.waitUntil(lambda: win.current == frame and win.viewer.frame == frame, timeout=timeout)
