"""Export dialog: format, range, output; the export runs in its own QThread with progress,
ETA and cancel, so the editor keeps working while it encodes.

Colours match the preview because the export uses the very chroma the preview shows (the
frame store filled by the propagation worker), upsampled to full resolution guided by the
full-resolution luma and composed with the untouched source luma by models.color.compose_rgb
(the same function the preview uses at proxy size).
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import (QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QProgressBar, QPushButton, QVBoxLayout)

from app.gui.timeline import DONE

log = logging.getLogger(__name__)

FORMATS = [  # label, export format, suffix ("" = folder)
    ("H.264 (.mp4)", "h264", ".mp4"),
    ("ProRes 422 HQ (.mov)", "prores", ".mov"),
    ("FFV1 lossless (.mkv)", "ffv1", ".mkv"),
    ("PNG sequence (folder)", "png", ""),
]


def compose_full(rgb_full: np.ndarray, ab_proxy: np.ndarray) -> np.ndarray:
    """Full-resolution output frame from the source frame and the preview's proxy chroma."""
    from models.color import compose_rgb, rgb_to_luma
    from app.gui.compat import upsample_ab
    L = rgb_to_luma(rgb_full)
    ab = ab_proxy if ab_proxy.shape[:2] == L.shape else upsample_ab(ab_proxy, L)
    return compose_rgb(L, ab)


class ExportJob(QObject):
    """Runs in the export thread; talks to the dialog through signals only."""

    progress = Signal(int, int)            # frames written, total
    done = Signal(bool, str)               # ok, message (output path or error)
    run = Signal()

    def __init__(self, media_path, out_path, fmt, start, end, chroma, fps):
        super().__init__()
        self.media_path, self.out_path, self.fmt = media_path, out_path, fmt
        self.start, self.end, self.chroma, self.fps = start, end, chroma, fps
        self.cancelled = False                 # set from the GUI thread; read between frames
        self.run.connect(self._run)

    @Slot()
    def _run(self) -> None:
        from app.core.export import ExportSettings, open_encoder
        from app.core.media import open_media
        total = self.end - self.start
        enc = None
        try:
            src = open_media(self.media_path)
            info = src.info
            t0 = info.timestamps[self.start] if info.timestamps else self.start / info.fps
            t1 = info.timestamps[self.end - 1] + 1.0 / info.fps if info.timestamps else self.end / info.fps
            enc = open_encoder(self.out_path, info.width, info.height, info.fps,
                               ExportSettings(format=self.fmt), audio_source=self.media_path if info.has_audio else None,
                               start_time=t0, end_time=t1)
            for n, (i, rgb) in enumerate(src.iter_rgb(self.start, self.end)):
                if self.cancelled:
                    enc.abort()
                    src.close()
                    self.done.emit(False, "Export cancelled; the partial output was removed.")
                    return
                ab = self.chroma(i)
                if ab is None:
                    raise RuntimeError(f"frame {i + 1} has no propagated colour (propagate first)")
                enc.write(compose_full(rgb, ab))
                self.progress.emit(n + 1, total)
            path = enc.close()
            src.close()
        except Exception as e:
            log.exception("export failed")
            if enc is not None:
                try:
                    enc.abort()
                except Exception:
                    pass
            self.done.emit(False, f"Export failed: {e}")
            return
        self.done.emit(True, str(path))


class ExportDialog(QDialog):
    finished_export = Signal(bool, str)

    def __init__(self, window, doc, info, store, generation):
        super().__init__(window)
        self.setWindowTitle("Export")
        self.setModal(False)                 # the editor stays usable while it encodes
        self.window_ = window
        self.doc, self.info, self.store = doc, info, store
        self.thread: QThread | None = None
        self.job: ExportJob | None = None
        self.result: tuple[bool, str] | None = None
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
        self.range.model().item(1).setEnabled(a is not None or b is not None)
        form.addRow("Range", self.range)
        row = QHBoxLayout()
        self.path = QLineEdit(str(Path(doc.media_path).with_name(Path(doc.media_path).stem + "_color.mp4")))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        form.addRow("Output", row)
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
        return f"In to out marks: frames {(a or 0) + 1}–{(b if b is not None else n - 1) + 1}"

    def _format_changed(self, idx: int) -> None:
        _l, _f, suffix = FORMATS[idx]
        p = Path(self.path.text())
        stem = p.with_suffix("") if p.suffix else p
        self.path.setText(str(stem) + suffix)

    def _browse(self) -> None:
        _l, fmt, suffix = FORMATS[self.format.currentIndex()]
        if fmt == "png":
            path = QFileDialog.getExistingDirectory(self, "Export PNG sequence to folder")
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

    def set_format(self, fmt: str) -> None:
        self.format.setCurrentIndex([f for _l, f, _s in FORMATS].index(fmt))

    def start(self) -> bool:
        if self.thread is not None:
            return False
        start, end = self.frame_range()
        states = self.window_.timeline.states[start:end]
        if not (states == DONE).all():
            missing = int((states != DONE).sum())
            self.status.setText(f"{missing} frame(s) in the range are not propagated (or are stale). "
                                "Wait for propagation to finish, or use Frame > Propagate Again.")
            return False
        _l, fmt, _s = FORMATS[self.format.currentIndex()]
        out = self.path.text().strip()
        if fmt == "png":
            os.makedirs(out, exist_ok=True)
        self.job = ExportJob(self.doc.media_path, out, fmt, start, end, self.store.ab, self.info.fps)
        self.thread = QThread()
        self.thread.setObjectName("hueshot-export")
        self.job.moveToThread(self.thread)
        self.job.progress.connect(self._on_progress)
        self.job.done.connect(self._on_done)
        self.thread.start()
        self._t0 = time.monotonic()
        self.bar.setRange(0, end - start)
        self.bar.setValue(0)
        self.status.setText("Starting…")
        self.start_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        self.job.run.emit()
        return True

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancelled = True
            self.status.setText("Cancelling…")

    def _on_progress(self, done: int, total: int) -> None:
        self.bar.setValue(done)
        el = time.monotonic() - self._t0
        fps = done / max(el, 1e-6)
        eta = (total - done) / max(fps, 1e-6)
        self.status.setText(f"Frame {done}/{total} · {fps:.1f} fps · ETA {int(eta // 60)}:{int(eta % 60):02d}")

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
        if self.thread is not None:      # closing the dialog cancels a running export
            self.cancel()
            self.thread.quit()
            self.thread.wait(10000)
        super().closeEvent(e)
