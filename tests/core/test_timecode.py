"""Timecode pass-through: the source's start timecode (a QuickTime tmcd track, a Matroska or
MXF "timecode" tag) is read once where the source is opened and written to every video output,
shifted to the output's first frame, so an editor can conform the colourised shot back into
the edit. Before, every output of `hueshot propagate` / `render` / `--resume` came out with
none.

The frame arithmetic (app.core.timecode) is checked against known SMPTE values; the rest runs
real clips made here with PyAV through the real CLI (``--method flow``) and reads the outputs
back with PyAV.
"""
from __future__ import annotations

import contextlib
import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import Scene, mux_frames, write_png

NTSC = 30000 / 1001
NTSC60 = 60000 / 1001


# ----------------------------------------------------------------------------- arithmetic
@pytest.mark.parametrize("tc,frames,fps,expected", [
    # drop-frame at 29.97: labels ;00 and ;01 are skipped at each minute but every tenth
    ("00:00:59;29", 1, NTSC, "00:01:00;02"),
    ("00:09:59;29", 1, NTSC, "00:10:00;00"),
    ("00:01:00;02", -1, NTSC, "00:00:59;29"),
    ("00:00:00;00", 1800, NTSC, "00:01:00;02"),
    ("00:00:00;00", 17982, NTSC, "00:10:00;00"),           # frames in ten drop-frame minutes
    ("00:00:00;00", 107892, NTSC, "01:00:00;00"),          # frames in a drop-frame hour
    ("01:00:00;00", 1, NTSC, "01:00:00;01"),
    ("00:19:59;29", 1, NTSC, "00:20:00;00"),
    ("00:18:59;29", 1, NTSC, "00:19:00;02"),
    ("23:59:59;29", 1, NTSC, "00:00:00;00"),               # wraps at 24 hours
    # 59.94: four labels skipped
    ("00:00:59;59", 1, NTSC60, "00:01:00;04"),
    ("00:00:00;00", 215784, NTSC60, "01:00:00;00"),
    # 23.976 is never drop-frame: it counts 24
    ("00:00:00:23", 1, 24000 / 1001, "00:00:01:00"),
    ("00:00:00:00", 86400, 24000 / 1001, "01:00:00:00"),
    ("00:59:59:23", 1, 24000 / 1001, "01:00:00:00"),
    # 25 fps (PAL) and non-drop at 29.97
    ("10:00:00:00", 50, 25, "10:00:02:00"),
    ("10:00:00:24", 1, 25, "10:00:01:00"),
    ("23:59:59:24", 1, 25, "00:00:00:00"),
    ("23:59:59:24", 26, 25, "00:00:01:00"),
    ("00:00:59:29", 1, NTSC, "00:01:00:00"),
    ("01:00:00:00", 50, 50, "01:00:01:00"),
])
def test_shifting_a_timecode_by_frames(tc, frames, fps, expected):
    from app.core.timecode import shift_timecode
    assert shift_timecode(tc, frames, fps) == expected


def test_drop_frame_labels_follow_each_other_for_an_hour():
    """Every frame of an hour at 29.97 drop-frame, label by label: each label parses back to
    its frame, the skipped ones never appear, and the hour ends at 01:00:00;00."""
    from app.core.timecode import format_timecode, parse_timecode
    seen_minutes = 0
    for f in range(107892 + 1):
        s = format_timecode(f, 30, True)
        assert parse_timecode(s, NTSC).frame == f, s
        mm, ss, ff = int(s[3:5]), int(s[6:8]), int(s[9:])
        if ss == 0 and ff == 0:
            seen_minutes += 1
            assert mm % 10 == 0, s
    assert format_timecode(107892, 30, True) == "01:00:00;00"
    assert seen_minutes == 7                 # 00, 10, ..., 50 and 01:00:00;00


@pytest.mark.parametrize("tc,fps,why", [
    ("10:00:00:25", 25, "not below the frame rate"),
    ("10:00:00:30", NTSC, "not below the frame rate"),
    ("00:01:00;00", NTSC, "does not exist in drop-frame"),
    ("00:01:00;03", NTSC60, "does not exist in drop-frame"),
    ("10:00:00;00", 25, "only at 29.97 or 59.94"),
    ("24:00:00:00", 25, "hours 0..23"),
    ("10:61:00:00", 25, "minutes and seconds"),
    ("1000", 25, "is not a timecode"),
    ("", 25, "is not a timecode"),
])
def test_an_unusable_timecode_is_refused_with_a_reason(tc, fps, why):
    from app.core.timecode import TimecodeError, parse_timecode
    with pytest.raises(TimecodeError, match=why):
        parse_timecode(tc, fps)


