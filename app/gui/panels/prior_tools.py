"""The learned colour prior in the editor: "Colour Automatically" for a keyframe and the
suggested colours under the cursor.

- Frame > Colour Automatically (Ctrl+Shift+A): the prior colours the current frame with no hint;
  the result becomes that frame's colour keyframe image (one undo step, SetKeyImage), so
  propagation runs as usual and strokes painted on it are local corrections.
- Suggested colours: a strip of 9 swatches under the ab picker. While the cursor moves over the
  frame, it shows the prior's most likely colours at that point (local maxima of its predicted ab
  distribution, given the frame's strokes); one click makes a swatch the brush colour.

The network never runs on the GUI thread: one background thread reads the frame's luma and
computes the automatic colour or the frame's distribution (0.2-1 s at 854x480 on 2 busy cores);
results come back through queued signals and carry a token, so a stale result is dropped.
Reading the suggestions at a cursor position is a lookup in the cached distribution. The
distribution is asked for only once the frame has been shown for REFRESH_MS: it would otherwise
compete for the CPU with the stroke just painted (the keyframe's colours come first) and with
every frame of playback. Quitting does not wait for a running job (its result is not work the
user made: nothing is lost); the job stops sending when the window is gone.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QToolButton, QWidget

from app.gui.numbering import frame_text

N_SUGGESTIONS = 9
EMPTY_TIP = ("Suggested colours: move the cursor over the frame and the colours most likely there "
             "appear here (a moment after the frame is shown); click one to paint with it")
REFRESH_MS = 250            # the frame is looked at (not played or just painted) when this passes


class PriorService(QObject):
    """Runs the prior off the GUI thread (one job at a time, the newest wins)."""

    autoReady = Signal(int, int, object)        # token, frame, rgb uint8 at shot size
    distReady = Signal(int, object, object)     # token, key, (probs, L)
    failed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prior")
        self.token = 0
        self.closed = False           # set by shutdown(): jobs neither start nor send any more
        self.busy = False             # a job is running (read by tests and the GUI benchmark)

    def _prior(self):
        from models.prior.net import Prior
        return Prior.load()

    def _send(self, signal, *args) -> None:
        if not self.closed:
            try:
                signal.emit(*args)
            except RuntimeError:      # the window (and this object) went away meanwhile
                pass

    def _submit(self, job) -> None:
        if not self.closed:           # after shutdown (a timer firing as the window closes): nothing
            self._pool.submit(self._run, job)

    def _run(self, job) -> None:
        if self.closed:
            return
        self.busy = True
        try:
            from app.gui.worker import import_torch
            import_torch()       # a first job's import, without holding up the GUI thread
            job()
        finally:
            self.busy = False

    def request_auto(self, frame: int, luma, size: tuple[int, int]) -> int:
        """Automatic colour of frame `frame` of `luma` (LumaFrames: read in the job, not here)."""
        self.token += 1
        tok = self.token

        def job():
            try:
                import cv2
                from models.color import compose_rgb
                L = np.asarray(luma[frame], np.float32)
                ab = self._prior().colorize(L)
                rgb = compose_rgb(L, ab)
                if (rgb.shape[1], rgb.shape[0]) != tuple(size):
                    rgb = cv2.resize(rgb, tuple(size), interpolation=cv2.INTER_LINEAR)
                self._send(self.autoReady, tok, frame, np.ascontiguousarray(rgb))
            except Exception as e:   # reported in the window, never lost in the thread
                self._send(self.failed, f"Automatic colour failed: {e}")
        self._submit(job)
        return tok

    def request_distribution(self, key, luma, frame: int, strokes) -> int:
        """The prior's distribution for frame `frame` of `luma` given its strokes."""
        self.token += 1
        tok = self.token
        # only the newest request is held (the pool's one thread may be busy): a superseded
        # job returns at once, and the luma is read by the job, off the GUI thread
        self._dist_latest = (tok, luma, int(frame), list(strokes))

        def job():
            latest = self._dist_latest
            if latest is None or latest[0] != tok:
                return
            _, luma, frame, strokes = latest
            try:
                from models.hinting.hints import rasterize
                L = np.asarray(luma[frame], np.float32)
                hint, mask = rasterize(L.shape, strokes)
                probs = self._prior().distribution(L, hint, mask)
                self._send(self.distReady, tok, key, (probs, L))
            except Exception as e:
                self._send(self.failed, f"Suggested colours failed: {e}")
        self._submit(job)
        return tok

    def shutdown(self) -> None:
        """Return at once: queued jobs are dropped, a running one finishes on its thread (a
        network pass cannot be cut short) without sending anything; the interpreter's exit
        waits for that thread, the window does not."""
        self.closed = True
        self._dist_latest = None
        self._pool.shutdown(wait=False, cancel_futures=True)


