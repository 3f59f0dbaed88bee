"""Undo commands: one class per document change, each touching only the document.

The views never change in a command: they follow the document through its observer
callbacks, so undo/redo and a direct edit refresh the screen the same way.
A whole brush stroke (press to release) is one AddStroke: one undo step. Frame numbers in
the texts count from 0, like everything the editor shows (app.gui.numbering).
"""
from __future__ import annotations

from PySide6.QtGui import QUndoCommand

from models.base import HintStroke


class AddStroke(QUndoCommand):
    def __init__(self, doc, stroke: HintStroke):
        kind = "point hint" if len(stroke.points) == 1 else ("erase" if stroke.erase else "brush stroke")
        super().__init__(f"{kind.capitalize()} on frame {stroke.frame}")
        self.doc, self.stroke = doc, stroke

    def redo(self):
        self.doc.add_stroke(self.stroke)

    def undo(self):
        self.doc.remove_stroke(self.stroke)


class ClearHints(QUndoCommand):
    """Remove every stroke on one frame (restored in order on undo)."""

    def __init__(self, doc, frame: int):
        super().__init__(f"Clear hints on frame {frame}")
        self.doc, self.frame = doc, frame
        self.strokes = list(doc.strokes(frame))

    def redo(self):
        for s in self.strokes:
            self.doc.remove_stroke(s)

    def undo(self):
        for s in self.strokes:
            self.doc.add_stroke(s)


class SetKeyImage(QUndoCommand):
    """Import (rgb) or remove (None) the colour keyframe image of one frame."""

    def __init__(self, doc, frame: int, rgb):
        super().__init__(("Import colour keyframe" if rgb is not None else "Remove colour keyframe")
                         + f" on frame {frame}")
        self.doc, self.frame, self.new = doc, frame, rgb
        self.old = doc.key_image(frame)

    def redo(self):
        self.doc.set_key_image(self.frame, self.new)

    def undo(self):
        self.doc.set_key_image(self.frame, self.old)


class SetMarks(QUndoCommand):
    """I/O marks are saved with the project, so setting them is undoable too."""

    def __init__(self, doc, mark_in, mark_out):
        a, b = mark_in, mark_out
        super().__init__("Clear in/out marks" if a is None and b is None else
                         f"Set in/out marks ({'start' if a is None else a}–{'end' if b is None else b})")
        self.doc = doc
        self.new = (mark_in, mark_out)
        self.old = doc.marks()

    def redo(self):
        self.doc.set_marks(*self.new)

    def undo(self):
        self.doc.set_marks(*self.old)


class SetShots(QUndoCommand):
    """Split or merge shots by hand: the project's shot list replaced (``[]``: back to the
    detected cuts). Saved with the project; the render uses the same list."""

    def __init__(self, doc, shots, text: str):
        super().__init__(text)
        self.doc = doc
        self.new = [tuple(s) for s in shots]
        self.old = [tuple(s) for s in doc.shots()]

    def redo(self):
        self.doc.set_shots(self.new)

    def undo(self):
        self.doc.set_shots(self.old)


class SetHintMethod(QUndoCommand):
    """How strokes colour a keyframe with no colour under them (saved with the project, so the
    render follows the editor)."""

    def __init__(self, doc, name, label: str):
        super().__init__(f"Stroke reach: {label}")
        self.doc = doc
        self.new = name
        self.old = doc.hint_method()

    def redo(self):
        self.doc.set_hint_method(self.new)

    def undo(self):
        self.doc.set_hint_method(self.old)
