"""The project document: one shot, its keyframes and hint strokes, range and settings.

Plain Python, no Qt. Views subscribe with ``doc.subscribe(callback)``; every mutating method
(``set_keyframe``, ``add_stroke``, ...) notifies them with a ``ChangeEvent``. The GUI's
QUndoCommands call these methods and nothing else touches the document.

On-disk format (version 1)
--------------------------
``<name>.hueshot``                UTF-8 JSON (below)
``<name>.hueshot-layers/``        PNG layers: ``key_<frame:06d>_<hash>.png`` keyframe colour
                                  images (full input resolution, sRGB 8-bit)

JSON::

    {"format": "hueshot-project", "version": 1, "app_version": "0.1.0",
     "source": {"path": "/abs/clip.mp4", "relative": "../footage/clip.mp4"},
     "proxy_height": 480, "method": "flow",
     "range": {"in": 0, "out": 71} | null,           # inclusive frame indices
     "keyframes": [{"frame": 0, "image": "key_000000_1a2b3c4d.png"}],
     "strokes": [{"id": "...", "frame": 0, "points": [[x, y], ...], "radius": 0.02,
                  "color": [r, g, b], "erase": false}],
     "shots": [[0, 119], [120, 301]],                # inclusive; [] until detected
     "settings": {...}}

The source is found through ``relative`` (to the project file's folder) first, so moving the
project folder together with the video keeps working, then through ``path``.

Atomic saves: layer PNGs are content-addressed (the name carries a hash), so a save first
writes any new PNGs (temp name, fsync, rename), then replaces the JSON atomically (temp,
fsync, ``os.replace``), and only then deletes PNGs the new JSON no longer references. A crash
at any point leaves either the old or the new project on disk, complete.

Autosave: ``autosave(doc)`` saves a copy under the recovery folder (``$HUESHOT_RECOVERY_DIR``
or ``$XDG_DATA_HOME/hueshot/recovery``) without touching the document's own file;
``find_recovery()`` lists what can be restored; a normal save clears the document's copy.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from app.core.fsutil import create_exclusive, fsync_path, keep_mode
from app.core.shutdown import pid_alive, sweep_stale, temp_tag
from app.core.validate import ValidationError, check_project_fields, check_stroke, check_strokes, read_json

from models.base import HintStroke

FORMAT_NAME = "hueshot-project"
FORMAT_VERSION = 1
PROJECT_SUFFIX = ".hueshot"
LAYERS_SUFFIX = ".hueshot-layers"
DEFAULT_PROXY_HEIGHT = 480
# what this version reads and writes; anything else in a file is carried through unchanged
KNOWN_FIELDS = {"format", "version", "app_version", "saved_at", "source", "proxy_height", "method",
                "range", "keyframes", "strokes", "settings", "layers", "origin", "session_id",
                "autosaved_at", "autosaved_by", "shots", "hint_method"}


class ProjectError(Exception):
    """A project file is missing, broken or unsupported; the message names the file."""


class ProjectChangedOnDisk(ProjectError):
    """The file was replaced since this document read or wrote it (another editor saved it):
    saving over it would drop that work; ``save(..., overwrite=True)`` does it on purpose."""


@dataclass
class ChangeEvent:
    kind: str                    # "keyframe", "strokes", "range", "settings", "source", "loaded", "saved", "trimmed"
    frame: int | None = None     # the frame concerned, when there is one
    detail: Any = None


# ------------------------------------------------------------------------- stroke <-> JSON
def stroke_to_dict(s: HintStroke) -> dict:
    return {"id": s.id, "frame": int(s.frame),
            "points": [[float(x), float(y)] for x, y in s.points],
            "radius": float(s.radius), "color": [int(c) for c in s.color], "erase": bool(s.erase)}


def stroke_from_dict(d: dict, where: str = "stroke") -> HintStroke:
    """One stroke, checked by app.core.validate (ValueError names the field and the range)."""
    index = where.rsplit(" ", 1)[-1]
    return check_stroke(d, "", int(index) if index.isdigit() else 0)


def load_strokes(path: str | os.PathLike) -> list[HintStroke]:
    """Strokes from a JSON file: a list of stroke objects, or {"strokes": [...]}."""
    p = Path(path)
    try:
        return check_strokes(read_json(p, "hints file"), p)
    except ValidationError as exc:
        raise ProjectError(str(exc)) from None


# ---------------------------------------------------------------------------- file helpers
def temp_prefix(path: Path) -> str:
    """Start of the temp names a save of ``path`` writes beside it (``.NAME.<pid>-<rand>.tmp``)."""
    return f".{Path(path).name}."


def sweep_save_temps(folder: Path) -> None:
    """Remove temp files of saves whose process died (a SIGKILL mid-save leaves them)."""
    sweep_stale(folder, ".", ".tmp")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder, fsync, os.replace.

    The temp file is created with the umask's mode (not mkstemp's 0600) and takes the mode
    of the file it replaces; its name carries this process's id (see sweep_save_temps)."""
    path = Path(path)
    tmp = path.parent / f"{temp_prefix(path)}{temp_tag()}.tmp"
    try:
        with create_exclusive(tmp) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        keep_mode(tmp, path)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_path(path.parent)


