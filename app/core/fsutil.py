"""File-system helpers shared by the savers (project, export): durable renames, modes."""
from __future__ import annotations

import os
import threading
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


# ------------------------------------------------------------------ what a cache is keyed by
SAMPLE_BLOCKS = 9               # blocks read from a file for its content stamp (first, last, between)
SAMPLE_BYTES = 64 * 1024
_stamps: dict = {}
_stamps_lock = threading.Lock()


def content_stamp(path: str | os.PathLike) -> tuple:
    """A file as it is now, for the keys of the caches built from it (luma store, chroma,
    render segments): its size, its mtime and a hash of SAMPLE_BLOCKS blocks of its bytes
    spread over the file (all of it when small). Size and mtime alone name a different file
    when one is replaced in place with its old mtime put back (``touch -r``, ``cp -p``, a
    re-rendered master of the same length in an uncompressed or fixed-rate format); its
    content does not match. The hash is remembered while the file's full stat (device, inode,
    size, mtime and ctime: ctime changes on any write or replacement, whatever the mtime says)
    is the same, so a key asked for again costs a stat. Raises OSError."""
    import hashlib
    p = os.fspath(path)
    st = os.stat(p)
    memo = (p, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    with _stamps_lock:
        digest = _stamps.get(memo)
    if digest is None:
        h = hashlib.sha1()
        size = st.st_size
        with open(p, "rb") as f:
            if size <= SAMPLE_BLOCKS * SAMPLE_BYTES:
                h.update(f.read())
            else:
                last = size - SAMPLE_BYTES
                for k in range(SAMPLE_BLOCKS):
                    f.seek(last * k // (SAMPLE_BLOCKS - 1))
                    h.update(f.read(SAMPLE_BYTES))
        digest = h.hexdigest()[:16]
        with _stamps_lock:
            if len(_stamps) > 4096:
                _stamps.clear()
            _stamps[memo] = digest
    return st.st_size, st.st_mtime_ns, digest


def entry_stamp(path: str | os.PathLike) -> tuple:
    """One file of a frame folder, without reading it (a folder may hold 100 000 frames): size,
    mtime and ctime (a frame copied over with ``cp -p`` keeps an old mtime but gets a new
    ctime). Raises OSError."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns
