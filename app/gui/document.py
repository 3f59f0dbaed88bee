"""The GUI's view of the project document: a thin adapter over app.core.project.

The GUI needs a handful of queries and mutations (strokes per frame, colour keyframe
images, I/O marks) plus an observer callback `(kind, frame)`. Keeping them in one adapter
means a change in the core's API touches this file only. Qt-free.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from models.base import HintStroke

from app.core import project as core

PROJECT_SUFFIX = core.PROJECT_SUFFIX
ProjectChangedOnDisk = core.ProjectChangedOnDisk


def is_project(path: str) -> bool:
    return str(path).endswith(PROJECT_SUFFIX)


def find_recovery(path: str | None = None):
    """The newest recoverable autosave, or None; with ``path``, the newest one of that file: the
    project it was saved to, or, for work never saved to a project, the video it was made on."""
    found = core.find_recovery()
    if path is not None:
        # resolved paths: the same file opened through a symlinked folder (or with ..) is found
        p = os.path.realpath(path)
        found = [e for e in found if (os.path.realpath(e.original) == p if e.original
                                      else bool(e.source) and os.path.realpath(e.source) == p)]
    return found[0] if found else None


def recovery_text(entry) -> str:
    """The question that offers an autosave, in words: what it is of and when it was made."""
    import time
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.saved_at))
    if entry.original:
        what = f"{Path(entry.original).name} ({Path(entry.original).parent})"
        try:
            later = os.stat(entry.original).st_mtime > entry.saved_at
        except OSError:
            later = False
        if later:
            what += ", whose file was saved again after this autosave"
    else:
        what = f"a project never saved, on {Path(entry.source).name if entry.source else 'an unknown video'}"
    return (f"Hueshot did not close normally. Unsaved work was autosaved at {when}:\n{what}.\n\n"
            "Recover it? (No deletes the autosaved copy; Cancel keeps it for later.)")


def discard_recovery(entry) -> None:
    core.discard_recovery(entry)


class Document:
    def __init__(self, project: core.Project):
        self.p = project
        self._observers = []
        self._autosaved = False     # this window wrote an autosave of the project (drop_autosave)
        project.subscribe(self._changed)

    # ---- construction ----
    @classmethod
    def new(cls, media_path: str) -> "Document":
        return cls(core.Project(os.path.abspath(media_path)))

    @classmethod
    def open(cls, path: str) -> "Document":
        return cls(core.Project.load(path))

    @classmethod
    def recover(cls, entry) -> "Document":
        return cls(core.recover(entry))

    # ---- observers: (kind, frame); kind "marks" for the I/O range ----
    def subscribe(self, cb) -> None:
        self._observers.append(cb)

    def _changed(self, ev) -> None:
        if ev.kind in ("saved", "loaded"):
            return
        kind = "marks" if ev.kind == "range" else ev.kind
        for cb in list(self._observers):
            cb(kind, ev.frame)

    # ---- queries ----
    @property
    def path(self) -> str | None:
        return str(self.p.path) if self.p.path else None

    @property
    def media_path(self) -> str:
        return str(self.p.source)

    def bind(self, info, proxy_size, frame_count: int) -> tuple[list[str], list[str]]:
        """The shot is open and its length and size known: the project's keyframes, strokes and
        marks on frames it does not have (core.Project.drop_past_end) and keyframe images of
        another size (core.Project.drop_other_size) are left out; returns (past the end, other size)."""
        return self.p.drop_past_end(frame_count), self.p.drop_other_size(info.width, info.height)

    def strokes(self, frame: int) -> list[HintStroke]:
        return self.p.strokes_on(frame)

    def hinted_frames(self) -> set[int]:
        return set(self.p.stroke_frames())

    def key_image(self, frame: int):
        return self.p.keyframe(frame)

    def image_frames(self) -> set[int]:
        return set(self.p.keyframes)

    def key_frames(self) -> set[int]:
        """Frames that drive propagation: colour keyframes and frames with hints."""
        return set(self.p.keyframes) | set(self.p.stroke_frames())

    def key_token(self, frame: int) -> tuple:
        """Identity of everything on one frame: unchanged -> the worker reuses its chroma."""
        img = self.p.keyframe_hash(frame) if self.p.keyframe(frame) is not None else ""
        strokes = tuple((s.id, s.erase) for s in self.p.strokes_on(frame))
        # a chosen hint method changes what strokes give (the default adds nothing, so the
        # frame keys of projects that never chose one stay as they were)
        hint = (self.p.hint_method,) if strokes and self.p.hint_method else ()
        return (img, strokes) + hint

    def has_hints(self) -> bool:
        return bool(self.key_frames())

    def first_key(self) -> int:
        k = self.key_frames()
        return min(k) if k else 0

    def marks(self):
        return self.p.in_point, self.p.out_point

    def shots(self) -> list[tuple[int, int]]:
        """Shots edited by hand and saved in the project ([]: the detected cuts count)."""
        return list(self.p.shots)

    # ---- mutations (called by undo commands only) ----
    def add_stroke(self, s: HintStroke) -> None:
        self.p.add_stroke(s)

    def remove_stroke(self, s: HintStroke) -> None:
        self.p.remove_stroke(s.id)

    def set_key_image(self, frame: int, rgb) -> None:
        if rgb is None:
            self.p.remove_keyframe(frame)
        else:
            self.p.set_keyframe(frame, rgb)

    def set_marks(self, a, b) -> None:
        self.p.set_range(a, b)

    def set_shots(self, shots) -> None:
        self.p.set_shots(shots)

    def hint_method(self) -> str | None:
        return self.p.hint_method

    def set_hint_method(self, name: str | None) -> None:
        self.p.set_hint_method(name)

    # ---- persistence ----
    def save(self, path: str, overwrite: bool = False) -> None:
        """core.ProjectChangedOnDisk when another editor saved the file since (see core.Project.save)."""
        self.p.save(path, overwrite=overwrite)

    def autosave(self):
        out = core.autosave(self.p)
        if out is not None:
            self._autosaved = True
        return out

    def drop_autosave(self) -> None:
        """The edits were undone back to what the file holds: the autosave this window wrote
        holds edits that are gone now, and a crash offered them back as unsaved work. Removed
        (only one this window wrote: a recovered document's copy stays until it is saved or
        autosaved again)."""
        if self._autosaved:
            core.clear_recovery(self.p)
            self._autosaved = False

    def close(self) -> None:
        """Closing on purpose: the autosaved copy is no longer needed."""
        core.clear_recovery(self.p)


def user_cache_root() -> str:
    """$HUESHOT_CACHE_DIR, else $XDG_CACHE_HOME/hueshot (~/.cache/hueshot), else the temp dir."""
    import tempfile
    env = os.environ.get("HUESHOT_CACHE_DIR")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.access(os.path.dirname(base) or "/", os.W_OK):
        base = tempfile.gettempdir()
    return os.path.join(base, "hueshot")


def cache_dir(doc: Document) -> str:
    """Chroma of a shot with no project file yet: per user cache, per media file."""
    import hashlib
    h = hashlib.sha1(doc.media_path.encode()).hexdigest()[:12]
    return os.path.join(user_cache_root(), "chroma", h)


def project_cache_root(project_path: str) -> str:
    """The project's cache folder: ``<name>.hueshot-cache/`` beside ``<name>.hueshot``."""
    p = Path(project_path)
    return str(p.with_name(p.stem + ".hueshot-cache"))


def chroma_dirs(doc: Document) -> tuple[str, list[str]]:
    """(folder the propagated chroma is written to, folders also read). A saved project keeps
    it in ``<name>.hueshot-cache/chroma/<frame key>/<frame>.npz`` (app.core.cache names the
    keys) and also reads what was computed before it was first saved; a project folder that
    cannot be written falls back to the user cache."""
    user = cache_dir(doc)
    if doc.path:
        root = project_cache_root(doc.path)
        parent = os.path.dirname(root) or "."
        if (os.path.isdir(root) and os.access(root, os.W_OK)) or (not os.path.exists(root) and os.access(parent, os.W_OK)):
            return os.path.join(root, "chroma"), [user]
    return user, []