class SuggestionStrip(QWidget):
    """A row of swatches; clicking one emits its sRGB colour."""

    picked = Signal(tuple)

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.buttons: list[QToolButton] = []
        self.colors: list[tuple[int, int, int] | None] = [None] * N_SUGGESTIONS
        for i in range(N_SUGGESTIONS):
            b = QToolButton()
            b.setObjectName(f"suggestion_{i}")
            b.setFixedSize(QSize(22, 22))
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setEnabled(False)
            b.setToolTip(EMPTY_TIP)      # an empty, disabled swatch says what fills it
            b.clicked.connect(lambda _=False, i=i: self._click(i))
            lay.addWidget(b)
            self.buttons.append(b)
        lay.addStretch(1)

    def _click(self, i: int) -> None:
        if self.colors[i] is not None:
            self.picked.emit(self.colors[i])

    def set_colors(self, items) -> None:
        """items: [(sRGB, probability)], best first."""
        for i, b in enumerate(self.buttons):
            if i < len(items):
                c, p = items[i]
                self.colors[i] = tuple(int(v) for v in c)
                b.setStyleSheet("QToolButton { background: %s; border: 1px solid #222; }" % QColor(*c).name())
                b.setToolTip("#%02x%02x%02x  (%.0f %%)" % (*c, 100 * p))
                b.setEnabled(True)
            else:
                self.colors[i] = None
                b.setStyleSheet("")
                b.setToolTip(EMPTY_TIP)
                b.setEnabled(False)


