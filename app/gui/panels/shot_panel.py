"""The Shots dock: the reel's shots, their frame ranges and state, shot navigation, and splitting
and merging shots by hand.

- Shots come from the cut detection of the background scan (app.core.reels.lumastore, while the
  source's luma is stored): the list grows while the scan goes on (the label above it says how
  far it is), and propagation follows each new cut. A shot list edited by hand (saved in the
  project, "shots") takes the place of the detected one.
- A row per shot: number, frame range, length, state ("grey": no key or hint in it; "has colour":
  a keyframe image or hint strokes in it; "propagated": and every frame of it is done).
  Clicking a row goes to the shot's first frame.
- Shot > Next Shot (Page Down) / Previous Shot (Page Up): the first frame of the next / the
  current-or-previous shot.
- Shot > Mark This Shot (Alt+S): the in/out marks (the export dialog's default range) set to the
  current shot, through the undo stack like any other marks change.
- Shot > Split Shot Here (Ctrl+B): the current frame starts a new shot. Shot > Merge With
  Previous Shot (Ctrl+Shift+B): the cut at the start of the current shot removed. Shot > Use
  Detected Shots: the hand-edited list dropped. All undoable (app.gui.commands.SetShots).

The window's propagation worker is told the shots (`worker.shots`, app.gui.worker.plan_frames):
keys, blending and smoothing stay inside their shot. Nothing here decodes.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from app.core.reels.shots import validate_shots
from app.gui.commands import SetShots


class ShotPanel(QListWidget):
    def __init__(self, window, label: QLabel | None = None):
        super().__init__()
        self.window_ = window
        self.label = label or QLabel()
        self.shots: list[tuple[int, int]] = []
        self.manual = False                  # the list is the project's, edited by hand
        self._scan: tuple[int, int] | None = None   # (frames scanned, total) while scanning
        self._told_error = False
        self._unsubscribe = None
        self.setObjectName("shotList")
        self.itemActivated.connect(self._go)
        self.itemClicked.connect(self._go)

    # ------------------------------------------------------------------ contents
    def effective(self) -> tuple[list[tuple[int, int]], bool]:
        """(shots, edited by hand): the project's list when it has one that fits the source,
        else the detected cuts (so far), else the whole source as one shot."""
        w = self.window_
        luma, doc = w.luma, w.doc
        if luma is None or not len(luma):
            return [], False
        n = len(luma)
        own = doc.shots() if doc is not None and hasattr(doc, "shots") else []
        if own:
            try:
                return validate_shots(own, n, "the project's shots"), True
            except ValueError:
                pass                         # made for another length of the source: detected ones
        det = [tuple(s) for s in (getattr(luma, "shots", None) or [])]
        return (det or [(0, n - 1)]), False

    def reload(self, *_args) -> None:
        """A source was opened: follow its document and show its shots."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        doc = self.window_.doc
        if doc is not None and hasattr(doc, "subscribe"):
            self._unsubscribe = doc.subscribe(self._on_doc)
        luma = self.window_.luma
        self._scan = None if luma is None or getattr(luma, "complete", True) else (getattr(luma, "scanned", 0), len(luma))
        self._told_error = luma is not None and getattr(luma, "error", None) is not None   # said by the window
        self.clear()
        self.shots = []
        self.apply()

    def _on_doc(self, kind, _frame) -> None:
        if kind == "shots":
            self.apply()
        else:
            self.refresh_states()

    def apply(self) -> bool:
        """Bring the list, the timeline and the worker to the current shots; True if they changed."""
        w = self.window_
        shots, self.manual = self.effective()
        changed = shots != self.shots
        if changed:
            keep = 0
            while keep < min(len(shots), len(self.shots)) and shots[keep] == self.shots[keep]:
                keep += 1
            while self.count() > keep:        # only the rows that changed (the scan adds at the end)
                self.takeItem(self.count() - 1)
            for a, _ in shots[keep:]:
                item = QListWidgetItem()
                item.setData(Qt.ItemDataRole.UserRole, a)
                self.addItem(item)
            self.shots = shots
        w.workers.worker.shots = tuple(shots)   # before any propagation is asked for with them
        w.timeline.set_shots(shots)
        self.refresh_states()
        self._say()
        return changed

    def state(self, k: int) -> str:
        w = self.window_
        doc = w.doc
        a, b = self.shots[k]
        keyed = doc is not None and any(a <= f <= b for f in doc.key_frames())
        if not keyed:
            return "grey"
        from app.gui.timeline import DONE
        s = w.timeline.states
        return "propagated" if len(s) > b and bool((s[a:b + 1] == DONE).all()) else "has colour"

    def refresh_states(self, *_args) -> None:
        for k, (a, b) in enumerate(self.shots):
            item = self.item(k)
            if item is not None:
                item.setText(f"{k + 1:>3}   {a}–{b}   ({b - a + 1} frames)   {self.state(k)}")

    def _say(self) -> None:
        n = len(self.shots)
        if self._scan is not None:
            done, total = self._scan
            pct = 100.0 * done / max(1, total)
            text = f"Finding shots: {done} of {total} frames read ({pct:.0f} %), {n} so far"
        else:
            text = f"{n} shot{'s' if n != 1 else ''}, detected"
        if self.manual:
            text = f"{n} shot{'s' if n != 1 else ''}, edited by hand (Shot > Use Detected Shots)"
            if self._scan is not None:
                text += "; cuts found from now on are not applied"
        self.label.setText(text)

    # ------------------------------------------------------------------ scan progress
    def on_scanning(self, done: int, total: int) -> None:
        if self.window_.luma is None or getattr(self.window_.luma, "complete", True):
            return
        self._scan = (done, total)
        self.window_.timeline.set_scanned(done)
        self._say()

    def on_found(self, store) -> None:
        w = self.window_
        if store is not w.luma:
            return
        if self.apply() and not self.manual and w.doc is not None and w.doc.has_hints():
            w._schedule_propagation(w.current)     # the shot that was cut is propagated again

    def on_scanned(self, store) -> None:
        w = self.window_
        if store is not w.luma:
            return
        self._scan = None
        w.timeline.set_scanned(None)
        if len(store) != w.timeline.length:
            w._on_opened(w.info, store)        # the source is shorter than its index said: set up again
            return
        if getattr(store, "error", None) is not None and not self._told_error:
            self._told_error = True
            w._error(f"Only part of the shot could be read:\n{store.error}")
        self.on_found(store)
        self._say()

    def on_scan_failed(self, msg: str) -> None:
        self._scan = None
        self.window_.timeline.set_scanned(None)
        self.label.setText(msg)

    def on_luma_failed(self, i: int, msg: str) -> None:
        w = self.window_
        if i == w.current:
            w.frame_label.setText(f"Frame {i} cannot be read: {' '.join(msg.split())}")

    # ------------------------------------------------------------------ navigation
    def shot_at(self, frame: int) -> int:
        import bisect
        k = bisect.bisect_right([a for a, _ in self.shots], frame) - 1
        return max(0, k)

    def _go(self, item) -> None:
        self.window_.seek(int(item.data(Qt.ItemDataRole.UserRole)))

    def next_shot(self) -> None:
        if self.shots:
            k = min(self.shot_at(self.window_.current) + 1, len(self.shots) - 1)
            self._select(k)

    def previous_shot(self) -> None:
        if self.shots:
            k = self.shot_at(self.window_.current)
            if self.window_.current == self.shots[k][0]:
                k = max(0, k - 1)
            self._select(k)

    def _select(self, k: int) -> None:
        self.setCurrentRow(k)
        self.window_.seek(self.shots[k][0])

    def mark_shot(self) -> None:
        if self.shots:
            a, b = self.shots[self.shot_at(self.window_.current)]
            self.window_._set_marks(a, b)

    # ------------------------------------------------------------------ editing
    def split_here(self) -> None:
        w = self.window_
        if not self.shots or w.doc is None:
            return
        i = w.current
        k = self.shot_at(i)
        a, b = self.shots[k]
        if i == a:
            w.status_msg.setText(f"Frame {i} already starts shot {k + 1}: go to a later frame of it to split it there")
            return
        new = self.shots[:k] + [(a, i - 1), (i, b)] + self.shots[k + 1:]
        w.undo.push(SetShots(w.doc, new, f"Split shot {k + 1} at frame {i}"))
        w.status_msg.setText(f"Shot {k + 1} split: frame {i} starts shot {k + 2}")

    def merge_previous(self) -> None:
        w = self.window_
        if not self.shots or w.doc is None:
            return
        k = self.shot_at(w.current)
        if k == 0:
            w.status_msg.setText("The first shot has no shot before it to merge with")
            return
        new = self.shots[:k - 1] + [(self.shots[k - 1][0], self.shots[k][1])] + self.shots[k + 1:]
        w.undo.push(SetShots(w.doc, new, f"Merge shots {k} and {k + 1}"))
        w.status_msg.setText(f"Shots {k} and {k + 1} merged into shot {k}")

    def use_detected(self) -> None:
        w = self.window_
        if w.doc is not None and w.doc.shots():
            w.undo.push(SetShots(w.doc, [], "Use the detected shots"))


