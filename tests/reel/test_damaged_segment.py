"""A finished segment of a --resume render that was spoilt on disk afterwards (cut short,
overwritten with other bytes, emptied) is rendered again; before, every rerun of the same
command failed on it ("segment has N frames" or an internal InvalidDataError), for good."""
from __future__ import annotations

from app.core.renderfarm.farm_segments import segment_files

import os
import sys

import av
import numpy as np
import pytest

from app.cli import EXIT_ERROR, EXIT_OK, main
from tests.reel.conftest import build_reel


def _frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _spoil(path, how: str) -> None:
    data = path.read_bytes()
    if how == "cut":
        path.write_bytes(data[: len(data) // 2])
    elif how == "noise":
        path.write_bytes(np.random.default_rng(1).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    else:
        path.write_bytes(b"")


@pytest.mark.parametrize("how", ["cut", "noise", "empty"])
def test_a_damaged_segment_is_rendered_again(tmp_path, capsys, monkeypatch, how):
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "_cache"))
    reel = build_reel(tmp_path / "reel.mp4", lengths=(20, 24))
    out = tmp_path / "out.mkv"
    args = ["propagate", str(reel.video), "-o", str(out), "--method", "flow", "--format", "ffv1", "-q",
            "--resume", "--keep-segments", "--segment-frames", "1",
            "--key", f"0={reel.key_png(tmp_path, 0)}", "--key", f"20={reel.key_png(tmp_path, 20)}"]
    assert main(args) == EXIT_OK, capsys.readouterr().err
    whole = _frames(out)
    assert len(whole) == 44
    segs = segment_files(tmp_path / ".out.mkv.hueshot-render")
    assert len(segs) == 2
    out.unlink()
    _spoil(segs[1], how)
    capsys.readouterr()

    code = main(args)
    err = capsys.readouterr().err
    assert code == EXIT_OK, err
    assert "internal error" not in err
    assert f"{segs[1]}: the rendered segment of shot 2 (frames 20..43) is damaged; rendering it again" in err
    again = _frames(out)
    assert len(again) == 44 and all(np.array_equal(a, b) for a, b in zip(whole, again))
    assert segs[1].stat().st_size > 1000          # the segment was written anew


def test_a_segment_damaged_between_farm_runs_is_named_and_removed(tmp_path, monkeypatch):
    """The join alone (as the farm runs it): one line naming the segment and the shot, the
    spoilt file removed so that the next run renders it, no partial output."""
    from app.core.export import ExportSettings
    from app.core.render import RenderJob
    from app.core.renderfarm.farm_segments import (DamagedSegment, default_render_dir, join_segments,
                                                   plan_segments, render_segment)
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "_cache"))
    reel = build_reel(tmp_path / "reel.mp4", lengths=(20, 24))
    out = tmp_path / "o.mp4"
    job = RenderJob(input=reel.video, output=out, keys={0: str(reel.key_png(tmp_path, 0))}, method="flow",
                    device="cpu", export=ExportSettings())
    job.shots, job.segment_frames = reel.shots, 1       # a segment per shot
    segs = plan_segments(job, reel.shots, 44)
    folder = default_render_dir(out)
    paths = [render_segment(job, s, folder) for s in segs]
    _spoil(paths[0], "cut")
    with pytest.raises(DamagedSegment) as info:
        join_segments(job, segs, paths)
    assert str(info.value).startswith(f"{paths[0]}: the rendered segment of shot 1 (frames 0..19) is damaged (")
    assert "it was removed, so the same command renders it again" in str(info.value)
    assert not paths[0].exists() and not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".o.partial")]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_NOFILE and the lowest free descriptor")
def test_a_segment_that_cannot_be_opened_here_is_kept(tmp_path):
    """A segment the join cannot open for a reason of the machine, not of the file (here: the
    process is out of file descriptors, EMFILE; also no permission, an I/O error, memory) is
    kept and the error said as it is: it was removed as 'damaged' and rendered again, and its
    message claimed a removal that could not even happen (a folder in its place)."""
    import resource

    from app.core.renderfarm.farm_segments import DamagedSegment, Segment, SegmentError, _read_segment
    seg_file = tmp_path / "seg_0.avi"
    seg_file.write_bytes(b"a finished segment" * 100)
    seg = Segment(index=0, start=0, end=20)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    fd = os.open(os.devnull, os.O_RDONLY)      # the lowest free descriptor: none left from here
    os.close(fd)
    resource.setrlimit(resource.RLIMIT_NOFILE, (fd, hard))
    try:
        with pytest.raises(Exception) as info:
            with _read_segment(seg_file, seg) as frames:
                next(frames)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert isinstance(info.value, SegmentError) and not isinstance(info.value, DamagedSegment), repr(info.value)
    assert seg_file.exists() and f"{seg_file}: the rendered segment of shot 1 (frames 0..19)" in str(info.value)

    folder = tmp_path / "seg_1.avi"            # not a file at all: not 'removed'
    folder.mkdir()
    with pytest.raises(SegmentError) as info:
        with _read_segment(folder, seg):
            pass
    assert not isinstance(info.value, DamagedSegment) and "removed" not in str(info.value)


@pytest.mark.parametrize("how", ["flip", "unsealed"])
def test_a_ut_video_segment_changed_on_disk_is_found_by_its_checksum(tmp_path, capsys, monkeypatch, how):
    """An H.264 output's segments are Ut Video (no CRC of its own): one byte changed in a
    frame decodes without an error, so only the segment's checksum file finds it; a segment
    whose checksum file was never written (its render killed right after the rename) is not
    a finished segment and is rendered again."""
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "_cache"))
    reel = build_reel(tmp_path / "reel.mp4", lengths=(20, 24))
    out = tmp_path / "out.mp4"
    args = ["propagate", str(reel.video), "-o", str(out), "--method", "flow", "-q",
            "--resume", "--keep-segments", "--segment-frames", "1",
            "--key", f"0={reel.key_png(tmp_path, 0)}", "--key", f"20={reel.key_png(tmp_path, 20)}"]
    assert main(args) == EXIT_OK, capsys.readouterr().err
    whole = _frames(out)
    segs = segment_files(tmp_path / ".out.mp4.hueshot-render")
    assert [p.suffix for p in segs] == [".avi", ".avi"]
    seal = segs[1].with_name(segs[1].name + ".b2")
    assert seal.is_file()
    out.unlink()
    if how == "flip":
        data = bytearray(segs[1].read_bytes())
        data[len(data) // 2] ^= 0x40
        segs[1].write_bytes(bytes(data))
        with av.open(str(segs[1])) as c:                 # it still decodes: no error to catch it
            assert sum(1 for _ in c.decode(video=0)) == 24
    else:
        seal.unlink()
    stamps = [p.stat().st_mtime_ns for p in segs]
    capsys.readouterr()

    code = main(args)
    err = capsys.readouterr().err
    assert code == EXIT_OK, err
    if how == "flip":
        assert f"{segs[1]}: the rendered segment of shot 2 (frames 20..43) is damaged; rendering it again" in err
    assert segs[0].stat().st_mtime_ns == stamps[0]          # the sound segment is reused
    assert segs[1].stat().st_mtime_ns != stamps[1]          # the other is rendered again
    again = _frames(out)
    assert len(again) == 44 and all(np.array_equal(a, b) for a, b in zip(whole, again))
    assert seal.is_file()