class PriorTools(QObject):
    """Wires the service, the strip and the action into a MainWindow."""

    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.service = PriorService(self)
        self.strip = SuggestionStrip()
        self._auto_tokens: dict[int, int] = {}   # frame -> token of its newest request
        self._dist_token = -1
        self._dist_key = None        # (frame, stroke ids) the cached distribution belongs to
        self._pending_key = None
        self._probs = None
        self._L = None
        self._cell = None
        panel = window.panel
        lay = panel.layout()
        at = lay.indexOf(panel.gamut) + 1
        lay.insertWidget(at, QLabel("Suggested colours (under the cursor)"))
        lay.insertWidget(at + 1, self.strip)
        self.strip.picked.connect(window.tools.set_color)
        self.service.autoReady.connect(self._on_auto)
        self.service.distReady.connect(self._on_dist)
        self.service.failed.connect(window._error)
        menu = self._frame_menu()
        if menu is not None:
            self.action = window._act(menu, "Colour &Automatically", self.colour_automatically,
                                      "Ctrl+Shift+A", name="act_auto_colour")
        window.viewer.installEventFilter(self)
        window.shotOpened.connect(self._forget)
        from PySide6.QtCore import QTimer
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_MS)
        self._refresh_timer.timeout.connect(self._refresh)
        # restarted on every frame shown: playback and a fresh stroke ask for nothing until
        # the frame has stayed on screen for REFRESH_MS
        window.frameShown.connect(lambda _i: self._refresh_timer.start())

    def _frame_menu(self) -> QMenu | None:
        for a in self.w.menuBar().actions():
            if a.menu() is not None and a.text().replace("&", "") == "Frame":
                return a.menu()
        return None

    # ------------------------------------------------------------ automatic colour
    def colour_automatically(self) -> None:
        w = self.w
        if w.doc is None or w.luma is None or not w.frame_count():
            return
        w.status_msg.setText(f"Colouring {frame_text(w.current)} automatically…")
        if getattr(self, "_auto_doc", None) is not w.doc:
            self._auto_tokens = {}
        self._auto_doc = w.doc
        # one pending request per frame: asking for frame 0 and then, before it is in, for
        # frame 5 colours both (only a repeated request for the same frame supersedes)
        self._auto_tokens[w.current] = self.service.request_auto(w.current, w.luma, (w.info.width, w.info.height))

    def _on_auto(self, token: int, frame: int, rgb) -> None:
        from app.gui.commands import SetKeyImage
        w = self.w
        if self._auto_tokens.get(frame) != token or w.doc is None or w.doc is not getattr(self, "_auto_doc", None):
            return
        del self._auto_tokens[frame]
        cmd = SetKeyImage(w.doc, frame, rgb)
        cmd.setText(f"Colour {frame_text(frame)} automatically")
        w.undo.push(cmd)
        w.status_msg.setText(f"{frame_text(frame).capitalize()} coloured automatically; paint strokes to correct it")

    # ------------------------------------------------------------ suggestions
    def _forget(self) -> None:
        """A shot was opened: the distribution (and the swatches) of the last one do not apply.
        Its key (frame, strokes) says nothing of the video: frame 0 without strokes of another
        video had the same key and was shown the previous video's colours."""
        self._dist_token = -1           # a job still running for the old shot is dropped
        self._dist_key = self._pending_key = None
        self._probs = self._L = self._cell = None
        self.strip.set_colors([])

    def _key(self):
        w = self.w
        if w.doc is None or w.luma is None or not w.frame_count():
            return None
        return (w.current, tuple((s.id, s.color, s.erase, len(s.points)) for s in w.doc.strokes(w.current)))

    def _refresh(self) -> None:
        if not getattr(self.w, "_device_asked", True):
            # the worker imports torch first, once a file's opening allows it (MainWindow._on_opened):
            # a job here would import it earlier, beside the open's own work
            self._refresh_soon()
            return
        key = self._key()
        if key is None or key == self._dist_key or key == self._pending_key:
            return
        self._pending_key = key
        self._dist_token = self.service.request_distribution(key, self.w.luma, key[0], self.w.doc.strokes(key[0]))

    def _on_dist(self, token: int, key, payload) -> None:
        if token != self._dist_token:
            return
        self._dist_key, self._pending_key = key, None
        self._probs, self._L = payload
        self._cell = None

    def suggestions_at(self, x: float, y: float):
        """The suggestions at normalised (x, y) of the current frame, or None while not ready."""
        from models.prior.net import Prior
        if self._probs is None or self._dist_key != self._key():
            self._refresh_soon()
            return None
        return Prior.load().suggest(self._L, x, y, k=N_SUGGESTIONS, probs=self._probs)

    def eventFilter(self, obj, e):
        if e.type() == QEvent.Type.MouseMove:
            x, y = self.w.viewer.to_norm(e.position())
            if 0 <= x < 1 and 0 <= y < 1 and self._probs is not None:
                _, h, wd = self._probs.shape
                cell = (int(x * wd), int(y * h))
                if cell != self._cell:
                    items = self.suggestions_at(x, y)
                    if items is not None:
                        self._cell = cell
                        self.strip.set_colors(items)
            elif self._probs is None:
                self._refresh_soon()
        return False

    def _refresh_soon(self) -> None:
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()


def install(window) -> PriorTools:
    window.prior_tools = PriorTools(window)
    return window.prior_tools
