"""A source replaced in place (same path, same size, its mtime put back as `touch -r` or
`cp -p` leave it) is a new source for every cache keyed by it: the luma store (proxy luma and
shots), the editor's chroma keys, a --resume render's segments."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.cli import main as cli_main
from app.core.cache import source_identity
from app.core.reels.lumastore import open_store
from tests.conftest import Scene, encode_clip, write_png


def _grey_clip(path: Path, variant: int, frames: int = 12) -> Path:
    """Uncompressed video: two variants have the same size to the byte, other pictures."""
    sc = Scene(width=96, height=64, obj_color=[(200, 40, 40), (40, 200, 60)][variant], speed=1 + variant)
    pics = [sc.gray(i) if variant == 0 else np.ascontiguousarray(255 - sc.gray(i)) for i in range(frames)]
    return encode_clip(path, pics, codec="rawvideo", pix_fmt="yuv420p")


def _replace_keeping_stamp(target: Path, new: Path) -> None:
    """``new``'s bytes written over ``target``, the old mtime put back (touch -r)."""
    st = target.stat()
    shutil.copyfile(new, target)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert target.stat().st_size == st.st_size and target.stat().st_mtime_ns == st.st_mtime_ns


@pytest.fixture
def two(tmp_path):
    a = _grey_clip(tmp_path / "shot.mkv", 0)
    (tmp_path / "other").mkdir()
    b = _grey_clip(tmp_path / "other" / "b.mkv", 1)
    assert a.stat().st_size == b.stat().st_size and a.read_bytes() != b.read_bytes()
    return a, b


def test_the_luma_store_of_a_file_replaced_in_place_is_rebuilt(two, tmp_path):
    a, b = two
    root = tmp_path / "cache"
    first = open_store(a, root)
    before = first.raw(3).copy()
    first.close()
    _replace_keeping_stamp(a, b)
    fresh = open_store(b, tmp_path / "cache_b")
    again = open_store(a, root)
    assert not np.array_equal(before, fresh.raw(3))
    np.testing.assert_array_equal(again.raw(3), fresh.raw(3))      # not the old file's luma
    again.close()
    fresh.close()


def test_the_chroma_keys_change_when_the_file_is_replaced_in_place(two):
    a, b = two
    before = source_identity(a)
    assert source_identity(a) == before                             # stable while unchanged
    _replace_keeping_stamp(a, b)
    assert source_identity(a) != before


def test_a_frame_copied_over_with_cp_p_changes_the_folders_identity(tmp_path):
    seq = tmp_path / "seq"
    seq.mkdir()
    sc = Scene(width=32, height=24)
    for i in range(6):
        p = seq / f"f_{i:04d}.bmp"
        write_png(p, sc.gray(i))
        os.utime(p, ns=(10**18 + i * 10**9, 10**18 + i * 10**9))
    before = source_identity(seq)
    # frame 2 mended from a copy made earlier (cp -p keeps that copy's older mtime)
    spare = tmp_path / "spare.bmp"
    write_png(spare, 255 - sc.gray(2))
    os.utime(spare, ns=(10**18 - 10**9, 10**18 - 10**9))
    shutil.copy2(spare, seq / "f_0002.bmp")
    assert (seq / "f_0002.bmp").stat().st_size == (seq / "f_0003.bmp").stat().st_size
    assert source_identity(seq) != before


def _propagate(src: Path, out: Path, key: Path) -> str:
    import contextlib
    import io
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = cli_main(["propagate", str(src), "-o", str(out), "--key", f"0={key}", "--method", "flow",
                       "--resume", "--keep-segments"])
    assert rc == 0, err.getvalue()
    return err.getvalue()


def _pngs(folder: Path) -> list[np.ndarray]:
    import cv2
    return [cv2.imread(str(p)) for p in sorted(folder.glob("*.png"))]


def test_resume_and_the_luma_cache_do_not_serve_the_replaced_files_frames(two, tmp_path, monkeypatch):
    a, b = two
    key = write_png(tmp_path / "key.png", Scene(width=96, height=64).rgb(0))
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "c1"))
    _propagate(a, tmp_path / "out", key)
    _replace_keeping_stamp(a, b)
    log = _propagate(a, tmp_path / "out", key)                     # same output: same render folder
    assert "already rendered" not in log
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "c2"))
    _propagate(b, tmp_path / "ref", key)
    got, ref = _pngs(tmp_path / "out"), _pngs(tmp_path / "ref")
    assert len(got) == len(ref) == 12
    for g, r in zip(got, ref):
        np.testing.assert_array_equal(g, r)


def test_a_retargeted_symlink_is_a_new_source(two, tmp_path):
    a, b = two
    os.utime(b, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns))     # same size, same mtime
    link = tmp_path / "current.mkv"
    link.symlink_to(a)
    before = source_identity(link)
    link.unlink()
    link.symlink_to(b)                                               # the link now names the new master
    assert source_identity(link) != before
