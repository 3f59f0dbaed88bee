"""The Shots dock: the reel's shots, their frame ranges and state, shot navigation, and splitting
and merging shots by hand.

- Shots come from the cut detection of the background scan (app.core.reels.lumastore, while the
  source's luma is stored): the list grows while the scan goes on (the label above it says how
  far it is), and propagation follows each new cut. A shot list edited by hand (saved in the
  project, "shots") takes the place of the detected one.
- A row per shot: a thumbnail of its first frame, number, frame range, length, state ("grey": no
  key or hint in it; "has colour": a keyframe image or hint strokes in it; "propagated": and every
  frame of it is done; "rendered": exported from the editor with the colour it has now).
  Clicking a row goes to the shot's first frame; the current shot's row is the current row.
- Thumbnails are the window's timeline thumbnails of each shot's first frame (`MainWindow._thumb`),
  made on the display loader's thread (`DisplayLoader.thumbReady`): the GUI thread never reads a
  luma chunk for them. Only rows that are painted (visible) ask for one; a row is repainted when
  its thumbnail arrives, when its first frame gets new colour (`frameArrived`, `loaded`) and
  after every propagation, so it is grey before the shot has colour and in colour after.
- "Rendered": when a File > Export finishes, every shot wholly inside its range whose frame keys
  (app.core.cache.frame_keys, the window's per-shot keys: what made the shot's colour) did not
  change while it ran is recorded in the project's settings, "rendered":
  ``[{"start", "end", "output", "format", "method", "key", "at"}]`` (saved with the project;
  the window is marked modified). A shot is "rendered" while a record for its exact range has
  the fingerprint of its frame keys now and the output still exists: an edit that changes the
  shot's colour (or the preview method, which its keys name) or a deleted output (looked for
  every OUTPUT_CHECK_MS, a stat per output) drops the state; undoing the edit brings it back.
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

import bisect
import hashlib
import os
import time

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (QApplication, QDockWidget, QLabel, QListWidget, QListWidgetItem, QStyle,
                               QStyledItemDelegate, QStyleOptionViewItem, QVBoxLayout, QWidget)

from app.core.reels.shots import clip_shots, validate_shots
from app.gui.commands import SetShots


THUMB_H = 36                 # height of a row's thumbnail box (px); its width follows the source
RENDERED = "rendered"        # the project settings' key of the render records
OUTPUT_CHECK_MS = 3000       # how often the outputs of rendered shots are looked for (a stat each)


def fingerprint(ctx: str, keys) -> str:
    """What made a shot's colour: its frame-key context (source, method, size, range) and the
    key of every frame (None: grey)."""
    h = hashlib.sha1(ctx.encode())
    for k in keys:
        h.update(b"\0" + (k or "-").encode())
    return h.hexdigest()[:20]


def render_records(settings) -> dict[tuple[int, int], dict]:
    """{(start, end): record} of the project's "rendered" setting; malformed entries (a
    hand-edited file) are skipped."""
    out = {}
    for r in (settings or {}).get(RENDERED) or []:
        try:
            a, b = int(r["start"]), int(r["end"])
            if isinstance(r["output"], str) and isinstance(r["key"], str):
                out[(a, b)] = r
        except (KeyError, TypeError, ValueError):
            continue
    return out


def output_exists(path: str) -> bool:
    """A video file, or a frame sequence's folder with something in it."""
    if os.path.isdir(path):
        with os.scandir(path) as it:
            return any(True for _ in it)
    return os.path.isfile(path)


def row_lines(text: str) -> tuple[str, str, str]:
    """A row's text ("  3   0–96   (97 frames)   grey", ShotPanel.refresh_states) as the two lines
    it is painted on and its state: ("  3   0–96", "grey · 97 frames", "grey"). The frame count
    goes below, beside the state: on one line with the range it was cut off in the dock's
    usual width ("(97 f..."). The state alone says how the row is styled (a rendered shot in
    bold, a grey one dimmed): compared with the lower line, the style never applied."""
    head, _, state = text.rpartition("   ")
    head, _, count = head.rpartition("   ")
    if count.startswith("(") and count.endswith(")"):
        return head, f"{state} · {count[1:-1]}", state
    return (f"{head}   {count}" if head else count), state, state


class ThumbDelegate(QStyledItemDelegate):
    """Paints a row: the shot's thumbnail (asked of the panel, so only painted rows ask), then
    its text on two lines, number and range above, state and length below (the dock is narrow). Until the
    thumbnail is made the box is a dark placeholder."""

    def __init__(self, panel):
        super().__init__(panel)
        self.panel = panel

    def sizeHint(self, option, index):
        fm = option.fontMetrics
        return QSize(self.panel.thumb_w + 16 + fm.horizontalAdvance("9999   999999–999999"),
                     max(2 * fm.height() + 4, THUMB_H + 4))

    def paint(self, p: QPainter, option, index) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text, opt.text = opt.text, ""
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, p, opt.widget)   # background, selection
        box = self.panel.thumb_rect(opt.rect)
        img = self.panel.thumbnail(index.row())
        p.save()
        if img is None or img.isNull():
            p.fillRect(box, QColor(58, 58, 62))
        else:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            p.drawImage(box, img)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        role = opt.palette.ColorRole.HighlightedText if selected else opt.palette.ColorRole.Text
        p.setPen(opt.palette.color(role))
        head, below, state = row_lines(text)
        r = opt.rect.adjusted(box.right() - opt.rect.left() + 8, 2, -2, -2)
        fm = opt.fontMetrics
        top, bottom = r.adjusted(0, 0, 0, -r.height() // 2), r.adjusted(0, r.height() // 2, 0, 0)
        left = int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft)
        p.drawText(top, left, fm.elidedText(head, Qt.TextElideMode.ElideRight, top.width()))
        font = p.font()
        if state == "rendered":
            font.setBold(True)
            p.setFont(font)
        elif state == "grey" and not selected:
            p.setPen(opt.palette.color(opt.palette.ColorRole.PlaceholderText))
        p.drawText(bottom, left, fm.elidedText(below, Qt.TextElideMode.ElideRight, bottom.width()))
        p.restore()


class ShotPanel(QListWidget):
    def __init__(self, window, label: QLabel | None = None):
        super().__init__()
        self.window_ = window
        self.label = label or QLabel()
        self.shots: list[tuple[int, int]] = []
        self.manual = False                  # the list is the project's, edited by hand
        self.unusable: str | None = None     # why the project's own list does not fit its source
        self._scan: tuple[int, int] | None = None   # (frames scanned, total) while scanning
        self._told_error = False
        self._unsubscribe = None
        self._firsts: dict[int, int] = {}      # first frame of a shot -> its row
        self._starts: list[int] = []           # first frames, in order (shot_at)
        self._asked: dict[int, str] = {}       # first frame -> frame key its thumbnail was asked for
        self._rendered: dict | None = None     # while refresh_states runs: {shot: render record}
        self._shown: dict[int, tuple[str, str]] = {}   # row -> (text, tooltip) it shows
        self._thumb_waits = False              # a painted row waits for the scan to reach its frame
        self.thumb_w = THUMB_H * 16 // 9
        self.setObjectName("shotList")
        self.setUniformItemSizes(True)         # hundreds of rows: no per-row size pass
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)   # texts are elided
        self.setItemDelegate(ThumbDelegate(self))
        self.itemActivated.connect(self._go)
        self.itemClicked.connect(self._go)
        from PySide6.QtCore import QTimer
        self._outputs: dict[str, bool] = {}    # rendered outputs -> whether they existed last time
        self._watch = QTimer(self)             # a rendered output deleted meanwhile drops its state
        self._watch.setInterval(OUTPUT_CHECK_MS)
        self._watch.timeout.connect(self._check_outputs)
        self._watch.start()

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
        self.unusable = None
        if own:
            # cut at the source's end as every render of the project cuts them
            # (app.core.reels.shots.reel_plans, farm_segments.plan_segments): a source trimmed
            # shorter keeps the hand-made cuts it still has
            try:
                return validate_shots(clip_shots(own, 0, n), n, "the project's shots"), True
            except ValueError as exc:        # they end before the source does: a render refuses them
                self.unusable = str(exc)
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
        self._firsts, self._asked, self._starts = {}, {}, []
        self._shown = {}
        if luma is not None:
            w, h = luma.size
            self.thumb_w = max(THUMB_H, min(3 * THUMB_H, round(THUMB_H * w / max(1, h))))
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
                self._shown.pop(self.count(), None)       # the row's text, as refresh_states set it
            for a, _ in shots[keep:]:
                item = QListWidgetItem()
                item.setData(Qt.ItemDataRole.UserRole, a)
                self.addItem(item)
            self.shots = shots
            self._firsts = {a: k for k, (a, _b) in enumerate(shots)}
            self._starts = [a for a, _b in shots]
        w.workers.worker.shots = tuple(shots)   # before any propagation is asked for with them
        w.timeline.set_shots(shots)
        self.refresh_states()
        self._say()
        return changed

    def colouring_frames(self) -> list[int]:
        """The frames, in order, whose key image or strokes colour something. A frame whose
        strokes are all eraser strokes (and no key image) colours nothing: the render leaves
        such a shot grey, and so does its label."""
        doc = self.window_.doc
        if doc is None:
            return []
        return sorted(set(doc.image_frames()) | {st.frame for st in doc.p.strokes if not st.erase})

    def state(self, k: int, colouring: list[int] | None = None, not_done=None) -> str:
        """Shot k's state; ``colouring``: `colouring_frames()` and ``not_done``: `_not_done()`,
        found once for a pass over every shot (a film's 2,000 shots each walking every key took
        65 ms at each edit)."""
        if self.rendered(k) is not None:
            return "rendered"
        a, b = self.shots[k]
        keys = self.colouring_frames() if colouring is None else colouring
        if bisect.bisect_right(keys, b) == bisect.bisect_left(keys, a):
            return "grey"
        not_done = self._not_done() if not_done is None else not_done
        return "propagated" if len(not_done) > b + 1 and not_done[b + 1] == not_done[a] else "has colour"

    def _not_done(self):
        """Running count of the frames not propagated (index i: frames 0..i-1), found once for a
        pass over every shot (a slice compare per shot cost ~5 us x 1,682)."""
        import numpy as np
        from app.gui.timeline import DONE
        return np.concatenate([[0], np.cumsum(np.asarray(self.window_.timeline.states) != DONE)])

    def refresh_states(self, *_args) -> None:
        self._rendered = self._rendered_now()
        colouring = self.colouring_frames()
        shown = self._shown
        not_done = self._not_done()
        for k, (a, b) in enumerate(self.shots):
            item = self.item(k)
            if item is not None:
                state = self.state(k, colouring, not_done)
                n = b - a + 1
                text = f"{k + 1:>3}   {a}–{b}   ({n} frame{'' if n == 1 else 's'})   {state}"
                rec = self.rendered(k)
                tip = ("" if rec is None else
                       f"Rendered to {rec['output']} ({rec.get('format', '?')}, {rec.get('method', '?')}) "
                       f"at {rec.get('at', '?')}; an edit that changes its colour drops this")
                # only rows whose text changed: an edit changes one shot's state, and setting
                # every row of a film's 1,682 again took ~19 ms of the GUI thread at each edit
                if shown.get(k) != (text, tip):
                    item.setText(text)
                    item.setToolTip(tip)
                    shown[k] = (text, tip)
        self._rendered = None
        self.viewport().update()           # the painted rows check their thumbnails again

    # ------------------------------------------------------------------ thumbnails
    def thumb_rect(self, row_rect: QRect) -> QRect:
        return QRect(row_rect.left() + 4, row_rect.top() + (row_rect.height() - THUMB_H) // 2, self.thumb_w, THUMB_H)

    def thumbnail(self, k: int):
        """The QImage of shot k's first frame as the window has it now (None until made). Called
        while painting the row: a thumbnail that is missing or shows older colour than the frame
        has is asked of the display loader once per frame key (the window's `_thumb`)."""
        w = self.window_
        if not 0 <= k < len(self.shots) or w.store is None or w.luma is None:
            return None
        a = self.shots[k][0]
        sig = w.store.sig_of(a) or ""
        got = w._thumbs.get(a)
        if (got is None or got[0] != sig) and self._asked.get(a) != sig:
            from app.gui.worker import _luma_ready
            if _luma_ready(w.luma, a):
                self._asked[a] = sig
                w._thumb(a)
            else:
                self._thumb_waits = True          # asked again once the scan is there
        return None if got is None else got[1]

    def _row_changed(self, i: int) -> None:
        k = self._firsts.get(i)
        if k is not None:
            item = self.item(k)
            if item is not None:
                self.viewport().update(self.visualItemRect(item))

    def on_thumb(self, i: int, _sig: str, _img) -> None:
        self._row_changed(i)

    def on_frame_colour(self, i: int) -> None:
        """Frame i has new colour in memory (propagated or read back): its thumbnail may be asked again."""
        if i in self._firsts:
            self._asked.pop(i, None)
            self._row_changed(i)

    # ------------------------------------------------------------------ rendered
    def _current_records(self) -> dict:
        doc = self.window_.doc
        return render_records(doc.p.settings) if doc is not None else {}

    def fingerprints(self, shots=None) -> dict[tuple[int, int], str]:
        """{(start, end): fingerprint} of the given shots (default: all) from the window's frame
        keys now (as app.gui.worker.plan_frames makes them, shot by shot); empty before the
        worker has its frame-key context."""
        w = self.window_
        wk = w.workers.worker
        if w.doc is None or w.luma is None or wk.context is None:
            return {}
        want = set(self.shots if shots is None else shots)
        if not want:
            return {}
        from app.gui.worker import plan_frames, shot_parts
        n = w.frame_count()
        sigs, _ = plan_frames(w._specs(), n, wk.context, wk.segment_local, wk.shots)
        return {(a, b): fingerprint(ctx, sigs[a:b + 1])
                for a, b, ctx in shot_parts(wk.shots, n, wk.context) if (a, b) in want}

    def _rendered_now(self) -> dict[tuple[int, int], dict]:
        """{shot: its render record} for the shots whose output exists and whose colour is what
        was rendered (one pass over the shots; the outputs checked once each)."""
        recs = self._current_records()
        mine = [s for s in self.shots if s in recs]
        if not mine:
            return {}
        exists: dict[str, bool] = {}
        for s in mine:
            out = recs[s]["output"]
            if out not in exists:
                exists[out] = output_exists(out)
        fps = self.fingerprints([s for s in mine if exists[recs[s]["output"]]])
        return {s: recs[s] for s in mine if s in fps and fps[s] == recs[s]["key"]}

    def _check_outputs(self) -> None:
        outs = {r["output"] for r in self._current_records().values()} if self.shots else set()
        now = {o: output_exists(o) for o in outs}
        if now != self._outputs:
            self._outputs = now
            self.refresh_states()

    def rendered(self, k: int) -> dict | None:
        """Shot k's render record if its output exists and the shot's colour is what was rendered."""
        got = self._rendered if self._rendered is not None else self._rendered_now()
        return got.get(tuple(self.shots[k]))

    def watch_export(self, dlg) -> None:
        """Follow an export dialog: when an export starts, note its range, output and the
        fingerprints of the shots it covers; when it succeeds, record those still the same."""
        if dlg is None:
            return
        seen: dict = {}

        def started(_text):
            job = dlg.job
            if job is None or seen.get("job") is job:
                return
            lo, hi = int(job.start), int(job.end) - 1
            inside = [s for s in self.shots if lo <= s[0] and s[1] <= hi]
            wk = self.window_.workers.worker
            seen.clear()
            seen.update(job=job, output=os.path.abspath(str(job.out_path)), format=job.fmt,
                        method=job.method or f"as previewed ({wk.method})", prints=self.fingerprints(inside))

        def finished(ok: bool, msg: str):
            ex = dict(seen)
            seen.clear()
            if dlg.doc is self.window_.doc:       # not a project closed meanwhile
                self._export_done(ex, ok, msg)
        dlg.stageChanged.connect(started)
        dlg.finished_export.connect(finished)

    def _export_done(self, ex: dict, ok: bool, msg: str) -> None:
        w = self.window_
        if not ok or not ex or w.doc is None or os.path.abspath(msg) != ex["output"]:
            return                    # failed, cancelled, or cut short (the input broke): nothing whole
        now = self.fingerprints(list(ex["prints"]))
        done = [s for s, fp in ex["prints"].items() if now.get(s) == fp]    # not edited meanwhile
        if not done:
            return
        recs = render_records(w.doc.p.settings)
        at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        for a, b in done:
            recs[(a, b)] = {"start": a, "end": b, "output": ex["output"], "format": ex["format"],
                            "method": ex["method"], "key": ex["prints"][(a, b)], "at": at}
        # stored without a change event (no propagation, no undo step, as the editor state is);
        # the window is marked modified so that it is saved
        w.doc.p.settings[RENDERED] = [recs[s] for s in sorted(recs)]
        w.undo.resetClean()
        self.refresh_states()

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
        elif self.unusable and self._scan is None:
            text += (f". The project's shots edited by hand are not used ({self.unusable}); "
                     f"Shot > Use Detected Shots or a split or merge replaces them")
        self.label.setText(text)

    # ------------------------------------------------------------------ scan progress
    def on_scanning(self, done: int, total: int) -> None:
        if self.window_.luma is None or getattr(self.window_.luma, "complete", True):
            return
        self._scan = (done, total)
        self.window_.timeline.set_scanned(done)
        self._say()
        if self._thumb_waits:
            self._thumb_waits = False
            self.viewport().update()

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
        w.say_luma_cache_problem(store)        # a disk that filled during the scan

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
        k = bisect.bisect_right(self._starts, frame) - 1
        return max(0, k)

    def follow(self, frame: int) -> None:
        """The frame shown is in shot k: row k is the current row (kept in view), as the
        timeline lights the current shot. Changing the current row does not seek."""
        if self.shots:
            k = self.shot_at(frame)
            if k != self.currentRow():
                self.setCurrentRow(k)

    def _go(self, item) -> None:
        self.window_.seek(int(item.data(Qt.ItemDataRole.UserRole)))

    def next_shot(self) -> None:
        if self.shots:
            k = self.shot_at(self.window_.current) + 1
            if k < len(self.shots):        # in the last shot: stay (it went back to its start)
                self._select(k)
            else:                          # said, not silent: nothing seemed to happen
                self.window_.status_msg.setText(f"Shot {k} of {len(self.shots)} is the last shot")

    def previous_shot(self) -> None:
        if self.shots:
            k = self.shot_at(self.window_.current)
            if self.window_.current == self.shots[k][0]:
                if k == 0:
                    self.window_.status_msg.setText(f"This is the first frame of the first shot (of {len(self.shots)})")
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
        elif w.doc is not None:
            w.status_msg.setText("The shots are the detected ones already (none was split or merged by hand)")


def install(window) -> ShotPanel:
    """Add the Shots dock and the Shot menu to a MainWindow; returns the panel (also
    ``window.shot_panel``). Reloads whenever the window has opened a shot."""
    label = QLabel("No video open: its shots are listed here once you open one (File > Open)")
    label.setObjectName("shotScanLabel")      # (an empty dock said nothing on a first launch)
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
    window.loader.thumbReady.connect(panel.on_thumb)        # after the window has stored it
    window.loader.loaded.connect(panel.on_frame_colour)
    window.frameArrived.connect(lambda _gen, i: panel.on_frame_colour(i))
    window.frameShown.connect(panel.follow)
    make = window.loader.thumb_maker

    def make_thumb(i):
        """The window's thumbnail maker (loader thread); a shot's first frame whose colour is not
        in memory any more (evicted) is read back first, so its row shows its colour."""
        store = window.store
        if store is not None and i in panel._firsts and store.sig_of(i) and store.cached_rgb(i) is None:
            try:
                store.rgb(i)
            except Exception:          # stays grey; the loader thread lives on
                pass
        return make(i)
    if make is not None:
        window.loader.thumb_maker = make_thumb
    window.shot_panel = panel
    return panel
