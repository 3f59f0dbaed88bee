"""The Shots dock: the reel's shots (found while the shot's luma was read, app.core.reels.lumastore),
their frame ranges and state, and shot navigation.

- A row per shot: number, frame range, length, state ("grey": no key or hint in it; "has colour":
  a keyframe image or hint strokes in it). Clicking a row goes to the shot's first frame.
- Shot > Next Shot (Page Down) / Previous Shot (Page Up): the first frame of the next / the
  current-or-previous shot.
- Shot > Mark This Shot (Alt+S): the in/out marks (the export dialog's default range) set to the
  current shot, through the undo stack like any other marks change.

Nothing here decodes: the shots come from the window's LumaStore (`window.luma.shots`).
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QListWidget, QListWidgetItem


class ShotPanel(QListWidget):
    def __init__(self, window):
        super().__init__()
        self.window_ = window
        self.shots: list[tuple[int, int]] = []
        self._unsubscribe = None
        self.setObjectName("shotList")
        self.itemActivated.connect(self._go)
        self.itemClicked.connect(self._go)

    # ------------------------------------------------------------------ contents
    def reload(self, *_args) -> None:
        """The shots of the window's current luma (none while nothing is open)."""
        luma = self.window_.luma
        self.shots = [tuple(s) for s in (getattr(luma, "shots", None) or [])] if luma is not None else []
        if not self.shots and luma is not None and len(luma):
            self.shots = [(0, len(luma) - 1)]           # a luma without a cut list: one shot
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        doc = self.window_.doc
        if doc is not None and hasattr(doc, "subscribe"):
            self._unsubscribe = doc.subscribe(lambda *_: self.refresh_states())
        self.clear()
        for k, (a, b) in enumerate(self.shots):
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, a)
            self.addItem(item)
        self.refresh_states()

    def state(self, k: int) -> str:
        doc = self.window_.doc
        a, b = self.shots[k]
        keyed = doc is not None and any(a <= f <= b for f in doc.key_frames())
        return "has colour" if keyed else "grey"

    def refresh_states(self) -> None:
        for k, (a, b) in enumerate(self.shots):
            item = self.item(k)
            if item is not None:
                item.setText(f"{k + 1:>3}   {a}–{b}   ({b - a + 1} frames)   {self.state(k)}")

    # ------------------------------------------------------------------ navigation
    def shot_at(self, frame: int) -> int:
        for k, (a, b) in enumerate(self.shots):
            if a <= frame <= b:
                return k
        return 0

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


def install(window) -> ShotPanel:
    """Add the Shots dock and the Shot menu to a MainWindow; returns the panel (also
    ``window.shot_panel``). Reloads whenever the window has opened a shot."""
    panel = ShotPanel(window)
    dock = QDockWidget("Shots", window)
    dock.setObjectName("shotsDock")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    menu = window.menuBar().addMenu("S&hot")
    window._act(menu, "&Next Shot", panel.next_shot, "PgDown", needs_shot=True, name="act_next_shot")
    window._act(menu, "&Previous Shot", panel.previous_shot, "PgUp", needs_shot=True, name="act_prev_shot")
    window._act(menu, "&Mark This Shot", panel.mark_shot, "Alt+S", needs_shot=True, name="act_mark_shot",
                tip="Set the in and out marks (the export range) to the current shot")
    menu.addAction(dock.toggleViewAction())
    window.shotOpened.connect(panel.reload)      # emitted once window.luma and window.doc are set
    window.shot_panel = panel
    return panel