def test_drop_frame_spellings_are_normalised():
    from app.core.timecode import parse_timecode
    assert str(parse_timecode("01;02;03;04", NTSC)) == "01:02:03;04"
    assert str(parse_timecode("01:02:03.04", NTSC)) == "01:02:03;04"
    assert str(parse_timecode("1:02:03:04", 25)) == "01:02:03:04"


# ----------------------------------------------------------------------------- real clips
def _clip(path: Path, n: int, *, fps=25, tc: str | None = "10:00:00:00", where: str = "stream",
          sc: Scene | None = None) -> Path:
    """n grey frames, H.264, with a start timecode: on the video stream (mov/mp4: the muxer
    makes a tmcd track of it; mkv: the track's TIMECODE tag) or on the file (mkv's global tag)."""
    sc = sc or Scene(width=96, height=64)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = sc.width, sc.height, "yuv420p"
        s.options = {"preset": "ultrafast", "crf": "18"}
        if tc is not None:
            (s if where == "stream" else out).metadata["timecode"] = tc
        mux_frames(out, s, (sc.gray(i) for i in range(n)))
    return path


def _timecode_of(path: Path) -> str | None:
    """What a reader finds in a video file: the tmcd track (mov/mp4, FFmpeg shows it on the
    data stream and on the video stream it belongs to) or the Matroska tag."""
    with av.open(str(path)) as c:
        found = {}
        for where, md in [("video", c.streams.video[0].metadata), ("format", c.metadata),
                          *[("data", s.metadata) for s in c.streams if s.type == "data"]]:
            for k, v in md.items():
                if k.lower() == "timecode":
                    found.setdefault(where, v)
    if path.suffix in (".mov", ".mp4"):
        assert found.get("data") == found.get("video"), found   # a real tmcd track, not only a tag
    return found.get("video") or found.get("format")


def _propagate(*args) -> tuple[int, str]:
    from app.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["propagate", *map(str, args), "--method", "flow", "--no-shots"])
    return rc, err.getvalue()


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "_cache"))


@pytest.fixture
def key(tmp_path):
    return write_png(tmp_path / "key.png", Scene(width=96, height=64).rgb(0))


@pytest.mark.parametrize("name", ["src.mov", "src.mp4", "src.mkv", "glob.mkv"])
def test_the_sources_timecode_is_read(tmp_path, name):
    from app.core.media import open_media
    video = _clip(tmp_path / name, 3, where="format" if name.startswith("glob") else "stream")
    with open_media(video) as src:
        assert src.info.timecode == "10:00:00:00"
        assert "timecode 10:00:00:00" in src.info.describe()
    with open_media(_clip(tmp_path / f"none{Path(name).suffix}", 3, tc=None)) as src:
        assert src.info.timecode is None


def test_an_mxf_sources_timecode_is_read(tmp_path):
    """MXF (broadcast and archive masters) keeps its timecode in the file's metadata."""
    from app.core.media import open_media
    path = tmp_path / "master.mxf"
    with av.open(str(path), "w", format="mxf") as out:
        out.metadata["timecode"] = "01:00:00:00"
        s = out.add_stream("mpeg2video", rate=25)
        s.width, s.height, s.pix_fmt = 720, 576, "yuv422p"       # the muxer takes SD sizes
        mux_frames(out, s, [np.zeros((576, 720, 3), np.uint8)] * 3)
    with open_media(path) as src:
        assert src.info.timecode == "01:00:00:00"


@pytest.mark.parametrize("out", ["out.mov", "out.mp4", "out.mkv"])
def test_a_whole_render_keeps_the_sources_timecode(tmp_path, key, out):
    video = _clip(tmp_path / "src.mov", 4)
    rc, err = _propagate(video, "-o", tmp_path / out, "--key", f"0={key}")
    assert rc == 0, err
    assert _timecode_of(tmp_path / out) == "10:00:00:00"


@pytest.mark.parametrize("out,fmt", [("out.mov", "h264"), ("out.mp4", "h264"), ("out.mkv", "h264"),
                                     ("pr.mov", "prores"), ("lossless.mkv", "ffv1")])
