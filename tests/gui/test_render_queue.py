"""The editor's render queue with real `hueshot render` processes on small generated clips:
two jobs finish in order with progress, a running job is cancelled, the queue is found again
after the window is closed and reopened, a job whose process is SIGKILLed is marked failed
while the editor stays up, and a job with a broken input fails with its message."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import av
import numpy as np
import pytest

from app.core.project import Project
from app.core.renderfarm.render_queue import (CANCELLED, DONE, FAILED, QUEUED, RUNNING, QueueError, RenderQueue,
                                   parse_progress)
from tests.gui.conftest import open_shot

TIMEOUT = 120_000


def make_project(make_clip, name: str, frames: int = 24, **kw) -> Path:
    clip = make_clip(f"{name}.mp4", frames=frames, **kw)
    p = Project(clip.video)
    p.set_keyframe(0, clip.scene.rgb(0))
    return p.save(clip.video.with_suffix(".hueshot"))


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def record(runner):
    """Every (job id, state, fraction, stage) the runner reports, in order."""
    seen = []
    runner.jobChanged.connect(lambda jid: seen.append(
        (jid, runner.queue.get(jid).state, runner.queue.get(jid).fraction, runner.queue.get(jid).stage)))
    return seen


def wait_state(qtbot, runner, job_id, states, timeout=TIMEOUT):
    states = (states,) if isinstance(states, str) else states
    qtbot.waitUntil(lambda: runner.queue.get(job_id).state in states, timeout=timeout)
    return runner.queue.get(job_id)


# --------------------------------------------------------------------- the model alone
def test_queue_model_persists_and_guards_states(tmp_path, make_clip):
    proj = make_project(make_clip, "m")
    qfile = tmp_path / "q" / "queue.json"
    q = RenderQueue(qfile)
    a = q.add(proj, tmp_path / "a.mp4")
    b = q.add(proj, tmp_path / "b.mp4", farm="local:2")
    with pytest.raises(QueueError, match="no such project file"):
        q.add(tmp_path / "missing.hueshot", tmp_path / "c.mp4")
    q.mark_started(a)
    with pytest.raises(QueueError, match="running; cancel it first"):
        q.remove(a.id)
    with pytest.raises(QueueError, match="only a finished job"):
        q.retry(b.id)
    # the editor dies while `a` runs: reloaded, it is queued again, ahead of `b`
    again = RenderQueue(qfile)
    assert [(j.id, j.state) for j in again.jobs] == [(a.id, QUEUED), (b.id, QUEUED)]
    assert "interrupted" in again.jobs[0].message
    assert again.jobs[1].command()[-2:] == ["--farm", "local:2"]
    q.cancel(b.id)
    assert q.get(b.id).state == CANCELLED
    q.retry(b.id)                      # to the end of the queue, queued
    assert q.jobs[-1].id == b.id and q.get(b.id).state == QUEUED
    qfile.write_text("{not json")
    with pytest.raises(QueueError, match="cannot read the render queue"):
        RenderQueue(qfile)


def test_parse_progress_lines():
    p = parse_progress('HUESHOT-PROGRESS {"stage": "render", "done": 12, "total": 24, "fps": 3.0, "eta": 4.0}')
    assert p["stage"] == "render" and p["done"] == 12 and p["eta"] == 4.0
    assert 0.15 < p["fraction"] < 1.0
    assert parse_progress("rendering 12/24 frames, 3.0 fps, ETA 0:04") is None
    assert parse_progress("HUESHOT-PROGRESS {broken") is None


# --------------------------------------------------------------------- real processes
def test_two_jobs_finish_in_order_with_progress(qtbot, make_window, make_clip, tmp_path):
    from app.gui.panels.render_queue_panel import add_current_project
    win = make_window()
    runner = win.render_queue
    seen = record(runner)
    pa = make_project(make_clip, "first")
    pb = make_project(make_clip, "second", frames=30)
    open_shot(qtbot, win, pa)
    # Render > Add to Queue on the open project, then a second project beside it
    win.render_queue_panel.farm.setCurrentIndex(0)
    ja = add_current_project(win, output=str(tmp_path / "first_out.mp4"))
    assert ja is not None and win.render_queue_dock.isVisible()
    jb = runner.add(pb, tmp_path / "second_out")           # a PNG sequence folder
    assert [j.id for j in runner.queue.jobs] == [ja.id, jb.id]
    wait_state(qtbot, runner, jb.id, (DONE, FAILED))
    ja, jb = runner.queue.get(ja.id), runner.queue.get(jb.id)
    assert (ja.state, jb.state) == (DONE, DONE), (ja.message, jb.message)
    assert ja.finished <= jb.started                        # one after the other
    # a running job never overlapped another: states in the order they were reported
    running_a = [i for i, s in enumerate(seen) if s[0] == ja.id and s[1] == RUNNING]
    running_b = [i for i, s in enumerate(seen) if s[0] == jb.id and s[1] == RUNNING]
    assert max(running_a) < min(running_b)
    for job in (ja, jb):   # progress parsed from the child: both stages, growing, between 0 and 1
        fr = [s[2] for s in seen if s[0] == job.id and s[1] == RUNNING]
        stages = {s[3] for s in seen if s[0] == job.id and s[1] == RUNNING}
        assert {"luma", "render"} <= stages
        assert any(0 < f < 1 for f in fr) and fr == sorted(fr)
    frames = decoded(Path(ja.output))
    assert len(frames) == 24
    assert np.abs(frames[0].astype(int)[..., 0] - frames[0].astype(int)[..., 2]).mean() > 10   # in colour
    assert len(sorted(Path(jb.output).glob("*.png"))) == 30
    # "open the output": hands the finished file to the desktop
    opened = []
    win.render_queue_panel.opener = opened.append
    win.render_queue_panel.select(ja.id)
    assert win.render_queue_panel.btn_open.isEnabled()
    win.render_queue_panel.btn_open.click()
    assert opened and opened[0].toLocalFile() == ja.output
    # the panel shows both, done
    items = [win.render_queue_panel.tree.topLevelItem(i) for i in range(2)]
    assert [it.text(1) for it in items] == ["Done", "Done"]


def test_cancel_then_close_and_reopen_finds_the_queue(qtbot, make_window, make_clip, tmp_path):
    win = make_window()
    runner = win.render_queue
    long_p = make_project(make_clip, "long", frames=120)
    short_p = make_project(make_clip, "short")
    a = runner.add(long_p, tmp_path / "long_out.mp4")
    b = runner.add(short_p, tmp_path / "short_out.mp4")
    # cancel `a` while it renders (the panel's Cancel button on the selected job)
    qtbot.waitUntil(lambda: runner.queue.get(a.id).stage == "render", timeout=TIMEOUT)
    win.render_queue_panel.select(a.id)
    assert win.render_queue_panel.btn_cancel.isEnabled()
    win.render_queue_panel.btn_cancel.click()
    a = wait_state(qtbot, runner, a.id, (CANCELLED, FAILED, DONE))
    assert a.state == CANCELLED
    assert not Path(a.output).exists()                  # the partial output was removed
    # `b` starts next; the editor is closed while it runs
    qtbot.waitUntil(lambda: runner.queue.get(b.id).state == RUNNING and runner.pid() is not None, timeout=TIMEOUT)
    pid = runner.pid()
    win.close()
    with pytest.raises(ProcessLookupError):             # the child did not outlive the editor
        os.kill(pid, 0)
    saved = json.loads(Path(os.environ["HUESHOT_QUEUE_FILE"]).read_text())
    assert [(j["id"], j["state"]) for j in saved["jobs"]] == [(a.id, CANCELLED), (b.id, QUEUED)]
    # reopened: the same queue; the interrupted job runs again and finishes
    win2 = make_window()
    r2 = win2.render_queue
    assert [j.id for j in r2.queue.jobs] == [a.id, b.id]
    assert win2.render_queue_dock.isVisible()
    assert win2.render_queue_panel.tree.topLevelItemCount() == 2
    b2 = wait_state(qtbot, r2, b.id, (DONE, FAILED))
    assert b2.state == DONE, b2.message
    assert b2.attempts == 2
    assert len(decoded(Path(b2.output))) == 24
    assert r2.queue.get(a.id).state == CANCELLED        # a cancelled job stays cancelled


def test_crashed_job_fails_and_the_editor_stays_up(qtbot, make_window, make_clip, tmp_path):
    win = make_window()
    runner = win.render_queue
    crash_p = make_project(make_clip, "crash", frames=120)
    broken_p = make_project(make_clip, "broken")
    Path(Project.load(broken_p).source).unlink()        # its source video is gone
    good_p = make_project(make_clip, "good")
    a = runner.add(crash_p, tmp_path / "crash_out.mp4")
    b = runner.add(broken_p, tmp_path / "broken_out.mp4")
    c = runner.add(good_p, tmp_path / "good_out.mp4")
    qtbot.waitUntil(lambda: runner.queue.get(a.id).stage == "render", timeout=TIMEOUT)
    os.kill(runner.pid(), signal.SIGKILL)               # the render process dies hard
    a = wait_state(qtbot, runner, a.id, (FAILED, DONE, CANCELLED))
    assert a.state == FAILED and "crashed or was killed" in a.message
    b = wait_state(qtbot, runner, b.id, (FAILED, DONE))
    assert b.state == FAILED and b.exit_code == 1 and "source video is missing" in b.message
    c = wait_state(qtbot, runner, c.id, (DONE, FAILED))
    assert c.state == DONE, c.message
    # the editor is alive and working: it opens and shows a shot after all that
    assert win.isVisible()
    open_shot(qtbot, win, good_p)
    assert win.frame_count() == 24
    assert "crashed" in win.render_queue_panel._items[a.id].toolTip(0)
    # Retry puts the crashed job back at the end of the queue; it runs to the end this time
    win.render_queue_panel.select(a.id)
    assert win.render_queue_panel.btn_retry.isEnabled()
    win.render_queue_panel.btn_retry.click()
    a = wait_state(qtbot, runner, a.id, (DONE, FAILED))
    assert a.state == DONE, a.message
    assert len(decoded(Path(a.output))) == 120


def test_second_window_does_not_run_the_queue(qtbot, make_window, make_clip, tmp_path):
    from app.gui.panels.render_queue_panel import add_current_project
    win = make_window()
    proj = make_project(make_clip, "one", frames=120)
    job = win.render_queue.add(proj, tmp_path / "one_out.mp4")
    qtbot.waitUntil(lambda: win.render_queue.queue.get(job.id).state == RUNNING, timeout=TIMEOUT)
    # a second editor opened meanwhile shows the queue but leaves the running job alone
    other = make_window()
    r2 = other.render_queue
    assert win.render_queue.active and not r2.active
    assert r2.queue.get(job.id).state == RUNNING and r2.pid() is None
    assert other.render_queue_panel.note.isVisible()
    with pytest.raises(QueueError, match="run by another Hueshot window"):
        r2.add(proj, tmp_path / "two_out.mp4")
    open_shot(qtbot, other, proj)
    assert add_current_project(other, output=str(tmp_path / "two_out.mp4")) is None
    assert "another Hueshot window" in other.last_error
    other.close()
    done = wait_state(qtbot, win.render_queue, job.id, (DONE, FAILED))
    assert done.state == DONE, done.message
    assert [j.id for j in RenderQueue(os.environ["HUESHOT_QUEUE_FILE"]).jobs] == [job.id]


@pytest.mark.parametrize("bad", [{"project": 5}, {"output": None}, {"fraction": "half"},
                                 {"attempts": "2"}, {"eta": [1]}, {"done": True}, {"message": 3}])
def test_a_queue_file_with_a_wrongly_typed_field_is_set_aside_and_the_editor_starts(qtbot, make_window, bad):
    """A job field of the wrong type (a damaged or hand-edited render_queue.json) passed the
    load and raised TypeError while the window was built: the editor could not start at all
    until the file was found and deleted."""
    qfile = Path(os.environ["HUESHOT_QUEUE_FILE"])
    qfile.parent.mkdir(parents=True, exist_ok=True)
    job = {"project": "/tmp/p.hueshot", "output": "/tmp/o.mp4", "state": "queued", **bad}
    qfile.write_text(json.dumps({"format": "hueshot-render-queue", "version": 1, "jobs": [job]}))
    win = make_window()
    qtbot.waitUntil(lambda: getattr(win, "last_error", None) is not None, timeout=5000)
    field = next(iter(bad))
    assert "cannot read the render queue" in win.last_error and repr(field) in win.last_error
    assert "set aside" in win.last_error
    assert qfile.with_suffix(".unreadable.json").exists()
    assert win.render_queue.queue.jobs == [] and win.render_queue.active


def test_two_jobs_to_the_same_output_are_refused(tmp_path, make_clip):
    """Both were queued: each render replaces its output, so the second job silently destroyed
    the first one's result (the file dialog asks only about a file that already exists)."""
    pa, pb = make_project(make_clip, "a"), make_project(make_clip, "b")
    q = RenderQueue(tmp_path / "q" / "queue.json")
    a = q.add(pa, tmp_path / "out.mp4")
    with pytest.raises(QueueError, match=r"job a \(queued\) already renders to this output"):
        q.add(pb, tmp_path / "sub" / ".." / "out.mp4")
    os.symlink(tmp_path, tmp_path / "link")
    with pytest.raises(QueueError, match="already renders to this output"):
        q.add(pb, tmp_path / "link" / "out.mp4")           # the same file by another path
    q.mark_started(a)
    with pytest.raises(QueueError, match=r"\(running\) already renders"):
        q.add(pb, tmp_path / "out.mp4")
    assert [j.id for j in q.jobs] == [a.id]
    q.mark_finished(a, DONE, 0)
    b = q.add(pb, tmp_path / "out.mp4")    # a finished job's file: replacing it is the user's choice
    with pytest.raises(QueueError, match=r"job b \(queued\) already renders"):
        q.retry(a.id)                      # back in the queue it would race `b` for the file
    assert q.get(a.id).state == DONE and q.get(b.id).state == QUEUED