def install(window) -> ShotPanel:
    """Add the Shots dock and the Shot menu to a MainWindow; returns the panel (also
    ``window.shot_panel``). Reloads whenever the window has opened a shot."""
    label = QLabel()
    label.setObjectName("shotScanLabel")
    label.setWordWrap(True)
    panel = ShotPanel(window, label)
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(2, 2, 2, 2)
    lay.addWidget(label)
    lay.addWidget(panel)
    dock = QDockWidget("Shots", window)
    dock.setObjectName("shotsDock")
    dock.setWidget(box)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    menu = window.menuBar().addMenu("S&hot")
    window._act(menu, "&Next Shot", panel.next_shot, "PgDown", needs_shot=True, name="act_next_shot")
    window._act(menu, "&Previous Shot", panel.previous_shot, "PgUp", needs_shot=True, name="act_prev_shot")
    window._act(menu, "&Mark This Shot", panel.mark_shot, "Alt+S", needs_shot=True, name="act_mark_shot",
                tip="Set the in and out marks (the export range) to the current shot")
    menu.addSeparator()
    window._act(menu, "&Split Shot Here", panel.split_here, "Ctrl+B", needs_shot=True, name="act_split_shot",
                tip="The current frame starts a new shot (keys and propagation stay inside each shot)")
    window._act(menu, "Merge With P&revious Shot", panel.merge_previous, "Ctrl+Shift+B", needs_shot=True,
                name="act_merge_shot", tip="Remove the cut at the start of the current shot")
    window._act(menu, "Use &Detected Shots", panel.use_detected, needs_shot=True, name="act_detected_shots",
                tip="Drop the shots edited by hand; the detected cuts count again")
    menu.addAction(dock.toggleViewAction())
    window.shotOpened.connect(panel.reload)      # emitted once window.luma and window.doc are set
    wk = window.workers.worker
    wk.scanning.connect(panel.on_scanning)
    wk.shotsFound.connect(panel.on_found)
    wk.scanned.connect(panel.on_scanned)
    wk.scanFailed.connect(panel.on_scan_failed)
    window.loader.lumaFailed.connect(panel.on_luma_failed)
    window.propagationFinished.connect(panel.refresh_states)
    window.shot_panel = panel
    return panel
