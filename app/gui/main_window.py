"""The main window: wires the document, the undo stack, the worker thread and the views.

Data flow: user action -> QUndoCommand -> document -> observer callback -> here: refresh
overlays and markers, bump the generation, ask the worker to propagate (focus on the
edited frame). Frames come back tagged with their generation; stale ones are dropped,
current ones go into the frame store and, if on screen, to the viewer (painted on its
own timer).
"""
from __future__ import annotations

import logging
import os
import time
import uuid
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMetaObject, QSettings, QSize, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QPainter, QPalette, QUndoStack
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QHBoxLayout, QLabel, QMainWindow, QMessageBox,
                               QProgressBar, QToolButton, QVBoxLayout, QWidget)

from app.gui import document as docmod
from app.gui.commands import AddStroke, ClearHints, SetHintMethod, SetKeyImage, SetMarks
from app.gui.framestore import FrameStore, gray_lut
from app.gui.qimage import gray_to_qimage, rgb_to_qimage
from app.gui.numbering import timecode
from app.gui.timeline import COMPUTING, DONE, NONE, STALE, STATE_COLORS, Timeline
from app.gui.tools import TOOL_KEYS, TOOL_TIPS, TOOLS, ToolPanel, ToolState
from app.gui.viewer import Viewer
from app.gui.worker import DisplayLoader, KeySpec, WorkerThread, _luma_in_memory, _luma_ready
from models.base import HintStroke

log = logging.getLogger(__name__)

MEDIA_FILTER = ("Video, project or a frame of a frame folder (*.mp4 *.mov *.mkv *.avi *.webm *.m4v *.mxf *.hueshot "
                "*.png *.jpg *.jpeg *.tif *.tiff *.bmp);;All files (*)")
SHUTTLE = (1, 2, 4, 8)
DEVICE_DEFER_MS = 3000    # hueshot FILE: the worker's torch import waits for the first frame (and the
                          # background scan's start, see _on_opened), this long at most


