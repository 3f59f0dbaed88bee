"""Timeline: thumbnails, per-frame state bar, keyframe/hint markers, shots, I/O range, playhead.

Shots are drawn as segments in a band of their own (alternating shades, the current shot
lit, a line at every cut across the thumbnails when cuts are far enough apart to see); while
the background scan is on its way, the frames it has not read yet are dimmed.

A drag scrubs; positions are coalesced by a short timer (the pyqtgraph SignalProxy idea)
so a fast drag asks for at most one frame per tick, never one per mouse event.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

NONE, STALE, COMPUTING, DONE = 0, 1, 2, 3
STATE_COLORS = {NONE: QColor(60, 60, 64), STALE: QColor(214, 150, 40),
                COMPUTING: QColor(70, 130, 230), DONE: QColor(70, 180, 90)}
# The shots band: blue-greys, the current shot near white; none of them may read as a state
# colour of the legend (the current shot used to be lit in amber, which read as "stale").
SHOT_CURRENT, SHOT_ODD, SHOT_EVEN = QColor(205, 210, 228), QColor(88, 95, 118), QColor(125, 133, 160)


class Timeline(QWidget):
    scrubbed = Signal(int)

    THUMB_H = 46
    RULER_H = 16
    STATE_H = 7
    MARK_H = 12
    SHOT_H = 9

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumHeight(self.RULER_H + self.THUMB_H + self.STATE_H + self.MARK_H + self.SHOT_H + 8)
        self.shots: list[tuple[int, int]] = []
        self._starts = np.zeros(0, np.int64)
        self.scanned: int | None = None     # frames read by the background scan (None: all)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.length = 0
        self.current = 0
        self.states = np.zeros(0, np.uint8)
        self.keyframes: set[int] = set()
        self.hinted: set[int] = set()
        self.mark_in: int | None = None
        self.mark_out: int | None = None
        self.thumb_source = None            # callable(index) -> QImage (small), or None
        self._thumbs: dict[int, QImage] = {}
        self._pending: int | None = None
        self._throttle = QTimer(self)
        self._throttle.setInterval(30)
        self._throttle.timeout.connect(self._flush)

    def reset(self, length: int, thumb_source) -> None:
        self.length = length
        self.current = 0
        self.states = np.zeros(length, np.uint8)
        self.keyframes, self.hinted = set(), set()
        self.mark_in = self.mark_out = None
        self.thumb_source = thumb_source
        self._thumbs.clear()
        self.shots, self._starts, self.scanned = [], np.zeros(0, np.int64), None
        self.update()

    def set_shots(self, shots) -> None:
        shots = [tuple(s) for s in shots]
        if shots != self.shots:
            self.shots = shots
            self._starts = np.array([a for a, _ in shots], np.int64)
            self.update()

    def set_scanned(self, frames: int | None) -> None:
        if frames != self.scanned:
            self.scanned = frames
            self.update()

    def shot_at(self, i: int) -> int | None:
        if not self.shots:
            return None
        return max(0, int(np.searchsorted(self._starts, i, side="right")) - 1)

    def set_current(self, i: int) -> None:
        if i != self.current:
            self.current = i
            self.update()

    def set_state(self, i: int, state: int) -> None:
        if 0 <= i < self.length and self.states[i] != state:
            self.states[i] = state
            self.update()

    def set_all_states(self, fn) -> None:
        self.states = fn(self.states).astype(np.uint8)
        self.update()

    def set_markers(self, keyframes, hinted) -> None:
        self.keyframes, self.hinted = set(keyframes), set(hinted)
        self.update()

    def set_marks(self, mark_in, mark_out) -> None:
        self.mark_in, self.mark_out = mark_in, mark_out
        self.update()

    def invalidate_thumb(self, i: int) -> None:
        """A frame's colour changed: drop its thumbnail if one shows that frame."""
        for k in [k for k in self._thumbs if k == i]:
            del self._thumbs[k]
        self.update()

    # ---- geometry ----
    def _x(self, i: float) -> float:
        if self.length <= 1:
            return 8.0
        return 8 + (self.width() - 16) * i / (self.length - 1)

    def _index_at(self, x: float) -> int:
        if self.length <= 1:
            return 0
        i = round((x - 8) / max(1, self.width() - 16) * (self.length - 1))
        return int(min(self.length - 1, max(0, i)))

    # ---- many runs: a pixel column each ----
    def _columns(self) -> int:
        return max(1, self.width() - 16)

    def _column_frames(self) -> np.ndarray:
        """The frame under the middle of each pixel column of the bar (as `_index_at`)."""
        cols = self._columns()
        if self.length <= 1:
            return np.zeros(cols, np.int64)
        i = np.rint((np.arange(cols) + 0.5) / cols * (self.length - 1)).astype(np.int64)
        return np.clip(i, 0, self.length - 1)

    def _frame_columns(self) -> np.ndarray:
        """The pixel column of each frame."""
        cols = self._columns()
        if self.length <= 1:
            return np.zeros(self.length, np.int64)
        return np.clip((np.arange(self.length) * cols) // (self.length - 1), 0, cols - 1)

    def _state_columns(self) -> np.ndarray:
        """ARGB of each column of the state bar: of the frames in the column, the state that
        most needs seeing (stale, then computing, then none, then done), so that one frame
        with stale colour among hundreds does not vanish between two pixels."""
        rank = np.array([2, 4, 3, 1], np.int8)                     # NONE, STALE, COMPUTING, DONE
        by_rank = np.array([0, DONE, NONE, COMPUTING, STALE], np.uint8)
        col = np.zeros(self._columns(), np.int8)
        ranks = rank[np.minimum(self.states, 3)]
        np.maximum.at(col, self._frame_columns(), ranks)
        empty = col == 0                    # fewer frames than columns: the frame under it
        col[empty] = ranks[self._column_frames()[empty]]
        argb = np.array([STATE_COLORS[k].rgba() for k in (NONE, STALE, COMPUTING, DONE)], np.uint32)
        return argb[by_rank[col]]

    def _shot_columns(self) -> np.ndarray:
        """ARGB of each column of the shots band: the shade of the shot at its middle."""
        k = np.searchsorted(self._starts, self._column_frames(), side="right") - 1
        shades = np.array([SHOT_EVEN.rgba(), SHOT_ODD.rgba()], np.uint32)
        return shades[np.maximum(k, 0) % 2]

    def _draw_columns(self, p: QPainter, y: float, h: int, argb: np.ndarray) -> None:
        row = np.ascontiguousarray(argb, np.uint32)
        img = QImage(row.data, len(row), 1, 4 * len(row), QImage.Format.Format_ARGB32)
        p.drawImage(QRectF(8, y, len(row), h), img)

    # ---- paint ----
    def _marker_xs(self, frames) -> list[float]:
        """x of each frame's marker, in order, one per pixel column (the first frame of a column)."""
        out: list[float] = []
        last = None
        for i in sorted(frames):
            x = self._x(i)
            col = int(x)
            if col != last:
                out.append(x)
                last = col
        return out

    def paintEvent(self, _):
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(32, 32, 35))
        if self.length == 0:
            p.end()
            return
        w = self.width()
        top = self.RULER_H
        # thumbnails: one per slot wide enough for the aspect, showing the frame under its left edge
        if self.thumb_source is not None:
            slot = max(40, int(self.THUMB_H * 16 / 9))
            x = 8
            while x < w - 8:
                i = self._index_at(x)
                img = self._thumbs.get(i)
                if img is None:
                    img = self.thumb_source(i)
                    if img is not None:
                        self._thumbs[i] = img
                if img is not None:
                    p.drawImage(QRectF(x, top, slot - 1, self.THUMB_H), img)
                x += slot
        # I/O range
        if self.mark_in is not None or self.mark_out is not None:
            a = self._x(self.mark_in or 0)
            b = self._x(self.mark_out if self.mark_out is not None else self.length - 1)
            p.fillRect(QRectF(a, 0, max(2.0, b - a), self.height()), QColor(255, 255, 255, 28))
        # ruler ticks every ~80 px
        p.setPen(QColor(150, 150, 150))
        step = max(1, int(self.length / max(1, w / 80)))
        fm = p.fontMetrics()
        for i in range(0, self.length, step):
            x = self._x(i)
            p.drawLine(QPointF(x, top - 4), QPointF(x, top))
            if x + 2 + fm.horizontalAdvance(str(i)) <= w:    # a label cut at the right edge read wrong
                p.drawText(QPointF(x + 2, top - 5), str(i))
        # per-frame state bar: runs of equal state drawn as one rect; more runs than pixels
        # (a film's shots, every other one coloured) as one image, a pixel column each
        y = top + self.THUMB_H + 2
        s = self.states
        if len(s):
            change = np.flatnonzero(np.diff(s)) + 1
            if len(change) + 1 > self._columns() // 2:
                self._draw_columns(p, y, self.STATE_H, self._state_columns())
            else:
                starts = np.concatenate([[0], change])
                ends = np.concatenate([change, [len(s)]])
                half = 0.5 * (self._x(1) - self._x(0)) if self.length > 1 else 4
                for a, b in zip(starts, ends):
                    x0, x1 = self._x(a) - half, self._x(b - 1) + half
                    p.fillRect(QRectF(x0, y, x1 - x0, self.STATE_H), STATE_COLORS[int(s[a])])
        # frames the background scan has not read yet: dimmed (decoded on demand when shown)
        if self.scanned is not None and self.scanned < self.length:
            x0 = self._x(self.scanned)
            p.fillRect(QRectF(x0, top, w - 8 - x0, self.THUMB_H + self.STATE_H + 2), QColor(0, 0, 0, 120))
            if w - 8 - x0 > 90:
                p.setPen(QColor(190, 190, 190))
                p.drawText(QRectF(x0 + 4, top, w - 12 - x0, self.THUMB_H), Qt.AlignmentFlag.AlignVCenter,
                           "not read yet")
        # shots: segments in their own band, the current one lit; cut lines when they are apart
        if self.shots:
            ys = top + self.THUMB_H + self.STATE_H + self.MARK_H + 5
            cur = self.shot_at(self.current)
            half = 0.5 * (self._x(1) - self._x(0)) if self.length > 1 else 4
            if len(self.shots) > self._columns() // 2:
                # a film's thousands of shots: one image, each pixel column the shade of the shot
                # at its middle (a rect per shot took 10-25 ms a paint, at every frame played)
                self._draw_columns(p, ys, self.SHOT_H, self._shot_columns())
                a, b = self.shots[cur]
                x0, x1 = self._x(a) - half, self._x(b) + half
                p.fillRect(QRectF(x0, ys, max(1.0, x1 - x0), self.SHOT_H), SHOT_CURRENT)
            else:
                for k, (a, b) in enumerate(self.shots):
                    x0, x1 = self._x(a) - half, self._x(b) + half
                    c = SHOT_CURRENT if k == cur else (SHOT_ODD if k % 2 else SHOT_EVEN)
                    p.fillRect(QRectF(x0 + (1 if k else 0), ys, max(1.0, x1 - x0 - (1 if k else 0)), self.SHOT_H), c)
            if len(self.shots) > 1 and (w - 16) / len(self.shots) >= 4:
                p.setPen(QPen(QColor(205, 210, 228, 200), 1))
                for a, _ in self.shots[1:]:
                    x = self._x(a) - half
                    p.drawLine(QPointF(x, top), QPointF(x, ys + self.SHOT_H))
        # markers: diamonds for keyframes, small ticks for frames with hints
        y = top + self.THUMB_H + self.STATE_H + 4
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        # one marker per pixel column: on a film (hundreds of keys and hinted frames over a few
        # frames a column) a marker drawn again where one already stands changed nothing on
        # screen and cost ~9 ms a paint, which the playhead repaints every frame played
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(240, 200, 80))
        for x in self._marker_xs(self.hinted - self.keyframes):
            p.drawEllipse(QPointF(x, y + 5), 3, 3)
        p.setPen(QPen(QColor(20, 20, 20), 1))
        p.setBrush(QColor(250, 110, 60))
        for x in self._marker_xs(self.keyframes):
            p.drawPolygon(QPolygonF([QPointF(x, y), QPointF(x + 5, y + 5), QPointF(x, y + 10), QPointF(x - 5, y + 5)]))
        # playhead
        x = self._x(self.current)
        p.setPen(QPen(QColor(255, 80, 80), 2))
        p.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        p.end()

    # ---- scrubbing ----
    def mousePressEvent(self, e):
        if e.button() == Qt.MouseButton.LeftButton and self.length:
            self._request(self._index_at(e.position().x()))
            self._flush()                 # a click lands at once
            self._throttle.start()

    def mouseMoveEvent(self, e):
        if e.buttons() & Qt.MouseButton.LeftButton and self.length:
            self._request(self._index_at(e.position().x()))

    def mouseReleaseEvent(self, e):
        self._throttle.stop()
        self._flush()

    def _request(self, i: int) -> None:
        self._pending = i

    def _flush(self) -> None:
        if self._pending is not None:
            i, self._pending = self._pending, None
            self.set_current(i)
            self.scrubbed.emit(i)