def _reuse_layer(src: Path, dest: Path, link: bool) -> bool:
    """Put the layer PNG ``src`` (the project's own file of a keyframe image: the name carries
    the image's hash) at ``dest``: with ``link`` (a recovery copy, the app's own) a hard link
    when it can, else a copy, under a temp name renamed into place. The first autosave of a
    session encoded every keyframe of the project again on the GUI thread: seconds with twenty
    1080p keyframes, the editor frozen. False when ``src`` is not there (or cannot be read):
    the caller encodes the image."""
    if not src.is_file():
        return False
    try:
        try:
            if not link:
                raise OSError("copy")    # a project of the user's own shares no file with another
            tmp = dest.parent / f"{temp_prefix(dest)}{temp_tag()}.tmp"
            os.link(src, tmp)            # the source file is durable already (it was fsynced)
        except OSError:
            atomic_write_bytes(dest, src.read_bytes())    # another filesystem: a copy
            return True
        try:
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_path(dest.parent)
    except OSError:
        return False
    return True


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    """What changes whenever a file is written or replaced (inode, mtime, size); None if absent."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


_PNG_POOL = None


def _encode_png(img: np.ndarray) -> bytes | None:
    """A keyframe layer's PNG bytes (None if OpenCV could not encode it)."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    return buf.tobytes() if ok else None


def _encode_later(img: np.ndarray):
    """Start encoding a keyframe's PNG on a background thread (a future of _encode_png): a
    1080p key takes 0.3-0.4 s, which a save or autosave on the editor's GUI thread froze the
    window for. One thread: OpenCV's PNG encoder releases the GIL."""
    global _PNG_POOL
    if _PNG_POOL is None:
        from concurrent.futures import ThreadPoolExecutor
        _PNG_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="keyframe-png")
    return _PNG_POOL.submit(_encode_png, img)


def _image_hash(rgb: np.ndarray) -> str:
    h = hashlib.sha1()
    h.update(repr(rgb.shape).encode())
    h.update(np.ascontiguousarray(rgb).tobytes())
    return h.hexdigest()[:10]


def layers_dir_for(project_path: Path) -> Path:
    project_path = Path(project_path)
    return project_path.with_name(project_path.stem + LAYERS_SUFFIX)


