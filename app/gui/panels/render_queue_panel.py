"""The editor's render queue: jobs run one after another, each as ``hueshot render`` in a
QProcess of its own (a crash, a kill or a hang of a render never takes the editor down), with
progress parsed from the child's ``--progress-json`` lines, cancel, retry, moving a waiting
job up or down (Ctrl+Up / Ctrl+Down) and "open the output", in a dock panel. The queue itself is app.core.renderfarm.render_queue (plain data, persisted).

``install(window)`` adds the dock and a Render menu to the main window; it is the only hook.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import signal
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDockWidget, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                               QProgressBar, QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout,
                               QWidget)

from app.core.renderfarm.render_queue import (CANCELLED, DONE, FAILED, QUEUED, RUNNING, QueueError, QueueJob,
                                   RenderQueue, default_queue_path, error_line, parse_progress)

log = logging.getLogger(__name__)

KILL_AFTER_MS = 5000          # a cancelled render gets this long to clean up before SIGKILL
TAIL_LINES = 40               # the child's last output lines kept for the error message


class QueueRunner(QObject):
    """Runs the queue's jobs one at a time, each in its own process."""
    jobChanged = Signal(str)            # job id (progress, state)
    listChanged = Signal()
    jobFinished = Signal(str, str)      # job id, final state

    def __init__(self, queue: RenderQueue, parent=None, python: str | None = None, active: bool = True):
        super().__init__(parent)
        self.queue = queue
        self.active = active          # False: another editor runs this queue (it holds the lock)
        self.lock = None
        self.python = python
        self.proc: QProcess | None = None
        self.job: QueueJob | None = None
        self._buf = b""
        self._tail: list[str] = []
        self._cancelling = False
        self._closing = False
        self.proc_error = ""
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill)
        queue.subscribe(self._on_queue_changed)
        QTimer.singleShot(0, self.pump)             # jobs left queued by the last session

    def _on_queue_changed(self, job) -> None:
        if job is None:
            self.listChanged.emit()
        else:
            self.jobChanged.emit(job.id)

    # ------------------------------------------------------------------ control
    def add(self, project, output, farm: str = "", extra_args=None) -> QueueJob:
        if not self.active:
            raise QueueError(f"the render queue ({self.queue.path}) is run by another Hueshot window; "
                             "add the job there, or close that window first")
        job = self.queue.add(project, output, farm=farm, extra_args=extra_args)
        QTimer.singleShot(0, self.pump)
        return job

    def pump(self) -> None:
        """Start the next queued job when nothing runs."""
        if self.proc is not None or self._closing or not self.active:
            return
        job = self.queue.next_queued()
        if job is not None:
            self._start(job)

    def _check_active(self) -> None:
        if not self.active:
            raise QueueError(f"the render queue ({self.queue.path}) is run by another Hueshot window")

    def cancel(self, job_id: str) -> None:
        self._check_active()
        job = self.queue.get(job_id)
        if job.state == RUNNING and self.job is job and self.proc is not None:
            self._cancelling = True
            self._interrupt()
        else:
            self.queue.cancel(job_id)

    def retry(self, job_id: str) -> None:
        self._check_active()
        self.queue.retry(job_id)
        QTimer.singleShot(0, self.pump)

    def remove(self, job_id: str) -> None:
        self._check_active()
        self.queue.remove(job_id)

    def move(self, job_id: str, step: int) -> bool:
        self._check_active()
        return self.queue.move(job_id, step)

    def pid(self) -> int | None:
        """The running render's process id (None when idle)."""
        if self.proc is None:
            return None
        pid = self.proc.processId()
        return int(pid) if pid else None

    def shutdown(self) -> None:
        """The editor closes: stop the running render; its job is queued again, so it runs
        when the editor is next opened."""
        self._closing = True
        if self.lock is not None:
            self.lock.unlock()
        if self.proc is None:
            return
        proc, job = self.proc, self.job
        proc.finished.disconnect(self._on_finished)
        proc.errorOccurred.disconnect(self._on_error)
        self._interrupt()
        if not proc.waitForFinished(KILL_AFTER_MS):
            proc.kill()
            proc.waitForFinished(2000)
        self.proc = self.job = None
        job.state, job.message = QUEUED, "interrupted when the editor closed; queued again"
        job.stage, job.done, job.total, job.eta, job.fraction = "", 0, 0, None, 0.0
        self.queue.save()

    # ------------------------------------------------------------------ the process
    def _start(self, job: QueueJob) -> None:
        self.queue.mark_started(job)
        self.job, self._buf, self._tail, self._cancelling = job, b"", [], False
        proc = QProcess(self)
        proc.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        proc.setProcessEnvironment(env)
        proc.readyReadStandardOutput.connect(self._on_output)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        cmd = job.command(self.python)
        self.proc = proc
        log.info("render queue: starting %s", " ".join(cmd))
        proc.start(cmd[0], cmd[1:])

    def _interrupt(self) -> None:
        # SIGINT lets `hueshot render` remove its partial output (its KeyboardInterrupt path);
        # a render that does not end in time is killed.
        pid = self.pid()
        if pid and hasattr(signal, "SIGINT") and os.name == "posix":
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        else:
            self.proc.kill()
        self._kill_timer.start(KILL_AFTER_MS)

    def _kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    def _on_output(self) -> None:
        if self.proc is None:
            return
        self._buf += bytes(self.proc.readAllStandardOutput())
        *lines, self._buf = self._buf.replace(b"\r", b"\n").split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace").rstrip()
            if not line:
                continue
            p = parse_progress(line)
            if p is not None:
                if self.job is not None:
                    self.queue.update_progress(self.job, p)
            else:
                self._tail = (self._tail + [line])[-TAIL_LINES:]

    def _on_error(self, err) -> None:
        if err == QProcess.ProcessError.FailedToStart and self.job is not None:
            job = self.job
            self._done()
            self.queue.mark_finished(job, FAILED, None, f"could not start the render: {self.proc_error}")
            self.jobFinished.emit(job.id, FAILED)
            QTimer.singleShot(0, self.pump)

    def _on_finished(self, code: int, status) -> None:
        self._on_output()
        job = self.job
        self._done()
        if job is None:
            return
        msg = error_line("\n".join(self._tail + [self._buf.decode("utf-8", "replace")]))
        if self._cancelling:
            state, msg = CANCELLED, "cancelled"
        elif status == QProcess.ExitStatus.CrashExit:
            state, msg = FAILED, f"the render process crashed or was killed{': ' + msg if msg else ''}"
        elif code == 0:
            state, msg = DONE, ""
        elif code == 3:     # the input broke part way: the readable frames were rendered
            state = DONE
        else:
            state = FAILED
            msg = msg or f"the render process exited with status {code}"
        self.queue.mark_finished(job, state, None if status == QProcess.ExitStatus.CrashExit else code, msg)
        self.jobFinished.emit(job.id, state)
        QTimer.singleShot(0, self.pump)

    def _done(self) -> None:
        self._kill_timer.stop()
        if self.proc is not None:
            self.proc_error = self.proc.errorString()
            self.proc.deleteLater()
        self.proc = self.job = None