def _block_mean(img: np.ndarray, f: int) -> np.ndarray:
    """Shrink by an integer factor, uint8 in and out: every (f//2)-th pixel, then the mean of
    2 x 2 blocks of those (a 46-line thumbnail of a 480-line frame in well under 1 ms)."""
    if f <= 1:
        return img
    s = max(1, f // 2)
    img, f = img[::s, ::s], max(1, f // s)
    h, w = img.shape[0] // f * f, img.shape[1] // f * f
    blocks = img[:h, :w].reshape(h // f, f, w // f, f, *img.shape[2:])
    return (blocks.mean(axis=(1, 3)) + 0.5).astype(np.uint8)


# Tools > Stroke Reach: (hint method, menu label, tip); None is the default (geo). Figures from
# `hueshot bench --interactive` (README, "Interactive protocol and the colour prior").
STROKE_REACH = (
    (None, "&Local (stops at edges)", "A stroke colours its own region and stops after an edge or two (geo); "
                                      "a correction over colour stays near it"),
    ("gate", "&Far (learned)", "A stroke reaches further, on grey and over colour, as far as a learned "
                               "gate trusts it (gate): fewer strokes, more often a colour where it "
                               "does not belong"),
    ("gate+prior", "Far + Colour &Prior", "As Far, and the learned colour prior tints what no stroke "
                                          "reaches (gate+prior); slower"),
)

class StatusLine(QLabel):
    """The status bar's message on one line. A message wider than the window (a file's
    description and the next step, an error) was cut mid-word with nothing to say so: it now
    ends in '…' and the whole message is the tooltip. text() stays the whole message."""

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setToolTip(text)

    def minimumSizeHint(self) -> QSize:
        return QSize(0, super().minimumSizeHint().height())

    def displayed(self) -> str:
        """The text as drawn: elided to the label's width."""
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, self.contentsRect().width())

    def paintEvent(self, _e) -> None:
        p = QPainter(self)
        self.style().drawItemText(p, self.contentsRect(), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                                  self.palette(), self.isEnabled(), self.displayed(), QPalette.ColorRole.WindowText)
        p.end()


class MainWindow(QMainWindow):
    shotOpened = Signal()
    frameShown = Signal(int)
    frameArrived = Signal(int, int)              # generation, index (current generation, GUI thread)
    propagationFinished = Signal(int, bool)      # generation, completed

    def __init__(self, proxy_height: int = 480, settings: QSettings | None = None):
        super().__init__()
        self.proxy_height = proxy_height
        self.settings = settings or QSettings("Hueshot", "Hueshot")
        self.setWindowTitle("Hueshot[*]")
        self.setAcceptDrops(True)
        self.resize(1280, 820)

        self.doc: docmod.Document | None = None
        self.info = None
        self.luma = None
        self.store: FrameStore | None = None
        self.current = 0
        self.generation = 0
        self.running_gen: int | None = None
        self.last_error: str | None = None
        self._edit_focus = 0
        self._lut = gray_lut()
        self._lut1 = np.ascontiguousarray(self._lut[:, 0])
        self._shown = -1                   # frame last handed to the viewer (on screen: viewer.frame)
        self._autosave_failing = False     # the last autosave failed (said once, in a box)
        self._play_dir = 0
        self._shuttle = 0
        self._frames_this_run = 0
        self._run_t0 = 0.0
        self._last_finished: tuple[int, bool] | None = None
        self._stopped_by_user = False
        # a cancel message is showing: runs up to this generation (still finishing after the
        # cancel) leave it there; a later run may replace it
        self._cancel_said_gen = -1
        self._to_warm: list[int] = []
        self._adopt_pending = None   # specs to adopt once the worker has its frame-key context
        self._run_total = 0

        self.undo = QUndoStack(self)
        self.undo.cleanChanged.connect(self._on_clean_changed)

        self.tools = ToolState()
        self.viewer = Viewer(self.tools)
        self.timeline = Timeline()
        self.panel = ToolPanel(self.tools)
        self._shot_actions: list[QAction] = []
        self._previous = None               # the shot open before a new open (restored if it fails)
        self._build_layout()
        self._build_actions()

        self.workers = WorkerThread()
        self.loader = DisplayLoader()
        self.loader.loaded.connect(self._on_loaded)
        self.loader.thumbReady.connect(self._on_thumb)
        self.loader.thumb_maker = self._make_thumb
        self._thumbs: dict[int, tuple[str, object]] = {}   # frame -> (key it shows, QImage)
        w = self.workers.worker
        w.opening.connect(self._on_opening)
        w.opened.connect(self._on_opened)
        w.openFailed.connect(self._on_open_failed)
        w.started.connect(self._on_started)
        w.frameReady.connect(self._on_frame)
        w.finished.connect(self._on_finished)
        w.failed.connect(self._on_worker_error)
        w.deviceReady.connect(self._on_device)
        # Asked for once the event loop runs, after the window is up: building the method
        # imports torch in the worker thread, which holds the GIL for seconds and would hold
        # up the window's construction and first paint (`hueshot bench --startup`).
        # `hueshot FILE` sets defer_device_until_open: the import then waits for the shot's
        # first frame (or DEVICE_DEFER_MS at most), which it would slow down from 0.7 to ~3 s.
        self.defer_device_until_open = False
        self._device_asked = False
        self._device_after_scan = False      # the import waits for the background scan's start
        self._propagation_waits = False      # and so does a first run (its method imports torch)
        for sig in (w.scanning, w.scanned, w.scanFailed):
            sig.connect(self._on_scan_under_way)
        QTimer.singleShot(0, self._ask_device_at_start)

        self.viewer.strokeFinished.connect(self._on_stroke)
        self.viewer.colorSampled.connect(self._on_sampled)
        self.viewer.lumaUnderCursor.connect(self.panel.gamut.set_luma)
        self.timeline.scrubbed.connect(self.seek)

        self._propagate_timer = QTimer(self)        # coalesces edits of one event-loop turn
        self._propagate_timer.setSingleShot(True)
        self._propagate_timer.setInterval(0)
        self._propagate_timer.timeout.connect(self._request_propagation)
        self._play_timer = QTimer(self)
        self._play_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._play_timer.timeout.connect(self._play_tick)
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(60_000)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()
        self._update_status()
        from app.gui.panels.render_queue_panel import install as install_render_queue
        install_render_queue(self)           # Render menu + Render Queue dock (self.render_queue)
        self._build_help_menu()
        from app.gui.panels.shot_panel import install as install_shot_panel
        install_shot_panel(self)             # Shots dock + Shot menu (self.shot_panel)
        from app.gui.panels.prior_tools import install as install_prior_tools
        install_prior_tools(self)            # Colour Automatically + suggested colours (self.prior_tools)

    def _on_clean_changed(self, clean: bool) -> None:
        self.setWindowModified(not clean)
        if clean and self.doc is not None:
            self.doc.drop_autosave()       # undone back to the file: its autosave is out of date

    # ------------------------------------------------------------------ layout
    def _build_layout(self) -> None:
        central = QWidget()
        v = QVBoxLayout(central)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(0)
        v.addWidget(self.viewer, 1)
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 2)
        self.play_btn = QToolButton()
        self.play_btn.setText("Play")
        self.play_btn.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.play_btn.clicked.connect(self.toggle_play)
        bar.addWidget(self.play_btn)
        self.frame_label = QLabel("-")
        self.frame_label.setObjectName("frameLabel")
        bar.addWidget(self.frame_label)
        bar.addStretch(1)
        legend = QLabel("  ".join(f'<span style="color:{c}">■</span> {t}' for c, t in (
            (STATE_COLORS[DONE].name(), "in colour"), (STATE_COLORS[COMPUTING].name(), "computing"),
            (STATE_COLORS[STALE].name(), "stale (old colour)"), (STATE_COLORS[NONE].name(), "no colour"))))
        legend.setObjectName("timelineLegend")
        legend.setToolTip("Timeline state bar under the thumbnails; diamonds: keyframes, dots: frames with hints, "
                          "light band: in-out range, red line: playhead; bottom band: shots (the current one light)")
        bar.addWidget(legend)
        bar.addSpacing(12)
        self.view_label = QLabel("")
        bar.addWidget(self.view_label)
        self.zoom_label = QLabel("")
        self.zoom_label.setObjectName("zoomLabel")
        self.zoom_label.setToolTip("Zoom (Ctrl+wheel zooms about the cursor, F fits)")
        bar.addWidget(self.zoom_label)
        self.viewer.zoomChanged.connect(
            lambda z: self.zoom_label.setText(f"Zoom {z:.0f}%" if self.viewer.has_image() else ""))
        v.addLayout(bar)
        v.addWidget(self.timeline)
        self.setCentralWidget(central)

        dock = QDockWidget("Tools", self)
        dock.setObjectName("toolsDock")
        dock.setWidget(self.panel)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)

        sb = self.statusBar()
        self.status_msg = StatusLine("")
        self.progress = QProgressBar()
        self.progress.setMinimumWidth(220)
        self.progress.setMaximumWidth(260)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.export_progress = QProgressBar()
        self.export_progress.setObjectName("exportProgress")
        self.export_progress.setMaximumWidth(200)
        self.export_progress.setToolTip("Export running (its dialog has Cancel)")
        self.export_progress.hide()
        self.device_label = QLabel("Device: starting…")
        self.device_label.setObjectName("deviceLabel")
        sb.addWidget(self.status_msg, 1)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.export_progress)
        sb.addPermanentWidget(self.device_label)

    def _act(self, menu, text, slot, shortcut=None, checkable=False, name=None, tip=None, needs_shot=False) -> QAction:
        a = QAction(text, self)
        if shortcut:
            a.setShortcuts([QKeySequence(s) for s in (shortcut if isinstance(shortcut, (list, tuple)) else [shortcut])])
        keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in a.shortcuts())
        a.setToolTip(f"{tip or text.replace('&', '').rstrip('…')}" + (f" ({keys})" if keys else ""))
        a.setStatusTip(tip or "")
        if needs_shot:
            self._shot_actions.append(a)
        a.setCheckable(checkable)
        a.triggered.connect(slot)
        menu.addAction(a)
        self.addAction(a)          # shortcuts work wherever focus is inside the window
        if name:
            setattr(self, name, a)
            a.setObjectName(name)
        return a

    def _build_actions(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self._act(f, "&Open…", self.open_dialog, QKeySequence.StandardKey.Open,
                  tip="Open a video, a project, or a frame of a folder of frames")
        self._act(f, "Open &Folder of Frames…", self.open_folder_dialog, "Ctrl+Shift+O",
                  tip="Open a folder of numbered image frames (PNG, TIFF, JPEG) as a shot")
        self.recent_menu = f.addMenu("Open &Recent")
        self._fill_recent()
        self._act(f, "Open Reference &Image…", self.open_reference_dialog,
                  tip="A colour photo beside the shot to pick colours from with the eyedropper")
        f.addSeparator()
        self._act(f, "&Save", self.save, QKeySequence.StandardKey.Save, needs_shot=True,
                  tip="Save the project (hints, keyframes, marks, view)")
        self._act(f, "Save &As…", self.save_as, QKeySequence.StandardKey.SaveAs, needs_shot=True)
        self._act(f, "&Export…", self.export_dialog, "Ctrl+E", needs_shot=True,
                  tip="Write the coloured shot to a video file or an image sequence")
        f.addSeparator()
        # "Ctrl+Q" itself, not QKeySequence.Quit: that standard key is Ctrl+Q on Linux and macOS
        # but has no binding at all on Windows or the offscreen platform (File > Quit had none)
        self._act(f, "&Quit", self.close, "Ctrl+Q")

        e = mb.addMenu("&Edit")
        undo = self.undo.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence("Ctrl+Z"))
        redo = self.undo.createRedoAction(self, "&Redo")
        # One binding per key: QKeySequence.Redo is Ctrl+Shift+Z on Linux, and listing it twice
        # made Qt call the shortcut ambiguous and do nothing.
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.act_undo, self.act_redo = undo, redo
        e.addAction(undo)
        e.addAction(redo)
        self.addAction(undo)
        self.addAction(redo)
        e.addSeparator()
        self._act(e, "Clear Hints on This Frame", self.clear_frame_hints, "Ctrl+Backspace", needs_shot=True)
        self._act(e, "&Preferences…", self.preferences_dialog, "Ctrl+,",
                  tip="Compute device, propagation method, proxy size")

        fr = mb.addMenu("F&rame")
        self.frame_menu = fr
        self._act(fr, "Recolor Keyframe: &Import Colour Image…", self.import_keyframe_dialog, "Ctrl+K", needs_shot=True,
                  tip="Use a colour image (at the shot's size) as this frame's colours")
        self._act(fr, "Recolor Keyframe: &Remove Colour Image", self.remove_keyframe_image, needs_shot=True)
        fr.addSeparator()
        self._act(fr, "Stop Propagation", self.cancel_propagation, "Esc", name="act_stop", needs_shot=True,
                  tip="Stop colouring; frames done keep their colour")
        self._act(fr, "Propagate Again", self.repropagate, "Ctrl+R", needs_shot=True,
                  tip="Bring every frame up to date (only stale frames are computed)")

        vm = mb.addMenu("&View")
        grp = QActionGroup(self)
        for key, label, sc in (("color", "&Colour", "1"), ("gray", "&Grey Source", "2"), ("split", "&Split Before/After", "3")):
            a = self._act(vm, label, lambda _=False, k=key: self.set_view(k), sc, checkable=True, needs_shot=True)
            grp.addAction(a)
            a.setChecked(key == "color")
            setattr(self, f"act_view_{key}", a)
        self._act(vm, "Show &Hints", self.viewer.set_show_hints, "H", checkable=True, name="act_hints",
                  needs_shot=True).setChecked(True)
        self._act(vm, "Zoom to &Fit", self.viewer.reset_zoom, "F", needs_shot=True)

        pm = mb.addMenu("&Playback")
        for text, slot, key, tip in (
                ("Play/Pause", self.toggle_play, "Space", "Play the in-out range (the whole shot without marks), looping"),
                ("Shuttle Reverse", lambda: self.shuttle(-1), "J", "Play backwards; again: faster"),
                ("Stop", lambda: self.shuttle(0), "K", None),
                ("Shuttle Forward", lambda: self.shuttle(1), "L", "Play forwards; again: faster"),
                ("Previous Frame", lambda: self.step(-1), "Left", None),
                ("Next Frame", lambda: self.step(1), "Right", None),
                ("Back 10 Frames", lambda: self.step(-10), "Shift+Left", None),
                ("Forward 10 Frames", lambda: self.step(10), "Shift+Right", None),
                ("First Frame", lambda: self.seek(0), "Home", None),
                ("Last Frame", lambda: self.seek(self.frame_count() - 1), "End", None),
                ("Mark In", self.mark_in, "I", "Start of the range played and exported"),
                ("Mark Out", self.mark_out, "O", "End of the range played and exported"),
                ("Clear Marks", lambda: self._set_marks(None, None), "Alt+X", None)):
            self._act(pm, text, slot, key, tip=tip, needs_shot=True)

        tm = mb.addMenu("&Tools")
        for t in TOOLS:
            self._act(tm, t.capitalize(), lambda _=False, t=t: self.tools.set_tool(t), TOOL_KEYS[t], needs_shot=True,
                      tip=TOOL_TIPS[t])
        self._act(tm, "Smaller Brush", lambda: self.tools.grow(-1), "[", needs_shot=True)
        self._act(tm, "Larger Brush", lambda: self.tools.grow(1), "]", needs_shot=True)
        # How far a stroke's colour reaches, on a grey frame and over colour (saved with the
        # project). Optional-exclusive: a project naming a method not in the menu checks none.
        reach = tm.addMenu("Stroke &Reach")
        grp = QActionGroup(self)
        grp.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        self.reach_actions = {}
        for name, label, tip in STROKE_REACH:
            a = self._act(reach, label, lambda _=False, n=name, t=label: self.set_hint_method(n, t),
                          checkable=True, needs_shot=True, tip=tip)
            grp.addAction(a)
            a.setChecked(name is None)
            self.reach_actions[name] = a
        self._update_enabled()

    def set_hint_method(self, name: str | None, label: str = "") -> None:
        """Tools > Stroke Reach: undoable, re-colours the keyframes painted with strokes."""
        if self.doc is not None and self.doc.hint_method() != name:
            self.undo.push(SetHintMethod(self.doc, name, label.replace("&", "") or str(name)))
        self._sync_reach()         # clicking the checked entry unchecks it: check it again

    def _sync_reach(self) -> None:
        """The menu shows the document's method; none is checked for a method it does not list
        (a project file may name any of HINT_METHODS)."""
        current = self.doc.hint_method() if self.doc is not None else None
        for name, a in self.reach_actions.items():
            if a.isChecked() != (name == current):
                a.setChecked(name == current)

    def _update_enabled(self) -> None:
        """Actions that need a shot are off until one is open (no modal 'open a shot first')."""
        on = self.luma is not None
        for a in self._shot_actions:
            a.setEnabled(on)
        self.play_btn.setEnabled(on)
        self.panel.setEnabled(on)

    def showEvent(self, e):
        # Help stays the last menu whatever other modules added after it was built.
        mb, act = self.menuBar(), self._help_menu.menuAction()
        if mb.actions() and mb.actions()[-1] is not act:
            mb.removeAction(act)
            mb.addAction(act)
        super().showEvent(e)

    def _build_help_menu(self) -> None:
        h = self.menuBar().addMenu("&Help")
        self._help_menu = h
        self._act(h, "&Keyboard Shortcuts…", self.shortcuts_dialog, ["F1", "Ctrl+/"],
                  tip="Every shortcut of the editor, listed from its menus")
        self._act(h, "&Getting Started", lambda: self.status_msg.setText(self._guidance()),
                  tip="What to do next, in the status bar")

    def shortcut_table(self) -> list[tuple[str, str, str]]:
        """(menu, action, keys) for every action with a shortcut, walked from the menu bar, then
        the panels' own (a dock's title as their place: the render queue's Ctrl+Up/Down), plus
        the mouse gestures of the viewer and the timeline."""
        rows = []
        listed = set()

        def add(a, place):
            keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in a.shortcuts())
            rows.append((place, a.text().replace("&", "").rstrip("…"), keys))
            listed.add(a)

        def walk(menu, path):
            for a in menu.actions():
                if a.menu() is not None:
                    walk(a.menu(), path + [a.text().replace("&", "")])
                elif not a.isSeparator() and a.shortcuts():
                    add(a, " > ".join(path))
        for top in self.menuBar().actions():
            if top.menu() is not None:
                walk(top.menu(), [top.text().replace("&", "")])
        for dock in self.findChildren(QDockWidget):
            for a in dock.findChildren(QAction):
                if a not in listed and a.shortcuts() and not a.isSeparator():
                    add(a, dock.windowTitle().replace("&", ""))
        rows += [("Viewer", "Brush size", "Mouse wheel"),
                 ("Viewer", "Zoom about the cursor", "Ctrl+wheel (or Alt+wheel)"),
                 ("Viewer", "Pan", "Middle or right drag"),
                 ("Viewer", "Move the before/after split", "Drag the split line (split view)"),
                 ("Timeline", "Scrub", "Click or drag")]
        return rows

    def shortcuts_dialog(self):
        from app.gui.panels.help import ShortcutsDialog
        dlg = ShortcutsDialog(self, self.shortcut_table())
        dlg.show()
        self._shortcuts = dlg
        return dlg

    # ------------------------------------------------------------------ opening
    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.recent_files():
            a = self.recent_menu.addAction(f"{Path(p).name}  —  {Path(p).parent}")
            a.setToolTip(p)
            a.triggered.connect(lambda _=False, p=p: self.open_path(p))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    def recent_files(self) -> list[str]:
        v = self.settings.value("recent", []) or []
        return [v] if isinstance(v, str) else list(v)

    def _add_recent(self, path: str) -> None:
        path = os.path.abspath(path)          # absolute: the menu names the folder too
        r = [p for p in self.recent_files() if p != path]
        self.settings.setValue("recent", [path] + r[:9])
        self._fill_recent()

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video or project", self._last_dir(), MEDIA_FILTER)
        if path:
            self.open_path(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a folder of frames", self._last_dir())
        if path:
            self.open_path(path)

    def _last_dir(self) -> str:
        r = self.recent_files()
        return str(Path(r[0]).parent) if r else ""

    def _frame_folder_of(self, path: str) -> str | None:
        """An image inside a folder of frames: offer to open the folder (None: declined)."""
        from app.core.validate import IMAGE_EXTS
        p = Path(path)
        ext = p.suffix.lower()
        n = sum(1 for q in p.parent.iterdir() if q.suffix.lower() == ext) if p.parent.is_dir() else 0
        if n < 2:
            return None
        r = self.ask("Open the folder of frames?",
                     f"{p.name} is one frame of {n} {ext} images in {p.parent}.\n"
                     "Open that folder as the shot?",
                     QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel)
        ok = r in (QMessageBox.StandardButton.Open, QMessageBox.StandardButton.Yes)
        return str(p.parent) if ok and ext in IMAGE_EXTS else None

    def dragEnterEvent(self, e):
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e):
        urls = [u.toLocalFile() for u in e.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_path(urls[0])

    def _ask_device(self) -> None:
        """Once at start-up: the worker picks the device and builds the method."""
        if self._device_asked:
            return
        self._device_asked = True
        self.workers.worker.deviceRequested.emit(self.settings.value("device", "auto"),
                                                 self.settings.value("method", "") or "")

    def _ask_device_at_start(self) -> None:
        if self.defer_device_until_open:
            QTimer.singleShot(DEVICE_DEFER_MS, self._ask_device)   # an open that takes long
        else:
            self._ask_device()

    def _device_after_open(self) -> None:
        self._device_after_scan = False
        if self.defer_device_until_open:
            self.defer_device_until_open = False
            QTimer.singleShot(0, self._ask_device)

    def _on_scan_under_way(self, *_args) -> None:
        """The background scan has read its first frame (or was not needed, or failed): its own
        first imports are done, so the worker's torch import may begin (see _on_opened), and a
        propagation asked for meanwhile (a project's keys) runs."""
        if self._device_after_scan:
            self._device_after_open()
        if self._propagation_waits:
            self._propagation_waits = False
            self._propagate_timer.start()

    def open_path(self, path: str) -> bool:
        """Open a video, a folder of frames or a project; the shot decodes in the worker."""
        if not self.maybe_save():
            return False
        path = os.path.abspath(str(path))
        from app.core.validate import IMAGE_EXTS
        if os.path.isfile(path) and Path(path).suffix.lower() in IMAGE_EXTS:
            folder = self._frame_folder_of(path)
            if folder is None:
                self._open_failed(path, "it is a single image, not a video; open the folder of frames "
                                        "instead (File > Open Folder of Frames, Ctrl+Shift+O)")
                return False
            path = folder
        if not os.path.exists(path):
            self._open_failed(path, "no such file or folder")
            return False
        recovered = False
        try:
            rec = docmod.find_recovery(path)     # this file's work a crashed editor autosaved
            answer = self._recover_asked(rec) if rec is not None else False
            if answer is None:
                self.status_msg.setText(f"{Path(path).name} not opened: its autosaved work is kept and "
                                        "offered again when you open it")
                return False
            if answer:
                try:
                    doc, recovered = docmod.Document.recover(rec), True
                except Exception as e:
                    self._error(f"Could not recover the autosaved work of {Path(path).name}:\n{e}")
            if not recovered:
                doc = docmod.Document.open(path) if docmod.is_project(path) else docmod.Document.new(path)
        except Exception as e:
            self._open_failed(path, str(e))
            return False
        relocated = False
        if doc.p.source is not None and not doc.p.source_exists:
            # a project whose video was moved or renamed: asked where it is now (the open
            # failed, naming only the video, and the project could not be opened at all)
            found = self._locate_source(path, doc.media_path)
            if found is None:
                self._open_failed(path, f"its video {doc.media_path} is missing (moved, renamed or deleted?); "
                                        "open the project again to locate it")
                return False
            doc.p.set_source(found)
            relocated = True
        if self.doc is not None and self.luma is not None:
            self._previous = self.doc
        # else the shot open now is still opening: the one open before it stays the one to go
        # back to (a file opened before the last one finished, then failing, lost that shot)
        self._set_document(doc)
        if recovered or relocated:
            self.undo.resetClean()             # not saved to the user's file yet
            self.setWindowModified(True)
        self._opening_path = path
        return True

    def _locate_source(self, project: str, missing: str) -> str | None:
        """Ask where a project's missing video is now; the file chosen (the folder of a frame
        folder's frame), or None."""
        r = self.ask("Video not found",
                     f"The video of {Path(project).name} is not where the project saw it last:\n{missing}\n\n"
                     "Open… to locate it (the project then refers to the file chosen), or Cancel.",
                     QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel)
        if r != QMessageBox.StandardButton.Open:
            return None
        found, _ = QFileDialog.getOpenFileName(self, f"Locate {Path(missing).name}", str(Path(project).parent),
                                               MEDIA_FILTER)
        if not found:
            return None
        from app.core.validate import IMAGE_EXTS
        return str(Path(found).parent) if Path(found).suffix.lower() in IMAGE_EXTS else found

    def _recover_asked(self, rec) -> bool | None:
        """Offer an autosave left by an editor that did not close: True, recover it; False, it
        was deleted (No); None, decided later (Cancel, Escape or closing the question: the copy
        stays and is offered again). Escape and closing the box answered No, deleting it."""
        r = self.ask("Recover unsaved work?", docmod.recovery_text(rec),
                     QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No | QMessageBox.StandardButton.Cancel)
        if r == QMessageBox.StandardButton.Yes:
            return True
        if r == QMessageBox.StandardButton.No:
            docmod.discard_recovery(rec)
            return False
        return None

    def _open_failed(self, path: str, reason: str) -> None:
        """A failed open: one status line with the reason; the window keeps its title."""
        self._device_after_open()
        reason = " ".join(str(reason).split()) or "unknown error"
        self._error(f"Cannot open {Path(path).name}: {reason}", detail=str(path))

    def _set_document(self, doc) -> None:
        self.cancel_propagation()
        if self.doc is not None and self.doc is not doc:
            from app.gui.worker import release_frozen
            release_frozen()           # the old document may be frozen with torch's import
        self.doc = doc
        self.undo.clear()
        self.undo.setClean()
        self.info = self.luma = None
        self.store = None
        self.loader.reset(None)
        self._thumbs.clear()
        self.current = 0
        self.viewer.show(None, None, None, [], frame=-1)
        self.timeline.reset(0, None)
        doc.subscribe(self._on_doc_changed)
        self._sync_reach()
        self.setWindowFilePath(doc.path or doc.media_path)
        self._title()
        self.status_msg.setText(f"Opening {Path(doc.media_path).name}…")
        self.viewer.set_message(f"Reading {Path(doc.media_path).name}…")
        self.progress.setRange(0, 0)
        self.progress.show()
        self.workers.worker.cancel_open()
        self.workers.worker.openRequested.emit(doc.media_path, self.proxy_height)

    def _title(self) -> None:
        name = Path(self.doc.path).name if self.doc and self.doc.path else (
            Path(self.doc.media_path).name + " (unsaved project)" if self.doc else "")
        self.setWindowTitle(f"{name}[*] — Hueshot" if name else "Hueshot[*]")
        self.setWindowModified(not self.undo.isClean())

    @Slot(int, int)
    def _on_opening(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"Reading %v/%m")

    @Slot(object, object)
    def say_luma_cache_problem(self, luma) -> None:
        """Once per opened source: the luma cache could not be written (a full or read-only
        cache disk). The editor goes on, its frames read from the source as needed."""
        self._say_cache_problem("luma", luma, ".", "Editing goes on. HUESHOT_CACHE_DIR moves the cache "
                                "to a folder with room.")

    def _say_cache_problem(self, kind: str, cache, tail: str, detail: str) -> None:
        """A cache's `disk_error` (a luma store, the colour cache), once per cache object, in a
        box that stays until dismissed: a status line is replaced by the next message."""
        err = getattr(cache, "disk_error", None)
        told = f"_{kind}_cache_told"
        if err and getattr(self, told, None) is not cache:
            setattr(self, told, cache)
            self._error(f"{err[0].upper()}{err[1:]}{tail}", detail=detail)

    def _on_opened(self, info, luma) -> None:
        if self.doc is None or os.path.abspath(info.path) != os.path.abspath(self.doc.media_path):
            return                        # a newer open superseded this one
        self.info, self.luma = info, luma
        self.viewer.set_pixel_aspect(getattr(info, "sample_aspect_ratio", 1))
        w, h = luma.size
        disk, read = docmod.chroma_dirs(self.doc)
        self.store = FrameStore(len(luma), (w, h), disk_dir=disk, read_dirs=read)
        self.store.luma = luma
        self.workers.worker.store = self.store
        self.loader.reset(self.store)
        dropped, other_size = self.doc.bind(info, luma.size, len(luma))
        self.timeline.reset(len(luma), self._thumb)
        self.progress.hide()
        self.status_msg.setText(info.describe())
        if getattr(luma, "error", None) is not None:
            self._error(f"Only part of the shot could be read:\n{luma.error}")
        self._refresh_markers()
        self.current = -1
        self.seek(0)
        self._add_recent(self.doc.path or self.doc.media_path)
        self._previous = None
        self.viewer.set_message(None)
        self._update_enabled()
        self._restore_view_state()
        self.status_msg.setText(getattr(self, "_pending_error", None) or f"{info.describe()} — {self._guidance()}")
        self._pending_error = None
        self.say_luma_cache_problem(luma)
        if dropped or other_size:
            # the document no longer matches its file: saving writes it without them, quitting asks
            self.undo.resetClean()
            n = len(luma)
            name = Path(self.doc.path).name if self.doc.path else "The project"
            said = []
            if dropped:
                said.append(f"{name} refers to frames past the end of {Path(info.path).name} ({n} frames, "
                            f"0–{n - 1}). Left out, so that the rest can be edited and exported: "
                            f"{'; '.join(dropped)}.")
            if other_size:
                said.append(f"{name} has keyframe images of another size than {Path(info.path).name} "
                            f"({info.width}x{info.height}; a different video?). Left out, so that the rest "
                            f"can be edited and exported: the keyframe image{'s' if len(other_size) > 1 else ''} on "
                            f"{', '.join(other_size)}.")
            self._error("\n".join(said), detail="The project file keeps them until you save it.")
        self.shotOpened.emit()
        if self.defer_device_until_open and not getattr(luma, "complete", True):
            # torch's import loads its native library without the GIL (app.gui.worker.import_torch);
            # meanwhile a thread that loads another one waits for the loader holding the GIL, and
            # the scan starting now does (its shot detector's first imports): the GUI thread
            # stalled 130-180 ms. Asked once the scan reads (_on_scan_under_way).
            self._device_after_scan = True
        else:
            self._device_after_open()
        if self.doc.has_hints():
            self._schedule_propagation(self.doc.first_key())

    @Slot(str, str)
    def _on_open_failed(self, path: str, msg: str) -> None:
        self.progress.hide()
        prev, self._previous = self._previous, None
        if prev is not None:
            self._set_document(prev)          # back to the shot that was open (cached colour)
        else:
            self.doc = None
            self.setWindowFilePath("")
            self.setWindowTitle("Hueshot[*]")
            self.viewer.set_message(None)
            self._update_enabled()
        self._open_failed(path, msg.split(": ", 1)[-1] if msg.startswith(str(path)) else msg)
        self._pending_error = self.status_msg.text() if prev is not None else None   # kept when it is back

    def open_reference_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open reference image", "", "Images (*.png *.jpg *.jpeg *.tif *.tiff *.bmp)")
        if path:
            self.open_reference(path)

    def open_reference(self, path: str) -> None:
        from app.core.media import read_image_rgb
        try:
            self.panel.reference.set_image(read_image_rgb(path))
        except Exception as e:
            self._error(str(e))

    # ------------------------------------------------------------------ display
    def frame_count(self) -> int:
        return len(self.luma) if self.luma is not None else 0

    def _gray(self, i: int) -> np.ndarray:
        """The grey view of frame i (one channel: compose_rgb's grey has R = G = B)."""
        return self._lut1[self.luma.raw(i)]

    def _thumb(self, i: int):
        """Timeline thumbnail, made on the display loader's thread (`_make_thumb`): the luma may
        have to be read from disk and the GUI thread must not wait for it. Until the new one is
        in, the frame's previous thumbnail (or none) is drawn."""
        sig = (self.store.sig_of(i) or "") if self.store else ""
        got = self._thumbs.get(i)
        if (got is None or got[0] != sig) and _luma_ready(self.luma, i):   # none until the scan is there
            self.loader.thumb(i)
        return None if got is None else got[1]

    def _make_thumb(self, i: int):
        """(key it shows, QImage) of frame i's thumbnail; runs on the loader thread. Numpy block
        means, not cv2.resize, which waits for OpenCV's busy thread pool (30-60 ms measured)."""
        store = self.store
        sig = (store.sig_of(i) or "") if store else ""
        rgb = store.cached_rgb(i) if store else None
        f = max(1, self.luma.size[1] // Timeline.THUMB_H)
        if rgb is None:
            sig = ""
            return sig, gray_to_qimage(self._lut1[_block_mean(self.luma.raw(i), f)])
        return sig, rgb_to_qimage(_block_mean(rgb, f))

    @Slot(int, str, object)
    def _on_thumb(self, i: int, sig: str, img) -> None:
        if self.luma is None or i >= self.frame_count():
            return
        self._thumbs[i] = (sig, img)
        self.timeline.invalidate_thumb(i)

    def seek(self, i: int) -> None:
        n = self.frame_count()
        if n == 0:
            return
        i = int(min(n - 1, max(0, i)))
        if i == self.current:
            return
        self.current = i
        self.timeline.set_current(i)
        self._show_current()

    def _show_current(self) -> None:
        if self.luma is None or self.store is None:
            return      # no shot (the next one is opening): a frame or run of the last one came late
        i = self.current
        if not _luma_in_memory(self.luma, i):
            # not in memory: read from the disk store, or decoded (a seek) when the background
            # scan has not stored it yet, by the display loader, never here (a chunk read took
            # ~100 ms on the loaded host); shown on `loaded`; until then the frame label says so
            # (the viewer keeps the last image)
            self.loader.request(i)
            fps = (self.info.fps if self.info else 24.0) or 24.0
            where = "reading it" if _luma_ready(self.luma, i) else "reading it from the source"
            self.frame_label.setText(f"Frame {i} of 0–{self.frame_count() - 1} · {timecode(i, fps, self.info.timecode if self.info else None)} · {where}…")
            return
        if self._play_timer.isActive():   # the next chunk read before the playhead gets there
            from app.core.reels.lumastore import CHUNK
            nxt = i + (CHUNK // 2 if self._play_dir >= 0 else -(CHUNK // 2))
            if 0 <= nxt < self.frame_count() and not _luma_in_memory(self.luma, nxt):
                self.loader.ahead(nxt)
        gray = self._gray(i)
        rgb = self.store.cached_rgb(i)
        color = rgb_to_qimage(rgb) if rgb is not None else None
        if rgb is None and self.store.sig_of(i) is not None:
            self.loader.request(i)       # read and composed off the GUI thread; shown on `loaded`
            if self.viewer.frame == i:
                color = self.viewer.color_img    # same frame: its old colour until the new one is in
        self._shown = i
        # its colour is on its way from the cache: the viewer says so, not "no colour"
        self.viewer.colour_coming = color is None and self.store.sig_of(i) is not None
        self.viewer.show(color, gray_to_qimage(gray),
                         self.luma[i], self.doc.strokes(i) if self.doc else [], frame=i)
        n = self.frame_count()
        state = {NONE: "no colour yet", STALE: "stale", COMPUTING: "computing", DONE: "propagated"}[int(self.timeline.states[i])]
        key = " · keyframe" if self.doc and i in self.doc.key_frames() else ""
        fps = (self.info.fps if self.info else 24.0) or 24.0
        self.frame_label.setText(f"Frame {i} of 0–{n - 1} · {timecode(i, fps, self.info.timecode if self.info else None)} · {state}{key}")
        self.viewer.set_guide(self._viewer_guide())
        self.frameShown.emit(i)

    def set_view(self, view: str) -> None:
        self.viewer.set_view(view)
        getattr(self, f"act_view_{view}").setChecked(True)

    # ------------------------------------------------------------------ transport
    def step(self, d: int) -> None:
        self.stop_playback()
        self.seek(self.current + d)

    def toggle_play(self) -> None:
        if self._play_timer.isActive():
            self.stop_playback()
        else:
            self._start_play(1, 1)

    def shuttle(self, direction: int) -> None:
        """J/K/L: repeated J or L speeds up (1x, 2x, 4x, 8x); K stops."""
        if direction == 0:
            self.stop_playback()
            return
        if self._play_timer.isActive() and self._play_dir == direction:
            self._shuttle = min(len(SHUTTLE) - 1, self._shuttle + 1)
        else:
            self._shuttle = 0
        self._start_play(direction, SHUTTLE[self._shuttle])

    def _start_play(self, direction: int, speed: int) -> None:
        if not self.frame_count():
            return
        lo, hi = self.play_range()
        if direction > 0 and speed == 1 and not lo <= self.current < hi:
            self.seek(lo)                 # Play starts at the in mark when outside the range
        self._play_dir = direction
        fps = (self.info.fps if self.info else 24.0) or 24.0
        self._play_step = direction * max(1, int(speed * fps / 60)) if speed * fps > 60 else direction
        self._play_timer.setInterval(max(8, int(1000 / min(60.0, fps * speed))))
        self._play_timer.start()
        self.play_btn.setText("Pause")
        self.view_label.setText(f"{'◀' if direction < 0 else '▶'} {speed}x")

    def stop_playback(self) -> None:
        self._play_timer.stop()
        self._play_dir = 0
        self._shuttle = 0
        self.play_btn.setText("Play")
        self.view_label.setText("")

    def play_range(self) -> tuple[int, int]:
        """First and last frame played: the in-out marks when set, else the whole shot."""
        n = self.frame_count()
        a, b = self.doc.marks() if self.doc else (None, None)
        return (a or 0), (b if b is not None else n - 1)

    def _play_tick(self) -> None:
        if not _luma_in_memory(self.luma, self.current):
            return      # a frame still being read (loader thread): playback waits for it (buffering)
        lo, hi = self.play_range()
        nxt = self.current + self._play_step
        if self._play_dir > 0 and nxt > hi:
            nxt = lo if self._play_step == 1 and self._shuttle == 0 else hi   # Space loops the range
            if nxt == hi:
                self.stop_playback()
        if self._play_dir < 0 and nxt < lo:
            nxt = lo
            self.stop_playback()
        self.seek(nxt)

    def mark_in(self) -> None:
        _, out = self.doc.marks() if self.doc else (None, None)
        self._set_marks(self.current, out if out is not None and out >= self.current else None)

    def mark_out(self) -> None:
        i, _ = self.doc.marks() if self.doc else (None, None)
        self._set_marks(i if i is not None and i <= self.current else None, self.current)

    def _set_marks(self, a, b) -> None:
        if self.doc is not None and self.frame_count():
            self.undo.push(SetMarks(self.doc, a, b))

    # ------------------------------------------------------------------ editing
    def _on_stroke(self, frame, points, radius, erase) -> None:
        """A stroke painted in the viewer goes on the frame the viewer showed under it, which is
        not always the playhead's: after a seek to a frame whose luma is still being read (a
        disk read, or a decode while the background scan runs) the viewer keeps the previous
        frame until the new one is in. What the user sees is what they paint on."""
        if self.doc is None or not 0 <= frame < self.frame_count():
            return
        stroke = HintStroke(frame=int(frame), points=[tuple(p) for p in points], radius=float(radius),
                            color=tuple(self.tools.color), erase=bool(erase), id=uuid.uuid4().hex)
        if not erase:
            self.panel.palette.add(self.tools.color)
        self.undo.push(AddStroke(self.doc, stroke))

    def _on_sampled(self, color) -> None:
        self.tools.set_color(color)
        self.panel.palette.add(color)

    def clear_frame_hints(self) -> None:
        if self.doc is not None and self.doc.strokes(self.current):
            self.undo.push(ClearHints(self.doc, self.current))

    def import_keyframe_dialog(self) -> None:
        if self.doc is None or not self.frame_count():
            return
        path, _ = QFileDialog.getOpenFileName(self, "Import colour keyframe", "", "Images (*.png *.jpg *.jpeg *.tif *.tiff *.bmp)")
        if path:
            self.import_keyframe(path)

    def import_keyframe(self, path: str) -> bool:
        """Use a colour image as the keyframe of the current frame; it must match the shot's size."""
        from app.core.media import read_image_rgb
        try:
            rgb = read_image_rgb(path)
        except Exception as e:
            self._error(f"Cannot import the keyframe:\n{e}")
            return False
        from app.core.render import key_at_stored_size
        shown = getattr(self.info, "display_size", (self.info.width, self.info.height))
        fitted = key_at_stored_size(rgb, (self.info.width, self.info.height), shown)
        if fitted is None:
            alt = f" (shown {shown[0]}x{shown[1]})" if tuple(shown) != (self.info.width, self.info.height) else ""
            self._error(f"Cannot import {Path(path).name} as a keyframe: it is {rgb.shape[1]}x{rgb.shape[0]}, "
                        f"the shot is {self.info.width}x{self.info.height}{alt}. Export the frame at the shot's size.")
            return False
        rgb = fitted
        self.undo.push(SetKeyImage(self.doc, self.current, rgb))
        return True

    def remove_keyframe_image(self) -> None:
        if self.doc is not None and self.doc.key_image(self.current) is not None:
            self.undo.push(SetKeyImage(self.doc, self.current, None))

    def _on_doc_changed(self, kind: str, frame) -> None:
        """Document observer: every change (direct, undo or redo) comes through here."""
        self._refresh_markers()
        self._sync_reach()
        if kind == "marks":
            self.timeline.set_marks(*self.doc.marks())
            return
        if self.luma is not None and frame is not None and frame == self.viewer.frame:
            self.viewer.set_strokes(self.doc.strokes(frame))     # the frame on screen (see _on_stroke)
        self._schedule_propagation(frame if frame is not None else self.current)

    def _refresh_markers(self) -> None:
        if self.doc is None:
            return
        self.timeline.set_markers(self.doc.key_frames(), self.doc.hinted_frames())
        self.timeline.set_marks(*self.doc.marks())

    # ------------------------------------------------------------------ propagation
    def _schedule_propagation(self, focus: int) -> None:
        self.generation += 1
        self.workers.worker.bump(self.generation)   # the running job stops at its next frame
        self._edit_focus = focus
        self._propagate_timer.start()

    def _specs(self) -> list[KeySpec]:
        hint = self.doc.hint_method()
        return [KeySpec(frame=f, strokes=list(self.doc.strokes(f)), image=self.doc.key_image(f),
                        token=self.doc.key_token(f), hint_method=hint) for f in sorted(self.doc.key_frames())]

    def _request_propagation(self, frames=None) -> None:
        if self.doc is None or self.luma is None:
            return
        if self._device_after_scan and frames is None:
            # the worker would build its method for this run now (torch's import), beside the
            # background scan's start: it waits for the scan to read (_on_scan_under_way)
            self._propagation_waits = True
            return
        specs = self._specs()
        self.running_gen = self.generation
        self._cancel_said_gen = -1     # a new run (same generation or not): its reports replace a cancel's
        self._stopped_by_user = False
        self._frames_this_run = 0
        self._run_total = 0
        self._run_t0 = time.perf_counter()
        self._adopt(specs)
        self.workers.worker.propagateRequested.emit(self.generation, specs, int(self._edit_focus),
                                                    None if frames is None else list(frames))
        if self._to_warm:
            self.loader.warm(self._to_warm)

    def _adopt(self, specs) -> None:
        """Give every frame its key for the current keyframes (app.core.cache.frame_keys): a
        frame whose key is unchanged stays done; one whose new key is cached already (an undone
        edit, a reopened project) shows that chroma at once; the others are stale until the
        worker brings them. Only the frames an edit can change are marked."""
        self._to_warm = []
        w = self.workers.worker
        # Before the worker knows its frame-key context (just after an open) nothing can be
        # matched yet: _on_started adopts again once the worker has begun this run.
        self._adopt_pending = specs if w.context is None else None
        if self.store is None or w.context is None:
            return
        sigs = self._frame_keys(specs)
        states = self.timeline.states.copy()
        held: dict = {}          # key -> frames cached under it, listed once (not a stat a frame)
        # Work per frame only where there is some: a film's frames in shots without a key, and
        # those whose key did not change, are handled in bulk (a loop over all 70,000 frames of
        # a reel took the GUI thread 0.4 s at every stroke and undo)
        store = self.store
        keyed = np.fromiter((s is not None for s in sigs), bool, len(sigs))
        states[~keyed] = NONE
        for i in store.forget_unkeyed(keyed):
            self.timeline.invalidate_thumb(i)    # its thumbnail was in colour: grey again
        same = store.confirm_unchanged(sigs)
        store.confirm(same, self.generation)
        states[same] = DONE
        rest = keyed.copy()
        rest[same] = False
        for i in np.flatnonzero(rest).tolist():
            sig, before = sigs[i], store.sig_of(i)
            if store.adopt(i, sig, self.generation, held):
                states[i] = DONE
                self.timeline.invalidate_thumb(i)
                if store.cached_rgb(i) is None:
                    self._to_warm.append(i)
            else:
                states[i] = STALE if before is not None else NONE
        self.timeline.set_all_states(lambda s: states)
        cur = self.current
        self._to_warm.sort(key=lambda i: abs(i - cur))
        if 0 <= cur < len(sigs):
            self._show_current()

    def _frame_keys(self, specs) -> list:
        """Every frame's key for these keyframes, as the worker plans them (None: the frame is in
        a shot with no key or stroke, and no propagation will colour it)."""
        from app.gui.worker import plan_frames
        w = self.workers.worker
        return plan_frames(specs, self.frame_count(), w.context, w.segment_local, w.shots)[0]

    def frames_without_key(self, frames) -> set[int]:
        """The frames among `frames` that stay grey for the current edits (see _frame_keys)."""
        if self.doc is None or self.workers.worker.context is None:
            return set()
        sigs = self._frame_keys(self._specs())
        return {i for i in frames if 0 <= i < len(sigs) and sigs[i] is None}

    def propagating(self) -> bool:
        """A propagation for the current generation is queued or running."""
        return (self._propagate_timer.isActive() or self._propagation_waits or
                (self.running_gen == self.generation and
                 (self._last_finished is None or self._last_finished[0] != self.generation)))

    def complete_frames(self, frames) -> bool:
        """Compute the frames among `frames` that have no chroma for the current edits (after a
        stopped propagation, or evicted from the cache) without invalidating the others.
        Returns False when nothing needed computing or a run is already on its way."""
        if self.doc is None or self.store is None or not self.doc.key_frames():
            return False
        missing = self.store.missing(frames, self.generation)
        if not missing or self.propagating():
            return False
        self._edit_focus = missing[0]
        self._request_propagation(missing)
        return True

    def repropagate(self) -> None:
        """Ctrl+R: bring every frame up to date (after a stop, only what is missing is computed)."""
        if self.doc is not None and self.luma is not None:
            self._schedule_propagation(self.current)

    @Slot()
    def cancel_propagation(self) -> None:
        """Stop the running propagation; computed frames stay, the rest is marked stale.
        GUI-thread state: a call from another thread is forwarded to the GUI thread (stopping
        the coalescing QTimer from another thread is what Qt warns about with killTimer)."""
        if QThread.currentThread() is not self.thread():
            QMetaObject.invokeMethod(self, "cancel_propagation", Qt.ConnectionType.QueuedConnection)
            return
        running = self.propagating()
        self.generation += 1
        self.workers.worker.bump(self.generation)
        self._propagate_timer.stop()
        self._propagation_waits = False
        if running:
            self._stopped_by_user = True

    @Slot(int, int)
    def _on_started(self, gen: int, total: int) -> None:
        if gen != self.generation:
            return
        if self._adopt_pending is not None:
            self._adopt(self._adopt_pending)     # the cached frames of a reopened project
            if self._to_warm:
                self.loader.warm(self._to_warm)
        self._run_total = total
        if total == 0:
            return
        self.timeline.set_all_states(lambda s: np.where(s == DONE, DONE, COMPUTING))
        self.progress.setRange(0, total)
        self.progress.setValue(0)
        self.progress.setFormat("Propagating %v/%m")
        self.progress.show()
        self._say_run(gen, f"Propagating {total} frame(s) with {self.workers.worker.method}… (Esc stops)")

    @Slot(int, int, object, object)
    def _on_frame(self, gen: int, index: int, ab, rgb) -> None:
        if gen != self.generation or self.store is None:
            return                               # stale: an edit came after this was started
        if ab is not None:                       # computed (not a cached frame's RGB composed)
            self._frames_this_run += 1
            self.progress.setValue(self._frames_this_run)
        self.timeline.set_state(index, DONE)
        self.timeline.invalidate_thumb(index)
        if index == self.current:
            self._show_current()
        self.frameArrived.emit(gen, index)

    def _say_chroma_cache_problem(self) -> None:
        """Once per opened shot: propagated colour could not be written to the disk cache (a
        full or read-only disk). The colour stays in memory for this session."""
        self._say_cache_problem("chroma", getattr(self.store, "chroma", None),
                                ": the colour is kept in memory for this session, not for the next opening.",
                                "Editing goes on. Free some room there, or save the project on another disk, "
                                "to keep the colour.")

    @Slot(int, bool, float)
    def _on_finished(self, gen: int, completed: bool, seconds: float) -> None:
        if gen == self.running_gen:
            self.progress.hide()
        if gen == self.generation:
            if completed and self.store is not None:
                if self.doc is not None:
                    # frames a superseded run cached after this run's adopt (a quick undo and
                    # redo) were skipped by the worker as done, and no frame of theirs came:
                    # adopted now, so they show their colour instead of "no colour yet"
                    self._adopt(self._specs())
                    if self._to_warm:
                        self.loader.warm(self._to_warm)
                # frames the run did not reach have no colour (none were asked)
                self.timeline.set_all_states(lambda s: np.where(s == COMPUTING, NONE, s))
                n = self.frame_count()
                if not self.doc.key_frames():
                    self._say_run(gen, self._guidance())
                elif self._frames_this_run:
                    fps = self._frames_this_run / max(1e-6, seconds)
                    # "kept" only when some were: after a first stroke every frame was computed
                    kept = "; frames the edit cannot change were kept" if self._frames_this_run < n else ""
                    self._say_run(gen, f"Propagated {self._frames_this_run} frame(s) in {seconds:.1f} s "
                                       f"({fps:.1f} fps){kept}")
                else:
                    # nothing computed: say how many frames really have colour (a shot with no
                    # key or hint stays grey, and a stroke past the end colours nothing)
                    coloured = n - len(self.store.missing(range(n), self.generation))
                    if coloured == n:
                        self._say_run(gen, f"All {n} frames are in colour (kept from the project's cache)")
                    else:
                        self._say_run(gen, f"{coloured} of {n} frames are in colour; frames in shots "
                                           "without a keyframe or hint stay grey")
                self._show_current()
                self._say_chroma_cache_problem()
            else:
                self._uncompute()
        elif gen == self.running_gen and self.generation > gen:
            self._uncompute()
            if getattr(self, "_stopped_by_user", False):
                self._stopped_by_user = False
                total = getattr(self, "_run_total", 0)
                self.status_msg.setText(f"Propagation stopped after {self._frames_this_run} of {total} frame(s); "
                                        "stale frames keep their old colour (Frame > Propagate Again, Ctrl+R)")
                self._cancel_said_gen = gen
                self._show_current()
        self._last_finished = (gen, completed)
        self.propagationFinished.emit(gen, completed)

    def _say_run(self, gen: int, text: str) -> None:
        """A propagation run's report in the status bar, unless a cancel message was shown
        after this run was asked for (a run an export started goes on after the export's
        Cancel, and its "Propagated…" replaced "Export cancelled")."""
        if gen > self._cancel_said_gen:
            self.status_msg.setText(text)

    @Slot(int)
    def _on_loaded(self, i: int) -> None:
        self.timeline.invalidate_thumb(i)
        if i == self.current:
            self._show_current()

    def _uncompute(self) -> None:
        """A run ended early: frames it did not reach are stale (old colour) or have none."""
        if self.store is None:
            return
        has = np.array([self.store.sig_of(i) is not None for i in range(self.frame_count())], bool)
        self.timeline.set_all_states(lambda s: np.where(s == COMPUTING, np.where(has, STALE, NONE), s))

    @Slot(str)
    def _on_worker_error(self, msg: str) -> None:
        if self.workers.worker.method is None:
            self.device_label.setText("Device: none usable (see error; Edit > Preferences)")
        self._error(msg)

    @Slot(str, str)
    def _on_device(self, desc: str, method: str) -> None:
        self.device_label.setText(f"Device: {desc} · {method}")
        self.device_label.setToolTip("Compute device and propagation method in use (Edit > Preferences)")

    # ------------------------------------------------------------------ save / autosave
    def save(self) -> bool:
        if self.doc is None:
            return False
        if not self.doc.path:
            return self.save_as()
        return self._save_to(self.doc.path)

    def save_as(self) -> bool:
        if self.doc is None:
            return False
        suggested = str(Path(self.doc.media_path).with_suffix(docmod.PROJECT_SUFFIX))
        path, _ = QFileDialog.getSaveFileName(self, "Save project", suggested, f"Hueshot project (*{docmod.PROJECT_SUFFIX})")
        return bool(path) and self._save_to(path)

    def _editor_state(self) -> dict:
        """What the project remembers of the editor besides the edits: playhead, view, tools."""
        return {"frame": int(self.current), "view": self.viewer.view, "show_hints": bool(self.viewer.show_hints),
                "recent_colours": [list(c) for c in self.panel.palette.colors],
                "colour": list(self.tools.color), "radius": float(self.tools.radius), "tool": self.tools.tool}

    def _restore_view_state(self) -> None:
        st = (self.doc.p.settings or {}).get("editor") if self.doc is not None else None
        if not isinstance(st, dict):
            return
        def rgb(v) -> tuple[int, int, int]:
            c = tuple(int(x) for x in v)
            if len(c) != 3 or not all(0 <= x <= 255 for x in c):
                raise ValueError(f"not an sRGB colour (three values 0..255): {v!r}")
            return c
        try:
            # every colour checked before any is used: a bad one (e.g. two values) once reached
            # the brush and every later stroke failed in the palette without a word
            recent = [rgb(c) for c in st.get("recent_colours") or []]
            colour = rgb(st["colour"]) if st.get("colour") else None
            for c in reversed(recent):
                self.panel.palette.add(c)
            if colour is not None:
                self.tools.set_color(colour)
            if st.get("radius"):
                self.tools.set_radius(float(st["radius"]))
            if st.get("tool") in TOOLS:
                self.tools.set_tool(st["tool"])
            if st.get("view") in ("color", "gray", "split"):
                self.set_view(st["view"])
            self.act_hints.setChecked(bool(st.get("show_hints", True)))
            self.viewer.set_show_hints(bool(st.get("show_hints", True)))
            self.seek(int(st.get("frame", 0)))
        except (TypeError, ValueError) as e:      # a hand-edited project: keep the defaults
            log.warning("editor state in the project ignored: %s", e)

    def _save_to(self, path: str) -> bool:
        try:
            # stored without a change event: the view is not an edit (no propagation, no undo)
            self.doc.p.settings["editor"] = self._editor_state()
            try:
                self.doc.save(path)
            except docmod.ProjectChangedOnDisk as e:
                # a second editor on the same project saved it: saving silently dropped its work
                r = self.ask("Project changed on disk",
                             f"{e}.\n\nSave replaces what was saved there with this window's project; "
                             "Cancel leaves the file as it is (File > Save As… keeps both).",
                             QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel,
                             QMessageBox.StandardButton.Cancel)
                if r != QMessageBox.StandardButton.Save:
                    self.status_msg.setText(f"Not saved: {Path(path).name} was changed on disk by another "
                                            "window or program (File > Save As… saves this one elsewhere)")
                    return False
                self.doc.save(path, overwrite=True)
        except Exception as e:
            log.exception("save failed")
            self._error(f"Could not save the project to {path}:\n{e}")
            return False
        self.undo.setClean()
        self._title()
        self._add_recent(self.doc.path)
        if self.store is not None:
            # The project's cache folder takes the chroma along (linked or copied, in the worker).
            disk, _read = docmod.chroma_dirs(self.doc)
            self.store.chroma.move_disk(disk)
            entries = [(self.store.sig_of(i), i) for i in range(self.frame_count()) if self.store.sig_of(i)]
            self.workers.worker.keepRequested.emit(entries)
        self.status_msg.setText(f"Saved {self.doc.path}")
        return True

    def autosave(self) -> None:
        if self.doc is not None and self.undo.isClean():
            self.doc.drop_autosave()
        elif self.doc is not None:
            try:
                self.doc.autosave()
            except Exception as e:   # an autosave failure must not interrupt the editor
                log.exception("autosave failed")
                if self._autosave_failing:
                    self.status_msg.setText(f"Autosave failed: {e}")
                else:
                    # said once in a box (the status line is soon overwritten by propagation):
                    # a crash from now on would lose the edits since the last save
                    self._autosave_failing = True
                    self._error(f"Autosave failed: {e}",
                                "Your edits are still in this window, but a crash would lose the ones "
                                "not saved. Save the project (Ctrl+S, or File > Save As elsewhere).")
            else:
                self._autosave_failing = False

    def maybe_save(self) -> bool:
        """True when it is fine to drop the current document (its autosave is then removed:
        an autosave of edits undone since was offered later as a crash's)."""
        if self.doc is None:
            return True
        if self.undo.isClean():
            self.doc.close()
            return True
        r = self.ask("Unsaved changes", "Save changes to the project before closing it?",
                     QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel)
        if r == QMessageBox.StandardButton.Save:
            return self.save()
        if r == QMessageBox.StandardButton.Discard:
            self.doc.close()       # discarded on purpose: its autosave is not offered again
            return True
        return False

    def ask(self, title, text, buttons, default=QMessageBox.StandardButton.NoButton):
        """Modal question; tests replace this to answer without a dialog."""
        return QMessageBox.question(self, title, text, buttons, default)

    def running_exports(self) -> list:
        """The File > Export dialogs whose export is running."""
        from app.gui.panels.export_dialog import ExportDialog
        return [d for d in self.findChildren(ExportDialog) if d.running()]

    def may_stop_exports(self) -> bool:
        """True when no export is running, or the user agreed to cancel it (Cancel, the
        default, keeps it running). Quitting used to drop a running export without a word."""
        running = self.running_exports()
        if not running:
            return True
        what = ", ".join(f"{d.percent()} %, {Path(d.output()).name}" for d in running)
        r = self.ask("Export running",
                     f"An export is running ({what}). Quit and cancel it?\n"
                     "What it has written so far is removed.",
                     QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                     QMessageBox.StandardButton.Cancel)
        return r == QMessageBox.StandardButton.Yes

    def offer_recovery(self) -> None:
        rec = docmod.find_recovery()
        if not rec or not self._recover_asked(rec):
            return
        try:
            self._set_document(docmod.Document.recover(rec))
            # Recovered work is not saved to the user's file yet: mark it modified.
            self.setWindowModified(True)
            self.undo.resetClean()
        except Exception as e:
            self._error(f"Could not recover the autosaved work in {rec.path}:\n{e}")

    def closeEvent(self, e):
        # both questions first: the export keeps running if either is declined
        if not self.may_stop_exports() or not self.maybe_save():
            e.ignore()
            return
        if self.doc is not None:
            self.doc.close()           # a clean exit leaves no recovery file behind
        self._shut_down()
        e.accept()

    def _shut_down(self) -> None:
        """What ending the editor stops, closed or signalled."""
        for dlg in self.running_exports():
            dlg.stop()                 # cancelled as by its Cancel button: no partial output left
        self.stop_playback()
        self.workers.stop()
        self.loader.stop()
        self.render_queue.shutdown()   # a running queued render is stopped and queued again
        self.prior_tools.service.shutdown()

    def end_on_signal(self) -> None:
        """SIGINT, SIGTERM or SIGHUP (app.gui.main): the editor ends without asking, as after a
        crash, but the edits not yet autosaved are autosaved first and the recovery copy is
        kept, so the next open offers them. (The signal killed the process with up to a minute
        of work lost; Ctrl+C printed a KeyboardInterrupt traceback and went on.)"""
        self.autosave()                # a failure is logged; the editor ends all the same
        self._shut_down()
        self.hide()

    # ------------------------------------------------------------------ dialogs
    def export_dialog(self):
        from app.gui.panels.export_dialog import ExportDialog
        if self.doc is None or self.luma is None:
            self.status_msg.setText("Open a shot before exporting (File > Open).")
            return None
        dlg = ExportDialog(self, self.doc, self.info, self.store)
        # the export's progress shows in the main window too (the dialog may be behind it)
        dlg.stageChanged.connect(self._on_export_stage)
        dlg.progressed.connect(self._on_export_progress)
        dlg.finished_export.connect(self._on_export_done)
        self.shot_panel.watch_export(dlg)     # a finished export marks the shots it rendered
        dlg.show()
        self._export_dlg = dlg
        return dlg

    def _on_export_stage(self, text: str) -> None:
        self.export_progress.show()
        self.export_progress.setFormat("Export %p%")
        self.status_msg.setText(f"Export: {text}")

    def _on_export_progress(self, done: int, total: int) -> None:
        self.export_progress.setRange(0, max(1, total))
        self.export_progress.setValue(done)
        self.export_progress.setFormat(f"Export {done}/{total}")
        self.export_progress.show()

    def _on_export_done(self, ok: bool, msg: str) -> None:
        self.export_progress.hide()
        self.status_msg.setText(f"Exported to {msg}" if ok else msg)
        if not ok and msg.startswith("Export cancelled") and self.running_gen is not None and self.propagating():
            # the run it asked for goes on: its reports must not replace this message (with no
            # run going, the next run at the same generation is a new job and reports)
            self._cancel_said_gen = self.running_gen

    def preferences_dialog(self):
        from app.gui.preferences import PreferencesDialog
        dlg = PreferencesDialog(self, self.settings)
        if dlg.exec():
            self.workers.worker.deviceRequested.emit(self.settings.value("device", "auto"),
                                                     self.settings.value("method", "") or "")

    # ------------------------------------------------------------------ errors
    def _error(self, msg: str, detail: str | None = None) -> None:
        """Tell the user without blocking the event loop (the worker keeps streaming). The
        status bar gets the whole message on one line (never a bare 'Cannot open the shot:')."""
        log.error("%s", msg)
        self.last_error = msg
        self.status_msg.setText(" ".join(msg.split()))
        box = QMessageBox(QMessageBox.Icon.Warning, "Hueshot", msg, QMessageBox.StandardButton.Ok, self)
        if detail:
            box.setInformativeText(detail)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setModal(False)
        box.show()
        self._last_box = box

    def _update_status(self) -> None:
        self.status_msg.setText("Open a video, a folder of frames or a project to start.")

    def _viewer_guide(self) -> str | None:
        if self.doc is None or self.luma is None:
            return None
        if not self.doc.key_frames():
            return "Paint colours on this frame with the brush (B); Ctrl+K imports a colour keyframe"
        return None

    def _guidance(self) -> str:
        """What to do next, for the status bar (and the viewer's overlay)."""
        if self.doc is None or self.luma is None:
            return "Open a video, a folder of frames or a project to start (File > Open, Ctrl+O)."
        if not self.doc.key_frames():
            return ("Paint colour hints on this frame (Brush, B) or import a colour keyframe (Ctrl+K); "
                    "colour then spreads through the shot.")
        return ("Step to a frame that looks wrong and paint over it to correct it; "
                "Ctrl+E exports, Ctrl+S saves.")