# -------------------------------------------------------------------------------- document
class Project:
    """One shot being colourised. Frame indices are the source's (0-based)."""

    def __init__(self, source: str | os.PathLike | None = None):
        self.path: Path | None = None
        self.source: Path | None = Path(source).absolute() if source else None
        self.proxy_height: int = DEFAULT_PROXY_HEIGHT
        self.method: str = _default_method()
        # how far strokes reach, on grey frames and over colour (models.hinting.hints.HINT_METHODS);
        # None: the default (geo). Part of the project: the render follows what the editor showed.
        self.hint_method: str | None = None
        self.in_point: int | None = None
        self.out_point: int | None = None
        self.settings: dict[str, Any] = {}
        self._keyframes: dict[int, np.ndarray] = {}
        self._strokes: list[HintStroke] = []
        self.shots: list[tuple[int, int]] = []   # inclusive ranges (app.core.reels.shots); [] = not detected yet
        self._observers: list[Callable[[ChangeEvent], None]] = []
        self.revision = 0              # bumped on every change (autosave checks it)
        self.saved_revision = 0
        self.session_id = uuid.uuid4().hex[:12]   # names this document's recovery copy
        self.disk_stamp: tuple | None = None      # file_stamp of self.path as last read or written here
        self._key_hashes: dict[int, str] = {}
        # frame -> future of its keyframe's PNG bytes, encoded in the background when the key
        # is set, for the next save or autosave that needs the file (_encode_later)
        self._key_pngs: dict[int, Any] = {}
        # fields of the file this version does not know (a newer version wrote them): kept
        # as they were and written back on save
        self.unknown_fields: dict[str, Any] = {}

    # ------------------------------------------------------------------------- observers
    def subscribe(self, callback: Callable[[ChangeEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` after each change; returns an unsubscribe function."""
        self._observers.append(callback)

        def unsubscribe() -> None:
            if callback in self._observers:
                self._observers.remove(callback)
        return unsubscribe

    def _changed(self, kind: str, frame: int | None = None, detail: Any = None, *, edit: bool = True) -> None:
        if edit:
            self.revision += 1
        ev = ChangeEvent(kind, frame, detail)
        for cb in list(self._observers):
            cb(ev)

    @property
    def modified(self) -> bool:
        return self.revision != self.saved_revision

    # ---------------------------------------------------------------------------- source
    def set_source(self, path: str | os.PathLike) -> None:
        self.source = Path(path).absolute()
        self._changed("source", detail=self.source)

    @property
    def source_exists(self) -> bool:
        return self.source is not None and self.source.exists()

    # ------------------------------------------------------------------------- keyframes
    @property
    def keyframes(self) -> dict[int, np.ndarray]:
        """frame -> RGB uint8 image (full input resolution). A read-only view; use the methods."""
        return dict(self._keyframes)

    def keyframe(self, frame: int) -> np.ndarray | None:
        return self._keyframes.get(int(frame))

    def set_keyframe(self, frame: int, rgb: np.ndarray) -> np.ndarray | None:
        """Set (or replace) a keyframe image; returns the previous image, for undo."""
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"keyframe image must be HxWx3 uint8 RGB, got {rgb.shape} {rgb.dtype}")
        frame = int(frame)
        if frame < 0:
            raise ValueError(f"keyframe index must be >= 0, got {frame}")
        for other in self._keyframes.values():
            if other.shape != rgb.shape:
                raise ValueError(f"keyframe image is {rgb.shape[1]}x{rgb.shape[0]}, the other keyframes "
                                 f"are {other.shape[1]}x{other.shape[0]}")
        old = self._keyframes.get(frame)
        img = np.array(rgb, copy=True)
        img.setflags(write=False)
        self._keyframes[frame] = img
        self._key_hashes.pop(frame, None)
        self._drop_png(frame)            # (an undo / redo of a key import sets it again and again)
        self._key_pngs[frame] = _encode_later(img)
        self._changed("keyframe", frame, "set")
        return old

    def _drop_png(self, frame: int) -> None:
        """Forget frame's background PNG encode, and cancel it if it has not started: the
        encoder is one thread working in order, and a save waits for the encodes of the keys it
        writes, so encodes nobody needs any more (a key replaced, removed, or already written)
        that stayed queued made the save on the GUI thread wait for all of them (ten undo /
        redo of a four-key import: 40 encodes, an 8.7 s freeze at Ctrl+S)."""
        job = self._key_pngs.pop(frame, None)
        if job is not None:
            job.cancel()

    def remove_keyframe(self, frame: int) -> np.ndarray | None:
        """Remove a keyframe; returns its image (None if there was none), for undo."""
        old = self._keyframes.pop(int(frame), None)
        self._key_hashes.pop(int(frame), None)
        self._drop_png(int(frame))
        if old is not None:
            self._changed("keyframe", int(frame), "removed")
        return old

    # --------------------------------------------------------------------------- strokes
    @property
    def strokes(self) -> list[HintStroke]:
        return list(self._strokes)

    def strokes_on(self, frame: int) -> list[HintStroke]:
        return [s for s in self._strokes if s.frame == frame]

    def stroke_frames(self) -> list[int]:
        return sorted({s.frame for s in self._strokes})

    def add_stroke(self, stroke: HintStroke, position: int | None = None) -> str:
        """Append a stroke (or insert it at ``position``, for undo of a removal); returns its id."""
        if not stroke.id:
            stroke.id = uuid.uuid4().hex[:12]
        if any(s.id == stroke.id for s in self._strokes):
            raise ValueError(f"a stroke with id {stroke.id!r} already exists")
        if position is None:
            self._strokes.append(stroke)
        else:
            self._strokes.insert(position, stroke)
        self._changed("strokes", stroke.frame, ("added", stroke.id))
        return stroke.id

    def remove_stroke(self, stroke_id: str) -> tuple[HintStroke, int]:
        """Remove a stroke by id; returns (stroke, its position) so undo can reinsert it."""
        for i, s in enumerate(self._strokes):
            if s.id == stroke_id:
                del self._strokes[i]
                self._changed("strokes", s.frame, ("removed", s.id))
                return s, i
        raise KeyError(f"no stroke with id {stroke_id!r}")

    def clear_strokes(self, frame: int) -> list[tuple[HintStroke, int]]:
        """Remove all strokes on a frame; returns [(stroke, position)] in ascending position."""
        removed = [(s, i) for i, s in enumerate(self._strokes) if s.frame == frame]
        if removed:
            self._strokes = [s for s in self._strokes if s.frame != frame]
            self._changed("strokes", frame, ("cleared", [s.id for s, _ in removed]))
        return removed

    # -------------------------------------------------------------------- range/settings
    def set_range(self, in_point: int | None, out_point: int | None) -> tuple[int | None, int | None]:
        """Set the I/O range (inclusive frame indices, None = shot start/end); returns the old one."""
        if in_point is not None and out_point is not None and out_point < in_point:
            raise ValueError(f"out point {out_point} is before in point {in_point}")
        old = (self.in_point, self.out_point)
        self.in_point, self.out_point = in_point, out_point
        self._changed("range", detail=(in_point, out_point))
        return old

    def set_shots(self, shots) -> list[tuple[int, int]]:
        """Replace the cut list (inclusive (start, end) ranges in order); returns the old one, for undo."""
        new = [(int(a), int(b)) for a, b in shots]
        if any(b < a for a, b in new) or any(n[0] != p[1] + 1 for p, n in zip(new, new[1:])):
            raise ValueError(f"shots must be consecutive inclusive ranges in order, got {new[:4]}...")
        old, self.shots = self.shots, new
        self._changed("shots", detail=len(new))
        return old

    def set_proxy_height(self, h: int) -> int:
        from app.core.validate import check_proxy_height
        h = check_proxy_height(h)
        old, self.proxy_height = self.proxy_height, h
        self._changed("settings", detail=("proxy_height", self.proxy_height))
        return old

    def set_method(self, name: str) -> str:
        old, self.method = self.method, str(name)
        self._changed("settings", detail=("method", self.method))
        return old

    def set_hint_method(self, name: str | None) -> str | None:
        from app.core.validate import check_hint_method
        old, self.hint_method = self.hint_method, check_hint_method(name)
        self._changed("settings", detail=("hint_method", self.hint_method))
        return old

    def set_setting(self, key: str, value: Any) -> Any:
        """Store a JSON-serialisable setting; returns the old value (None if unset)."""
        json.dumps(value)  # fail now, not at save time
        old = self.settings.get(key)
        self.settings[key] = value
        self._changed("settings", detail=(key, value))
        return old

    def drop_past_end(self, frame_count: int) -> list[str]:
        """Leave out the keyframes, hint strokes and in/out marks on frames past the end of a
        source of ``frame_count`` frames (0..frame_count-1); returns what was left out, in
        words ([] when nothing was: then nothing changes and no one is notified).

        The file alone does not know its source's length, so this is checked where the length
        comes in: once, when the editor has opened the source. Such a project is opened, not
        refused: a serious editing tool does not lock the editor out of all the work on the
        frames the source has (a source re-rendered or trimmed shorter is the usual cause) over
        a few items that cannot be used, and names those items instead of failing at export as
        it did. The file on disk keeps them until the user saves, so not saving loses nothing.
        An in mark past the end drops the range, an out mark past it means "to the end" (None).
        The shot list is left as it is: the editor and every render cut it at the source's end
        (app.gui.panels.shot_panel, app.core.reels.shots.reel_plans). A render of such a project
        (``hueshot render``) refuses it naming the frame and the length (app.core.render)."""
        n = int(frame_count)
        dropped: list[str] = []
        keys = sorted(f for f in self._keyframes if f >= n)
        self._forget_keys(keys)
        if keys:
            dropped.append(f"keyframe{'s' if len(keys) > 1 else ''} {', '.join(map(str, keys))}")
        gone = [s for s in self._strokes if s.frame >= n]
        if gone:
            self._strokes = [s for s in self._strokes if s.frame < n]
            per = {f: sum(1 for s in gone if s.frame == f) for f in sorted({s.frame for s in gone})}
            dropped.append(f"{len(gone)} hint stroke{'s' if len(gone) > 1 else ''} on frame"
                           f"{'s' if len(per) > 1 else ''} " +
                           ", ".join(f"{f}" + (f" ({k})" if k > 1 else "") for f, k in per.items()))
        a, b = self.in_point, self.out_point
        if a is not None and a >= n:
            dropped.append(f"the in mark at frame {a}" + (f" and the out mark at frame {b}" if b is not None else ""))
            self.in_point = self.out_point = None
        elif b is not None and b >= n:
            dropped.append(f"the out mark at frame {b} (the range now ends at the last frame)")
            self.out_point = None
        if dropped:
            self._changed("trimmed", detail=list(dropped))
        return dropped

    def _forget_keys(self, frames) -> None:
        """Drop these keyframes without a change per frame (the caller sends one "trimmed")."""
        for f in frames:
            del self._keyframes[f]
            self._key_hashes.pop(f, None)
            self._drop_png(f)

    def drop_other_size(self, width: int, height: int) -> list[str]:
        """Leave out the keyframe images that are not ``width`` x ``height``, the size of the
        source the editor opened (the video was replaced by another one of the same name);
        returns them in words ([] when none: nothing changes, no one is notified). They were
        used stretched, and every import of a keyframe at the source's size then failed. As
        with drop_past_end, the file keeps them until the user saves."""
        wrong = sorted(f for f, img in self._keyframes.items() if img.shape[:2] != (int(height), int(width)))
        dropped = [f"frame {f} ({self._keyframes[f].shape[1]}x{self._keyframes[f].shape[0]})" for f in wrong]
        self._forget_keys(wrong)
        if dropped:
            self._changed("trimmed", detail=list(dropped))
        return dropped

    # ---------------------------------------------------------------------- propagation
    def keyframe_hash(self, frame: int) -> str:
        if frame not in self._key_hashes:
            self._key_hashes[frame] = _image_hash(self._keyframes[frame])
        return self._key_hashes[frame]

    def propagation_key(self) -> str:
        """A hash of everything the propagated chroma depends on (for ChromaCache keys)."""
        h = hashlib.sha1()
        h.update(repr((str(self.source), self.proxy_height, self.method, self.in_point, self.out_point)).encode())
        if self.hint_method:
            h.update(f"hint:{self.hint_method}".encode())
        for f in sorted(self._keyframes):
            h.update(f"k{f}:{self.keyframe_hash(f)}".encode())
        for s in self._strokes:
            h.update(json.dumps(stroke_to_dict(s), sort_keys=True).encode())
        return h.hexdigest()[:16]

    # ------------------------------------------------------------------------- save/load
    def to_dict(self, project_path: Path, layer_names: dict[int, str]) -> dict:
        src = None
        if self.source is not None:
            rel = None
            try:
                rel = os.path.relpath(self.source, Path(project_path).absolute().parent)
            except ValueError:  # other drive (Windows)
                rel = None
            src = {"path": str(self.source), "relative": rel}
        rng = None
        if self.in_point is not None or self.out_point is not None:
            rng = {"in": self.in_point, "out": self.out_point}
        return {
            **copy.deepcopy(self.unknown_fields),
            "format": FORMAT_NAME, "version": FORMAT_VERSION, "app_version": _app_version(),
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "source": src, "proxy_height": self.proxy_height, "method": self.method, "range": rng,
            "keyframes": [{"frame": f, "image": layer_names[f]} for f in sorted(self._keyframes)],
            "strokes": [stroke_to_dict(s) for s in self._strokes],
            "shots": [[a, b] for a, b in self.shots],
            "settings": copy.deepcopy(self.settings),
            **({"hint_method": self.hint_method} if self.hint_method else {}),
        }

    def save(self, path: str | os.PathLike | None = None, overwrite: bool = False) -> Path:
        """Save atomically to ``path`` (or the current path); clears this document's autosave.

        Saving to the document's own file after something else replaced it (a second editor
        on the same project saved) raises ProjectChangedOnDisk instead of silently dropping
        that work, unless ``overwrite``."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ProjectError("project has no file name yet: give a path to save to")
        if target.suffix != PROJECT_SUFFIX:
            target = target.with_name(target.name + PROJECT_SUFFIX)
        target = target.absolute()
        if not overwrite and self.path is not None and target == Path(self.path).absolute() \
                and self.disk_stamp is not None and file_stamp(target) not in (None, self.disk_stamp):
            raise ProjectChangedOnDisk(f"{target}: the file was changed on disk after this window opened or "
                                       "saved it (another Hueshot window or program saved it)")
        self._write(target)
        for f in list(self._key_pngs):   # their files are in the project's layers folder now
            self._drop_png(f)
        self.disk_stamp = file_stamp(target)
        self.path = target
        self.saved_revision = self.revision
        clear_recovery(self)
        self._changed("saved", detail=target, edit=False)
        return target

    def _write(self, target: Path, extra: dict | None = None, link_layers: bool = False) -> None:
        if not target.parent.is_dir():
            raise ProjectError(f"{target}: folder {target.parent} does not exist")
        layers = layers_dir_for(target)
        existed, made_layers, written = target.exists(), not layers.exists(), []
        try:
            layers.mkdir(exist_ok=True)
            names: dict[int, str] = {}
            # the document's own layers (an autosave writes elsewhere): a PNG there of the same
            # name is the same image, linked or copied instead of encoded again
            own = layers_dir_for(self.path) if self.path is not None else None
            own = own if own is not None and own.absolute() != layers.absolute() else None
            for f, img in self._keyframes.items():
                name = f"key_{f:06d}_{self.keyframe_hash(f)}.png"
                names[f] = name
                dest = layers / name
                if not dest.exists():  # content-addressed: an existing file is already right
                    if own is not None and _reuse_layer(own / name, dest, link=link_layers):
                        written.append(dest)
                        continue
                    job = self._key_pngs.get(f)
                    png = job.result() if job is not None else _encode_png(img)
                    if png is None:
                        raise ProjectError(f"{dest}: could not encode keyframe {f} as PNG")
                    atomic_write_bytes(dest, png)
                    written.append(dest)
            data = self.to_dict(target, names)
            if extra:
                data.update(extra)
            atomic_write_bytes(target, json.dumps(data, indent=1).encode("utf-8"))
        except OSError as exc:
            # the layers this save added are referenced by no file: removed, with a layers
            # folder it made (a failed first save on a full disk left both behind)
            for q in written:
                try:
                    q.unlink()
                except OSError:
                    pass
            if made_layers:
                try:
                    layers.rmdir()              # empty by now
                except OSError:
                    pass
            raise ProjectError(f"{target}: saving failed ({exc.strerror or exc}); " +
                               ("the previous version on disk is intact" if existed else
                                "no project file was written there")) from exc
        # saved; only now forget layers the new file no longer references (best effort: a
        # failure here is not a failed save)
        try:
            keep = set(names.values())
            for p in layers.iterdir():
                if p.is_file() and p.name.startswith("key_") and p.suffix == ".png" and p.name not in keep:
                    p.unlink(missing_ok=True)
        except OSError:
            pass
        sweep_save_temps(layers)            # leftovers of saves killed part way
        sweep_save_temps(target.parent)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Project":
        p = Path(path).absolute()
        if p.is_dir() and p.name.endswith(LAYERS_SUFFIX):
            raise ProjectError(f"{p}: this is a project's layers folder; open the .hueshot file beside it")
        if not p.exists():
            raise ProjectError(f"{p}: no such project file")
        stamp = file_stamp(p)          # before reading: a change after it is seen at save
        try:
            data = read_json(p, "project file")
        except ValidationError as exc:
            text = str(exc).replace("project file is not valid JSON", "project file is broken (invalid JSON at")
            if "(invalid JSON at" in text:
                text = text.replace("(invalid JSON at (", "(invalid JSON at ")
            if "not UTF-8 JSON text" in text:
                text = f"{p}: not a Hueshot project (not UTF-8 JSON text)"
            raise ProjectError(text) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise ProjectError(f"{p}: not a Hueshot project (missing \"format\": \"{FORMAT_NAME}\")")
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ProjectError(f"{p}: project file has no valid version field")
        if version > FORMAT_VERSION:
            raise ProjectError(f"{p}: saved by a newer Hueshot (project format version {version}; "
                               f"this version reads up to {FORMAT_VERSION})")
        if version < 1:
            raise ProjectError(f"{p}: unsupported project format version {version}")
        doc = cls()
        try:
            doc._from_dict(data, p)
        except ProjectError:
            raise
        except ValidationError as exc:
            raise ProjectError(str(exc)) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ProjectError(f"{p}: project file is broken ({type(exc).__name__}: {exc})") from None
        sweep_save_temps(p.parent)
        doc.path = p
        doc.disk_stamp = stamp
        doc.revision = doc.saved_revision = 0
        doc._changed("loaded", detail=p, edit=False)
        return doc

    def _from_dict(self, data: dict, p: Path) -> None:
        v = check_project_fields(data, p)          # every field typed and in range, or one line
        self.unknown_fields = {k: copy.deepcopy(val) for k, val in data.items() if k not in KNOWN_FIELDS}
        if v["source"]:
            self.source = resolve_source(v["source"], p, data.get("origin") if isinstance(data.get("origin"), str) else None)
        self.proxy_height = v["proxy_height"]
        self.method = v["method"] or _default_method()
        self.hint_method = v["hint_method"]
        self.in_point, self.out_point = v["in"], v["out"]
        self.settings = v["settings"]
        from app.core.reels.shots import shots_field
        try:
            self.shots = shots_field(data.get("shots"))
        except ValueError as exc:
            raise ProjectError(f"{p}: {exc}") from None
        layers = layers_dir_for(p)
        if v["layers"]:
            layers = p.parent / v["layers"]
        for f, image in v["keyframes"]:
            img_path = layers / image
            if not img_path.exists():
                raise ProjectError(f"{p}: keyframe {f} image {img_path} is missing "
                                   f"(the {layers.name}/ folder must stay beside the project file)")
            bgr = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise ProjectError(f"{p}: keyframe {f} image {img_path} is unreadable")
            img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            img.setflags(write=False)
            self._keyframes[f] = img
        self._strokes.extend(v["strokes"])


def resolve_source(src: dict, project_path: Path, origin: str | None = None) -> Path:
    """The source video: relative to the project (moved-together case) first, then absolute.

    If neither exists the absolute path is returned (``Project.source_exists`` is False and
    the GUI asks the user to relocate it).
    """
    rel = src.get("relative")
    absolute = Path(src["path"]) if src.get("path") else None
    if absolute is not None and not absolute.is_absolute():
        # a hand-written "path": relative to the project's folder, as "relative" is (it was taken
        # relative to the working directory: the project opened from its own folder only, and
        # elsewhere the video was 'missing', named by a bare file name)
        rel = rel or str(absolute)
        absolute = (Path(origin).parent if origin else project_path.parent) / absolute
    candidates = []
    if rel:
        candidates.append((project_path.parent / rel).resolve())
        if origin:
            candidates.append((Path(origin).parent / rel).resolve())
    if absolute is not None:
        candidates.append(absolute)
    for c in candidates:
        if c.exists():
            return c
    return absolute if absolute is not None else candidates[0]


def _default_method() -> str:
    try:
        from models.registry import DEFAULT_METHOD
        return DEFAULT_METHOD
    except Exception:  # pragma: no cover - registry always present in a full install
        return "flow"


def _app_version() -> str:
    try:
        from importlib.metadata import version
        return version("hueshot")
    except Exception:
        return "0"


# -------------------------------------------------------------------------------- autosave
@dataclass
class RecoveryEntry:
    path: Path                   # the recovery .hueshot file (open it with Project.load)
    original: Path | None        # where the user's project lives (None: never saved)
    saved_at: float              # time.time() of the autosave
    source: str | None = None
    session_id: str = ""
    by: dict | None = None       # the process that wrote it ({"pid", "boot"}; None: older versions)

    @property
    def name(self) -> str:
        return self.original.name if self.original else f"Untitled ({self.session_id})"


def recovery_dir() -> Path:
    env = os.environ.get("HUESHOT_RECOVERY_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "hueshot" / "recovery"


def autosave(doc: Project, directory: str | os.PathLike | None = None) -> Path | None:
    """Save a recovery copy of ``doc`` (only if it changed since its last save).

    Returns the recovery file, or None if there was nothing to save. Never touches the
    document's own file or its modified state.
    """
    if not doc.modified:
        return None
    d = Path(directory) if directory is not None else recovery_dir()
    folder = d / doc.session_id
    folder.mkdir(parents=True, exist_ok=True)
    name = doc.path.stem if doc.path else "untitled"
    target = folder / f"{name}{PROJECT_SUFFIX}"
    doc._recovery_dir = d
    extra = {"origin": str(doc.path) if doc.path else None, "session_id": doc.session_id,
             "autosaved_at": time.time(), "autosaved_by": {"pid": os.getpid(), "boot": _boot_id()}}
    doc._write(target, extra, link_layers=True)   # the recovery copy may share the project's PNGs
    return target


def _boot_id() -> str | None:
    """This boot of the machine (Linux), so a pid of an earlier boot is never taken for alive."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _written_by_live_editor(by) -> bool:
    """The autosave belongs to another editor that is still running (its recovery copy is not
    left over from a crash: offering it would fork that session, declining it deleted it)."""
    pid = by.get("pid") if isinstance(by, dict) else None
    if type(pid) is not int or not 0 < pid < 2**31 or pid == os.getpid():
        return False      # none recorded, or not a process id (a damaged file): offered
    boot = _boot_id()
    if boot is not None and by.get("boot") not in (None, boot):
        return False
    return pid_alive(pid)


def find_recovery(directory: str | os.PathLike | None = None) -> list[RecoveryEntry]:
    """Recoverable autosaves, newest first: those of editors that ended without closing their
    document (a crash, a kill); another running editor's own copy is not one. Unreadable
    leftovers are skipped."""
    d = Path(directory) if directory is not None else recovery_dir()
    out: list[RecoveryEntry] = []
    if not d.is_dir():
        return out
    for f in d.glob(f"*/*{PROJECT_SUFFIX}"):
        try:
            data = read_json(f, "recovery file")
        except ValidationError:
            continue
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            continue
        origin = data.get("origin")
        src = data.get("source") or {}
        if _written_by_live_editor(data.get("autosaved_by")):
            continue
        when = data.get("autosaved_at")
        try:
            if not (isinstance(when, (int, float)) and not isinstance(when, bool) and 0 < when < 1e11):
                when = f.stat().st_mtime       # missing or damaged: when the file was written
            out.append(RecoveryEntry(path=f, original=Path(origin) if origin and isinstance(origin, str) else None,
                                     saved_at=float(when),
                                     source=src.get("path") if isinstance(src.get("path"), str) else None,
                                     session_id=str(data.get("session_id") or f.parent.name),
                                     by=data.get("autosaved_by")))
        except (TypeError, ValueError, AttributeError, OSError):
            continue      # a damaged recovery copy is skipped, like an unreadable one
    out.sort(key=lambda e: e.saved_at, reverse=True)
    return out


def recover(entry: RecoveryEntry) -> Project:
    """Load a recovery copy as a modified document pointing at the user's original file."""
    doc = Project.load(entry.path)
    doc.path = entry.original
    doc.disk_stamp = None                 # what the user's file was is not known (the question said)
    doc.session_id = entry.session_id or doc.session_id
    doc.revision = doc.saved_revision + 1  # unsaved until the user saves
    return doc


def discard_recovery(entry: RecoveryEntry) -> None:
    shutil.rmtree(entry.path.parent, ignore_errors=True)


def clear_recovery(doc: Project, directory: str | os.PathLike | None = None) -> None:
    """Remove ``doc``'s recovery copy (from the folder its last autosave used)."""
    if directory is not None:
        d = Path(directory)
    else:
        d = getattr(doc, "_recovery_dir", None) or recovery_dir()
    shutil.rmtree(d / doc.session_id, ignore_errors=True)
