"""File-system helpers shared by the savers (project, export): durable renames, modes."""
from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path) -> None:
    """fsync a file or a folder (a folder's entry list makes a rename durable); best effort,
    since some file systems refuse fsync on folders."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def keep_mode(new: Path, old: Path) -> None:
    """Give ``new`` the permission bits of ``old`` when ``new`` is about to replace it (a
    replaced project or export keeps the mode the user gave it); nothing if ``old`` is absent."""
    try:
        mode = os.stat(old).st_mode & 0o7777
    except OSError:
        return
    try:
        os.chmod(new, mode)
    except OSError:
        pass


def create_exclusive(path: Path):
    """A new file opened for binary writing with mode 0666 minus the umask (as ``open``
    would), failing if it exists; unlike ``tempfile.mkstemp``, which makes it 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    return os.fdopen(fd, "wb")


def short_name(name: str, limit: int = 200) -> str:
    """``name`` cut to at most ``limit`` bytes (UTF-8), for the part of a temporary name that
    comes from the user's file name: a file name may have 255 bytes, and a temp name adds a
    prefix, a process tag and a suffix to it."""
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= limit:
        return name
    return raw[:limit].decode("utf-8", "ignore")
