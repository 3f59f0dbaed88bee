"""Export dialog: format, range, output; the export runs in its own QThread with progress,
ETA and cancel, so the editor keeps working while it encodes.

One compose path: the export is `app.core.render.render` (the same pipeline as
`hueshot propagate`) given the preview's own chroma through `RenderJob.chroma`, so the output
frames are the preview's chroma upsampled to full resolution guided by the full-resolution
luma and composed with the untouched source luma.

Frames that have no chroma for the current edits (propagation still running or stopped, or
evicted from the cache) are not refused: the chroma callback, called from the render's own
thread, asks the window (through a queued signal) to propagate what is missing with the
preview's worker and waits for those frames. The file therefore shows what the preview shows;
an edit made during the export reaches the frames not yet written.

The colour method is a choice in the dialog: the best-quality method
(models.registry.QUALITY_METHOD, the default when it differs from the preview's) propagates
the shot again from the project's keyframes and hints inside the render pipeline; "as
previewed" writes exactly the preview's chroma.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QThread, Signal, Slot
from PySide6.QtWidgets import (QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QProgressBar, QPushButton, QVBoxLayout)

log = logging.getLogger(__name__)

PROGRESS_HZ = 10     # export progress reports a second reaching the GUI thread (and the last)

FORMATS = [  # label, export format, suffix ("" = folder)
    ("H.264 (.mp4)", "h264", ".mp4"),
    ("ProRes 422 HQ (.mov)", "prores", ".mov"),
    ("FFV1 lossless (.mkv)", "ffv1", ".mkv"),
    ("PNG sequence (folder)", "png", ""),
    ("TIFF sequence (folder)", "tiff", ""),
]


class ExportJob(QObject):
    """Runs in the export thread; talks to the dialog through signals only."""

    progress = Signal(int, int, float)     # frames written, total, ETA seconds (-1 unknown)
    stage = Signal(str, int, int)          # what it is doing ("luma": reading the shot), done, total
    waiting = Signal(int)                  # frame index the export waits for (needs propagation)
    done = Signal(bool, str)               # ok, message (output path or error)
    run = Signal()

    def __init__(self, media_path, out_path, fmt, start, end, store, generation, proxy_height,
                 method=None, project=None):
        super().__init__()
        self.method = method               # None: the preview's chroma; else a registry name
        self.project = project
        self.media_path, self.out_path, self.fmt = media_path, out_path, fmt
        self.start, self.end = start, end
        self.store = store
        self.generation = generation       # callable: the window's current generation
        self.proxy_height = proxy_height
        self.cancelled = False             # set from the GUI thread; read between frames
        self.grey: set[int] = set()        # frames of shots with no key (set by the dialog)
        self._zero: np.ndarray | None = None
        self.run.connect(self._run)

    def chroma(self, i: int):
        """Called by the render's propagation stage, in order: the preview's chroma of frame i
        for the current edits, waiting for the worker when it is not there yet. A frame of a
        shot with no key or stroke (`grey`, known when the export started) is grey, as the
        preview shows it: no propagation will ever give it colour, so nothing is waited for."""
        if i in self.grey:
            return self._zero
        asked = False
        while not self.cancelled:
            ab = self.store.wait_fresh(i, self.generation(), 0.1)
            if ab is not None:
                return ab
            if not asked:                  # the dialog (GUI thread) starts what is missing
                self.waiting.emit(i)
                asked = True
        raise _Cancelled()

    @Slot()
    def _run(self) -> None:
        from app.core.export import ExportSettings
        from app.core.render import RenderCancelled, RenderJob, render
        from app.core.render import job_from_project
        if self.method is None:
            job = RenderJob(input=Path(self.media_path), output=Path(self.out_path), start=self.start,
                            end=self.end, proxy_height=self.proxy_height,
                            export=ExportSettings(format=self.fmt), chroma=self.chroma)
        else:
            from app.core.reels.lumastore import user_cache_dir
            from app.core.reels.reel import prepare
            job = job_from_project(self.project, self.out_path, start=self.start, end=self.end,
                                   proxy_height=self.proxy_height, method=self.method,
                                   export=ExportSettings(format=self.fmt))
            # a reel: keys, strokes and propagation stay inside each shot, as in the preview and in
            # `hueshot render` (without this the export ran the colour straight across the cuts);
            # the store is the one the editor's scan filled (app.gui.worker), so nothing is read twice
            prepare(job, project=self.project, cache_root=user_cache_dir(),
                    progress=lambda done, total: self.stage.emit("luma", done, total),
                    should_stop=lambda: self.cancelled)

        last = {}

        def progress(p):
            # At most PROGRESS_HZ reports a second per stage, and the last one: each report
            # repaints two progress bars on the GUI thread (QProgressBar.setValue repaints at
            # once, ~1.3 ms each on the loaded host), once per frame was 2-3 ms of GUI work a frame.
            now = time.monotonic()
            if p.done < p.total and now - last.get(p.stage, -1.0) < 1.0 / PROGRESS_HZ:
                return
            last[p.stage] = now
            if p.stage == "render":
                self.progress.emit(p.done, p.total, -1.0 if p.eta is None else float(p.eta))
            else:
                self.stage.emit(p.stage, p.done, p.total)
        try:
            res = render(job, progress=progress, should_stop=lambda: self.cancelled)
        except Exception as e:
            if self.cancelled or isinstance(e, (RenderCancelled, _Cancelled)):
                self.done.emit(False, "Export cancelled; the partial output was removed.")
                return
            log.exception("export failed")
            self.done.emit(False, f"Export failed: {e}")
            return
        msg = str(res.output)
        if res.truncated is not None:
            msg += f" (the input breaks at frame {res.frames}: {res.truncated.problem})"
        self.done.emit(True, msg)


class _Cancelled(Exception):
    pass


class ExportDialog(QDialog):
    finished_export = Signal(bool, str)
    progressed = Signal(int, int)           # frames written, total (emitted on the GUI thread)
    stageChanged = Signal(str)              # what the export is doing, in words

    def __init__(self, window, doc, info, store):
        super().__init__(window)
        self.setWindowTitle("Export")
        self.setModal(False)                 # the editor stays usable while it encodes
        self.window_ = window
        self.doc, self.info, self.store = doc, info, store
        self.thread: QThread | None = None
        self.job: ExportJob | None = None
        self.result: tuple[bool, str] | None = None
        self._written, self._total = 0, 0     # frames written of the running export's total
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.format = QComboBox()
        for label, _f, _s in FORMATS:
            self.format.addItem(label)
        self.format.currentIndexChanged.connect(self._format_changed)
        form.addRow("Format", self.format)
        self.range = QComboBox()
        self.range.addItem("Whole shot")
        a, b = doc.marks()
        self.range.addItem(self._io_label(a, b))
        has_marks = a is not None or b is not None
        self.range.model().item(1).setEnabled(has_marks)
        if has_marks:
            self.range.setCurrentIndex(1)      # marks set: they are what the user means to export
        form.addRow("Range", self.range)
        from models.registry import DEFAULT_METHOD, QUALITY_METHOD
        preview = window.workers.worker.method or DEFAULT_METHOD
        self.method = QComboBox()
        if QUALITY_METHOD != preview:
            self.method.addItem(f"{QUALITY_METHOD} (best; propagates again)", QUALITY_METHOD)
        self.method.addItem(f"As previewed ({preview})", None)
        self.method.setToolTip("Colour method of the export: the best-quality method propagates the "
                               "shot again from your keyframes and hints; 'as previewed' writes "
                               "exactly what the viewer shows")
        form.addRow("Colour", self.method)
        self.settings = getattr(window, "settings", None)
        if self.settings is not None:           # the last choice, remembered across exports
            i = self.method.findData(self.settings.value("export/method", "") or None)
            if self.settings.contains("export/method") and i >= 0:
                self.method.setCurrentIndex(i)
            fmt = self.settings.value("export/format", "")
            if fmt in [f for _l, f, _s in FORMATS]:
                self.format.setCurrentIndex([f for _l, f, _s in FORMATS].index(fmt))
        row = QHBoxLayout()
        self.path = QLineEdit(str(Path(doc.media_path).with_name(Path(doc.media_path).stem + "_color.mp4")))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        form.addRow("Output", row)
        self._format_changed(self.format.currentIndex())
        form.addRow("Resolution", QLabel(f"{info.width}x{info.height} (full), {info.fps:.3f} fps, BT.709"))
        lay.addLayout(form)
        self.bar = QProgressBar()
        self.bar.setValue(0)
        lay.addWidget(self.bar)
        self.status = QLabel("Ready.")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.start_btn = QPushButton("Export")
        self.start_btn.setDefault(True)
        self.start_btn.clicked.connect(self.start)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.clicked.connect(self.cancel)
        self.close_btn = QPushButton("Close")
        self.close_btn.clicked.connect(self.close)
        for b in (self.start_btn, self.cancel_btn, self.close_btn):
            buttons.addWidget(b)
        lay.addLayout(buttons)
        self.resize(560, 0)

    def _io_label(self, a, b) -> str:
        if a is None and b is None:
            return "In to out marks (none set: press I / O)"
        n = self.info.frame_count
        from app.gui.numbering import timecode
        lo, hi = (a or 0), (b if b is not None else n - 1)
        fps = self.info.fps or 24.0
        return f"In to out marks: frames {lo}–{hi} ({timecode(lo, fps, self.info.timecode)}–{timecode(hi, fps, self.info.timecode)}, {hi - lo + 1} frames)"

    def _format_changed(self, idx: int) -> None:
        if not hasattr(self, "path"):
            return                       # set again once the output field exists
        _l, _f, suffix = FORMATS[idx]
        p = Path(self.path.text())
        stem = p.with_suffix("") if p.suffix else p
        self.path.setText(str(stem) + suffix)

    def _browse(self) -> None:
        _l, fmt, suffix = FORMATS[self.format.currentIndex()]
        if fmt in ("png", "tiff"):
            path = QFileDialog.getExistingDirectory(self, f"Export {fmt.upper()} sequence to folder")
        else:
            path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path.text(), f"*{suffix}")
        if path:
            self.path.setText(path)

    def frame_range(self) -> tuple[int, int]:
        n = len(self.window_.luma)
        if self.range.currentIndex() == 1:
            a, b = self.doc.marks()
            return (a or 0), (b + 1 if b is not None else n)
        return 0, n

    def set_method(self, method: str | None) -> None:
        """None: as previewed; else a registry name offered in the combo."""
        self.method.setCurrentIndex(self.method.findData(method))

    def set_format(self, fmt: str) -> None:
        self.format.setCurrentIndex([f for _l, f, _s in FORMATS].index(fmt))

    def start(self) -> bool:
        if self.thread is not None:
            return False
        win = self.window_
        if not self.doc.key_frames():
            self.status.setText("Nothing to export yet: paint hints or import a colour keyframe first.")
            return False
        start, end = self.frame_range()
        _l, fmt, _s = FORMATS[self.format.currentIndex()]
        out = self.path.text().strip()
        if not out:
            self.status.setText("Choose an output file or folder.")
            return False
        if not self._may_write(out, fmt):
            self.status.setText("Not exported: choose another output (the existing one is kept).")
            return False
        if fmt in ("png", "tiff"):
            os.makedirs(out, exist_ok=True)
        method = self.method.currentData()
        if self.settings is not None:
            self.settings.setValue("export/method", method or "")
            self.settings.setValue("export/format", fmt)
        self.job = ExportJob(self.doc.media_path, out, fmt, start, end, self.store,
                             lambda: win.generation, win.proxy_height, method=method, project=self.doc.p)
        if method is None:
            self.job.grey = win.frames_without_key(range(start, end))
            if self.job.grey:
                w, h = win.luma.size
                self.job._zero = np.zeros((h, w, 2), np.float32)
        self.thread = QThread()
        self.thread.setObjectName("hueshot-export")
        self.job.moveToThread(self.thread)
        self.job.progress.connect(self._on_progress)
        self.job.stage.connect(self._on_stage)
        self.job.waiting.connect(self._on_waiting)
        self.job.done.connect(self._on_done)
        self.thread.start()
        self._t0 = time.monotonic()
        self.bar.setRange(0, end - start)
        self.bar.setValue(0)
        self._written, self._total = 0, end - start
        missing = 0 if method is not None else len(self.store.missing(range(start, end), win.generation))
        if method is not None:
            self._say(f"Reading the shot, then propagating it again with {method} from your keyframes "
                      f"and hints (the first frames take longest)…")
        elif missing:
            self._say(f"Propagating {missing} frame(s) that have no colour yet, writing the others…")
        else:
            self._say("Writing the previewed colours…")
        self.start_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        self.job.run.emit()
        return True

    @Slot(int)
    def _on_waiting(self, frame: int) -> None:
        """The export needs frame `frame` (and maybe more): propagate what is missing in the
        range, unless a propagation for the current edits is already on its way."""
        if self.job is None or self.job.cancelled:
            return
        start, end = self.job.start, self.job.end
        self.window_.complete_frames(range(start, end))
        self._say(f"Propagating frame {frame} and the frames still missing for the export…")

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancelled = True
            self.status.setText("Cancelling…")

    def stop(self, timeout_ms: int = 10000) -> bool:
        """Cancel a running export and wait until its thread has unwound: the render removes
        its partial output as on Cancel. The result still comes as `finished_export` (queued).
        False when it did not stop in time (its temp file carries the process id and a later
        run sweeps it)."""
        if self.thread is None:
            return True
        self.cancel()
        self.thread.quit()               # ends the thread's loop once the render returned
        if not self.thread.wait(timeout_ms):
            log.warning("the export did not stop within %d ms", timeout_ms)
            return False
        # its result, queued to this thread, is taken now: the dialog is idle on return
        QCoreApplication.sendPostedEvents(self, QEvent.Type.MetaCall)
        return True

    def output(self) -> str:
        return self.job.out_path if self.job is not None else self.path.text().strip()

    def percent(self) -> int:
        """How much of the running export is written, in percent of its frames."""
        return int(100 * self._written / self._total) if self._total > 0 else 0

    def _may_write(self, out: str, fmt: str) -> bool:
        """Ask before replacing an existing file or writing into a folder that has files."""
        p = Path(out)
        if fmt in ("png", "tiff"):
            exists = p.is_dir() and any(p.iterdir())
            what = f"The folder {p} already has files in it; frames with the same names will be replaced."
        else:
            exists = p.exists()
            what = f"{p.name} already exists in {p.parent}."
        if not exists:
            return True
        from PySide6.QtWidgets import QMessageBox
        r = self.window_.ask("Replace the existing export?", what + "\nReplace it?",
                             QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        return r == QMessageBox.StandardButton.Yes

    def _say(self, text: str) -> None:
        """The dialog's status and the main window's status bar say the same."""
        self.status.setText(text)
        self.stageChanged.emit(text)

    @Slot(str, int, int)
    def _on_stage(self, stage: str, done: int, total: int) -> None:
        if stage == "luma":
            self.bar.setRange(0, max(1, total))
            self.bar.setValue(done)
            if done >= total:
                self._say("Shot read; propagating the first frames…" if self.job and self.job.method
                          else "Shot read; writing frames…")
            else:
                self._say(f"Reading the shot: frame {done} of {total}")

    @Slot(int, int, float)
    def _on_progress(self, done: int, total: int, eta: float) -> None:
        if self.bar.maximum() != total:
            self.bar.setRange(0, total)
        self.bar.setValue(done)
        self._written, self._total = done, total
        el = time.monotonic() - self._t0
        fps = done / max(el, 1e-6)
        if eta < 0:
            eta = (total - done) / max(fps, 1e-6)
        self._say(f"Writing frame {done} of {total} · {fps:.1f} fps · ETA {int(eta // 60)}:{int(eta % 60):02d}")
        self.progressed.emit(done, total)

    @Slot(bool, str)
    def _on_done(self, ok: bool, msg: str) -> None:
        self.result = (ok, msg)
        self.status.setText(f"Exported to {msg}" if ok else msg)
        self.start_btn.setEnabled(True)
        self.cancel_btn.setEnabled(False)
        self.thread.quit()
        self.thread.wait()
        self.thread = None
        self.job = None
        if not ok and not msg.startswith("Export cancelled"):
            self.window_._error(msg)
        self.finished_export.emit(ok, msg)

    def running(self) -> bool:
        return self.thread is not None

    def closeEvent(self, e):
        self.stop()                      # closing the dialog cancels a running export
        super().closeEvent(e)