def test_the_editor_says_why_a_second_job_to_the_same_output_is_not_queued(qtbot, make_window, make_clip, tmp_path):
    from app.gui.panels.render_queue_panel import add_current_project
    win = make_window()
    runner, panel = win.render_queue, win.render_queue_panel
    pa = make_project(make_clip, "first", frames=120)
    open_shot(qtbot, win, pa)
    a = add_current_project(win, output=str(tmp_path / "out.mp4"), farm="")
    assert a is not None
    assert add_current_project(win, output=str(tmp_path / "out.mp4"), farm="") is None
    assert "already renders to this output" in win.last_error
    assert [j.id for j in runner.queue.jobs] == [a.id]
    # Retry of a cancelled job whose output a newer job took: said in the window, not raised
    panel.select(a.id)
    panel.btn_cancel.click()
    wait_state(qtbot, runner, a.id, (CANCELLED, DONE, FAILED))
    b = runner.add(make_project(make_clip, "second"), tmp_path / "out.mp4")
    win.last_error = None
    panel.select(a.id)
    assert panel.btn_retry.isEnabled()
    panel.btn_retry.click()
    assert "job second (" in (win.last_error or "") and runner.queue.get(a.id).state == CANCELLED
    wait_state(qtbot, runner, b.id, (DONE, FAILED))