def test_a_range_starts_at_its_first_frames_timecode(tmp_path, key, out, fmt):
    """--start 50 at 25 fps: the output's first frame is the source's 10:00:02:00."""
    video = _clip(tmp_path / "src.mkv", 53)
    k = write_png(tmp_path / "k50.png", Scene(width=96, height=64).rgb(50))
    rc, err = _propagate(video, "-o", tmp_path / out, "--key", f"50={k}", "--start", "50", "--end", "52",
                         "--format", fmt)
    assert rc == 0, err
    assert _timecode_of(tmp_path / out) == "10:00:02:00"
    with av.open(str(tmp_path / out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 3


def test_a_drop_frame_source_keeps_drop_frame_timecode(tmp_path):
    """29.97 drop-frame from 00:00:59;28: frame 2 is 00:01:00;02 (;00 and ;01 do not exist)."""
    video = _clip(tmp_path / "ntsc.mov", 4, fps=Fraction(30000, 1001), tc="00:00:59;28")
    from app.core.media import open_media
    with open_media(video) as src:
        assert src.info.timecode == "00:00:59;28"
    k = write_png(tmp_path / "k2.png", Scene(width=96, height=64).rgb(2))
    for out in ("whole.mov", "range.mov", "range.mkv"):
        extra = [] if out.startswith("whole") else ["--start", "2"]
        rc, err = _propagate(video, "-o", tmp_path / out, "--key", f"{2 if extra else 0}={k}", *extra)
        assert rc == 0, err
        assert _timecode_of(tmp_path / out) == ("00:00:59;28" if not extra else "00:01:00;02"), out


def _with_timecode(src: Path, dst: Path, tc: str) -> Path:
    """``src``'s video stream copied (no re-encode) into ``dst`` with a start timecode."""
    with av.open(str(src)) as i, av.open(str(dst), "w") as o:
        ist = i.streams.video[0]
        ost = o.add_stream_from_template(ist)
        ost.metadata["timecode"] = tc
        for p in i.demux(ist):
            if p.dts is None:
                continue
            p.stream = ost
            o.mux(p)
    return dst


def test_a_resumed_render_keeps_the_ranges_timecode(tmp_path):
    """--resume renders one segment per shot and joins them: the join covers the whole range,
    so the output starts at the range's first frame's timecode (a reel of three 20-frame
    shots at 24 fps from 10:00:00:00; frames 30..59, two segments: 10:00:01:06)."""
    from tests.reel.conftest import build_reel
    reel = build_reel(tmp_path / "reel.mp4", lengths=(20, 20, 20))
    video = _with_timecode(reel.video, tmp_path / "reel.mov", "10:00:00:00")
    keys = ["--key", f"30={reel.key_png(tmp_path, 30)}", "--key", f"40={reel.key_png(tmp_path, 40)}"]
    from app.cli import main
    for out, extra in (("whole.mp4", ["--key", f"0={reel.key_png(tmp_path, 0)}", *keys]),
                       ("range.mov", [*keys, "--start", "30"])):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(["propagate", str(video), "-o", str(tmp_path / out), "--method", "flow", "--resume", *extra])
        assert rc == 0, err.getvalue()
        assert "join" in err.getvalue()                         # the segments were joined
        assert _timecode_of(tmp_path / out) == ("10:00:00:00" if out.startswith("whole") else "10:00:01:06")
        with av.open(str(tmp_path / out)) as c:
            assert sum(1 for _ in c.decode(video=0)) == (60 if out.startswith("whole") else 30)
        assert not (tmp_path / f".{out}.hueshot-render").exists()


def test_an_unusable_timecode_is_left_out_with_a_warning(tmp_path, key):
    """Frame 30 at 25 fps is no timecode: the source opens and renders, the command says once
    why the output has none, and the output has none."""
    import os
    import subprocess
    import sys
    video = _clip(tmp_path / "bad.mkv", 3, tc="10:00:00:30")
    repo = Path(__file__).resolve().parents[2]
    # a process of its own: the CLI's warning line goes to the stderr it started with
    r = subprocess.run([sys.executable, "-m", "app", "propagate", str(video), "-o", str(tmp_path / "out.mov"),
                        "--key", f"0={key}", "--method", "flow", "-q"], cwd=repo, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(repo)})
    assert r.returncode == 0, r.stderr
    line = "hueshot: warning: " + str(video) + ": its timecode is left out"
    assert r.stderr.count(line) == 1 and "not below the frame rate" in r.stderr, r.stderr
    assert _timecode_of(tmp_path / "out.mov") is None
    from app.core.media import open_media
    with open_media(video) as src:
        assert src.info.timecode is None


def test_rendering_a_project_keeps_the_timecode_of_its_marks(tmp_path):
    """hueshot render PROJECT: the project's in/out marks (frames 50..52 at 25 fps) are the
    range, so the output starts at 10:00:02:00."""
    from app.cli import main
    from app.core.project import Project
    video = _clip(tmp_path / "src.mov", 53)
    doc = Project(video)
    doc.set_keyframe(50, Scene(width=96, height=64).rgb(50))
    doc.set_range(50, 52)
    proj = doc.save(tmp_path / "shot.hueshot")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["render", str(proj), "-o", str(tmp_path / "out.mov"), "--method", "flow", "-q"])
    assert rc == 0, err.getvalue()
    assert _timecode_of(tmp_path / "out.mov") == "10:00:02:00"
    with av.open(str(tmp_path / "out.mov")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 3