# ---------------------------------------------------------------------------- the panel
_STATE_TEXT = {QUEUED: "Queued", RUNNING: "Running", DONE: "Done", FAILED: "Failed", CANCELLED: "Cancelled"}
FARM_CHOICES = (("This machine", ""), ("Local farm, 2 workers", "local:2"), ("Ray cluster (auto)", "auto"))


def _eta_text(eta) -> str:
    if eta is None:
        return ""
    s = int(eta + 0.5)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class RenderQueuePanel(QWidget):
    COLUMNS = ("Project", "State", "Progress", "ETA", "Output")

    def __init__(self, runner: QueueRunner, parent=None):
        super().__init__(parent)
        self.runner = runner
        self.opener = QDesktopServices.openUrl       # how "Open Output" hands a file to the desktop
        self.on_error = log.error                    # how a refused action is said (the window's box)
        v = QVBoxLayout(self)
        v.setContentsMargins(4, 4, 4, 4)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(self.COLUMNS))
        self.tree.setHeaderLabels(list(self.COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.tree.setColumnWidth(2, 170)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        v.addWidget(self.tree, 1)
        row = QHBoxLayout()
        self.farm = QComboBox()
        has_ray = importlib.util.find_spec("ray") is not None
        for label, value in FARM_CHOICES:
            self.farm.addItem(label, value)
            if value and not has_ray:
                self.farm.model().item(self.farm.count() - 1).setEnabled(False)
        self.farm.setToolTip("Where new jobs render (the farm needs `pip install hueshot[farm]`)")
        row.addWidget(QLabel("Run on:"))
        row.addWidget(self.farm)
        row.addStretch(1)
        self.btn_cancel = QPushButton("Cancel")
        self.btn_retry = QPushButton("Retry")
        self.btn_remove = QPushButton("Remove")
        self.btn_open = QPushButton("Open Output")
        self.btn_up = QPushButton("Move Up")
        self.btn_down = QPushButton("Move Down")
        for b, slot in ((self.btn_up, self.move_up), (self.btn_down, self.move_down),
                        (self.btn_cancel, self.cancel_selected), (self.btn_retry, self.retry_selected),
                        (self.btn_remove, self.remove_selected), (self.btn_open, self.open_selected)):
            b.clicked.connect(slot)
            row.addWidget(b)
        # Ctrl+Up/Down while the queue has focus (plain Up/Down still move the selection)
        self.act_up = QAction("Move Up", self)
        self.act_down = QAction("Move Down", self)
        for act, b, key, slot in ((self.act_up, self.btn_up, "Ctrl+Up", self.move_up),
                                  (self.act_down, self.btn_down, "Ctrl+Down", self.move_down)):
            act.setShortcut(QKeySequence(key))
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            act.triggered.connect(slot)
            self.addAction(act)
            b.setToolTip(f"Move the selected waiting job {'up' if act is self.act_up else 'down'}: "
                         f"waiting jobs render in the order listed ({key})")
        v.addLayout(row)
        self.note = QLabel("This queue is being run by another Hueshot window: shown as it was when "
                           "this window opened; add and manage jobs there.")
        self.note.setWordWrap(True)
        self.note.setVisible(not runner.active)
        v.addWidget(self.note)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._bars: dict[str, QProgressBar] = {}
        runner.listChanged.connect(self.rebuild)
        runner.jobChanged.connect(self.refresh_job)
        self.rebuild()

    # ------------------------------------------------------------------ view
    def rebuild(self) -> None:
        selected = self.selected_id()
        self.tree.clear()
        self._items.clear()
        self._bars.clear()
        for job in self.runner.queue.jobs:
            it = QTreeWidgetItem([job.name, "", "", "", job.output])
            it.setData(0, Qt.ItemDataRole.UserRole, job.id)
            self.tree.addTopLevelItem(it)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(True)
            self.tree.setItemWidget(it, 2, bar)
            self._items[job.id], self._bars[job.id] = it, bar
            self.refresh_job(job.id)
            if job.id == selected:
                self.tree.setCurrentItem(it)     # and current, so keys go on from it after a move
        self._update_buttons()

    def refresh_job(self, job_id: str) -> None:
        it = self._items.get(job_id)
        if it is None:
            return self.rebuild()
        job = self.runner.queue.get(job_id)
        state = _STATE_TEXT.get(job.state, job.state)
        if job.farm:
            state += f" ({job.farm})"
        it.setText(1, state)
        it.setText(3, _eta_text(job.eta) if job.state == RUNNING else "")
        tip = job.message or " ".join(job.command(self.runner.python))
        for c in range(len(self.COLUMNS)):
            it.setToolTip(c, tip)
        bar = self._bars[job_id]
        bar.setValue(int(round(job.fraction * 1000)))
        bar.setFormat(f"{job.stage} {job.done}/{job.total}" if job.state == RUNNING and job.total
                      else (job.message.split("\n")[0][:60] if job.state == FAILED else f"{job.fraction:.0%}"))
        self._update_buttons()           # also a neighbour's state: a running job is not passed

    def selected_id(self) -> str | None:
        items = self.tree.selectedItems()
        return items[0].data(0, Qt.ItemDataRole.UserRole) if items else None

    def select(self, job_id: str) -> None:
        self.tree.clearSelection()
        it = self._items.get(job_id)
        if it is not None:
            it.setSelected(True)
            self.tree.setCurrentItem(it)

    def _update_buttons(self) -> None:
        jid = self.selected_id()
        job = None
        if jid is not None:
            try:
                job = self.runner.queue.get(jid)
            except QueueError:
                job = None
        st = job.state if job and self.runner.active else None
        self.btn_cancel.setEnabled(st in (QUEUED, RUNNING))
        self.btn_retry.setEnabled(st in (FAILED, CANCELLED, DONE))
        self.btn_remove.setEnabled(st is not None and st != RUNNING)
        self.btn_open.setEnabled(st == DONE and Path(job.output).exists())
        for b, act, step in ((self.btn_up, self.act_up, -1), (self.btn_down, self.act_down, 1)):
            b.setEnabled(st == QUEUED and self.runner.queue.can_move(jid, step))
            # the key stays taken where the job cannot move: passed on to the tree, Ctrl+Up
            # moved the selection onto the running job (and a Cancel clicked next killed it)
            act.setEnabled(self.runner.active)

    # ------------------------------------------------------------------ actions
    def farm_choice(self) -> str:
        return self.farm.currentData() or ""

    def _do(self, action) -> None:
        """A button's action on the selected job; a refusal (QueueError) is said, not raised
        out of the slot."""
        if (jid := self.selected_id()) is not None:
            try:
                action(jid)
            except QueueError as exc:
                self.on_error(str(exc))

    def cancel_selected(self) -> None:
        self._do(self.runner.cancel)

    def retry_selected(self) -> None:
        self._do(self.runner.retry)

    def remove_selected(self) -> None:
        self._do(self.runner.remove)

    def move_up(self) -> None:
        self._move(-1)

    def move_down(self) -> None:
        self._move(1)

    def _move(self, step: int) -> None:
        """Move the selected job a place (nothing where it cannot go: not waiting, at the end,
        or next to the running job)."""
        jid = self.selected_id()
        if jid is None or not self.runner.active:
            return
        try:
            ok = self.runner.queue.can_move(jid, step)        # (waiting, and room to move)
        except QueueError:
            return
        if ok:
            self._do(lambda j: self.runner.move(j, step))

    def open_selected(self) -> QUrl | None:
        jid = self.selected_id()
        if jid is None:
            return None
        job = self.runner.queue.get(jid)
        if job.state != DONE or not Path(job.output).exists():
            return None
        url = QUrl.fromLocalFile(job.output)
        self.opener(url)
        return url


# ---------------------------------------------------------------------- main-window hook
def install(window) -> QueueRunner:
    """Add the Render Queue dock and the Render menu to a MainWindow; returns the runner
    (also ``window.render_queue``). A queue file that cannot be read is reported and set
    aside (renamed), never silently overwritten."""
    from PySide6.QtCore import QLockFile
    path = default_queue_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # one editor runs the queue: the first to take the lock (a lock left by a dead process is
    # taken over; no age limit, an editor may run for days)
    lock = QLockFile(str(path) + ".lock")
    lock.setStaleLockTime(0)
    owner = lock.tryLock(0)
    try:
        queue = RenderQueue(path, recover=owner)
    except QueueError as exc:
        if not owner:          # the editor that runs the queue deals with its file
            queue = RenderQueue(path, load=False)
            exc = None
        if exc is not None:
            keep = path.with_suffix(".unreadable.json")
            os.replace(path, keep)
            queue = RenderQueue(path)
            msg = f"{exc}\nIt was set aside as {keep}."
            QTimer.singleShot(0, lambda: window._error(msg))
    runner = QueueRunner(queue, parent=window, active=owner)
    runner.lock = lock if owner else None
    panel = RenderQueuePanel(runner)
    panel.on_error = window._error
    dock = QDockWidget("Render Queue", window)
    dock.setObjectName("renderQueueDock")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
    dock.setVisible(bool(queue.jobs))
    count = [len(queue.jobs)]

    def on_list() -> None:            # a job added (from the menu or anywhere): show the panel
        if len(queue.jobs) > count[0]:
            dock.show()
        count[0] = len(queue.jobs)
    runner.listChanged.connect(on_list)
    window.render_queue, window.render_queue_panel, window.render_queue_dock = runner, panel, dock

    menu = window.menuBar().addMenu("Re&nder")
    add = QAction("Add to &Queue…", window)
    add.setShortcut("Ctrl+Shift+E")
    add.triggered.connect(lambda: add_current_project(window))
    menu.addAction(add)
    window.addAction(add)
    show = dock.toggleViewAction()
    show.setText("Show Render &Queue")
    menu.addAction(show)
    window.act_add_to_queue = add
    return runner


def add_current_project(window, output: str | None = None, farm: str | None = None) -> QueueJob | None:
    """Render > Add to Queue: the current project, saved first (the render reads the saved
    file), to OUTPUT (asked for when not given)."""
    doc = window.doc
    if doc is None:
        window._error("Open a shot before adding it to the render queue.")
        return None
    if not doc.path or not window.undo.isClean():
        if not window.save():
            return None
    if output is None:
        p = Path(doc.path)
        suggested = str(p.with_name(p.stem + "_render.mp4"))
        output, _ = QFileDialog.getSaveFileName(window, "Render to", suggested,
                                                "Video (*.mp4 *.mov *.mkv);;All files (*)")
        if not output:
            return None
    runner: QueueRunner = window.render_queue
    try:
        job = runner.add(doc.path, output,
                         farm=window.render_queue_panel.farm_choice() if farm is None else farm)
    except QueueError as exc:
        window._error(str(exc))
        return None
    window.render_queue_dock.show()
    window.status_msg.setText(f"Queued {job.name} -> {output}")
    return job
