"""Waiting render-queue jobs can be moved up and down (buttons, Ctrl+Up / Ctrl+Down); a
running job keeps its place; the new order is saved and the queue runs the waiting jobs in it."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.core.renderfarm.render_queue import DONE, FAILED, QUEUED, RUNNING, QueueError, RenderQueue
from tests.gui.test_render_queue import TIMEOUT, make_project, wait_state


def test_move_keeps_running_and_finished_jobs_in_place(tmp_path, make_clip):
    proj = make_project(make_clip, "m")
    q = RenderQueue(tmp_path / "queue.json")
    a, b, c = (q.add(proj, tmp_path / f"{n}.mp4") for n in "abc")
    q.mark_started(a)
    assert not q.move(b.id, -1)                 # nothing moves past the running job
    assert q.move(c.id, -1) and [j.id for j in q.jobs] == [a.id, c.id, b.id]
    assert not q.move(b.id, 1)                  # already last
    with pytest.raises(QueueError, match="only a waiting job"):
        q.move(a.id, 1)
    assert [j.id for j in RenderQueue(tmp_path / "queue.json").jobs] == [a.id, c.id, b.id]   # saved


def _click_row(qtbot, panel, job_id):
    it = panel._items[job_id]
    panel.tree.scrollToItem(it)
    rect = panel.tree.visualItemRect(it)
    qtbot.mouseClick(panel.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.selected_id() == job_id


def _ctrl(qtbot, win, panel, key):
    win.activateWindow()
    panel.tree.setFocus()
    qtbot.keyClick(panel.tree, key, Qt.KeyboardModifier.ControlModifier)


def test_reordered_waiting_jobs_run_in_the_new_order(qtbot, make_window, make_clip, tmp_path):
    win = make_window()
    runner, panel = win.render_queue, win.render_queue_panel
    win.render_queue_dock.show()
    win.resize(1000, 800)
    a = runner.add(make_project(make_clip, "long", frames=120), tmp_path / "long_out.mp4")
    b, c, d = (runner.add(make_project(make_clip, n), tmp_path / f"{n}_out.mp4") for n in ("b", "c", "d"))
    qtbot.waitUntil(lambda: runner.queue.get(a.id).state == RUNNING, timeout=TIMEOUT)
    order = lambda: [j.id for j in runner.queue.jobs]   # noqa: E731
    shown = lambda: [panel.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole)   # noqa: E731
                     for i in range(panel.tree.topLevelItemCount())]

    # the running job cannot be moved
    _click_row(qtbot, panel, a.id)
    assert not panel.btn_up.isEnabled() and not panel.btn_down.isEnabled()
    # d up twice with Ctrl+Up; a third time it would pass the running job: nothing moves
    _click_row(qtbot, panel, d.id)
    _ctrl(qtbot, win, panel, Qt.Key.Key_Up)
    _ctrl(qtbot, win, panel, Qt.Key.Key_Up)
    assert order() == [a.id, d.id, b.id, c.id]
    assert not panel.btn_up.isEnabled() and panel.selected_id() == d.id
    _ctrl(qtbot, win, panel, Qt.Key.Key_Up)
    assert order() == [a.id, d.id, b.id, c.id] and runner.queue.get(a.id).state == RUNNING
    # b down with the button, c... then Ctrl+Down on d (now second) and back up with the key
    _click_row(qtbot, panel, b.id)
    qtbot.mouseClick(panel.btn_down, Qt.MouseButton.LeftButton)
    assert order() == [a.id, d.id, c.id, b.id]
    assert not panel.btn_down.isEnabled()               # last
    assert shown() == order()                           # the panel shows the queue's order
    saved = json.loads(Path(os.environ["HUESHOT_QUEUE_FILE"]).read_text())
    assert [j["id"] for j in saved["jobs"]] == order()  # persisted

    for j in (a, b, c, d):
        assert wait_state(qtbot, runner, j.id, (DONE, FAILED)).state == DONE, runner.queue.get(j.id).message
    started = {j.id: runner.queue.get(j.id).started for j in (a, b, c, d)}
    assert started[a.id] < started[d.id] < started[c.id] < started[b.id]
    assert [runner.queue.get(j).state for j in order()] == [DONE] * 4
    assert QUEUED not in {j.state for j in runner.queue.jobs}


def test_a_blocked_ctrl_up_keeps_the_selection_on_the_waiting_job(qtbot, tmp_path, make_clip):
    """Ctrl+Up on the waiting job just below the running one cannot move it: the key went on to
    the tree, which moved the selection up onto the running job, so a Cancel clicked next (for
    the job the user had been moving) killed the running render instead."""
    from app.gui.panels.render_queue_panel import QueueRunner, RenderQueuePanel
    proj = make_project(make_clip, "m")
    q = RenderQueue(tmp_path / "queue.json")
    a, b, c = (q.add(proj, tmp_path / f"{n}.mp4") for n in "abc")
    q.mark_started(a)                       # a runs (as another render would)
    runner = QueueRunner(q, active=True)
    runner._closing = True                  # this runner starts no process of its own
    panel = RenderQueuePanel(runner)
    qtbot.addWidget(panel)
    panel.show()
    panel.select(c.id)
    panel.tree.setFocus()
    qtbot.waitUntil(panel.tree.hasFocus)
    qtbot.keyClick(panel.tree, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    assert [j.id for j in q.jobs] == [a.id, c.id, b.id] and panel.selected_id() == c.id
    qtbot.keyClick(panel.tree, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)   # blocked by a
    assert [j.id for j in q.jobs] == [a.id, c.id, b.id]
    assert panel.selected_id() == c.id
    assert panel.btn_cancel.isEnabled() and not panel.btn_up.isEnabled()
    qtbot.keyClick(panel.tree, Qt.Key.Key_Down, Qt.KeyboardModifier.ControlModifier)
    assert [j.id for j in q.jobs] == [a.id, b.id, c.id] and panel.selected_id() == c.id
