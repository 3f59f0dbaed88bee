"""`hueshot` end to end: a real subprocess run, then every bad input with its message and exit code."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from app.cli import EXIT_ERROR, EXIT_OK, EXIT_TRUNCATED, EXIT_USAGE, main
from tests.conftest import encode_clip, write_png

ROOT = Path(__file__).resolve().parents[1]


def frames_in(path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def test_propagate_subprocess_default_method(grey_clip, tmp_path):
    out = tmp_path / "out.mp4"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-m", "app", "propagate", str(grey_clip.video), "-o", str(out),
                        "--key", f"0={grey_clip.key_png}"], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert frames_in(out) == 24
    # stderr is not a terminal: plain progress lines, then a summary
    assert "rendering 24/24 frames" in r.stderr and "wrote" in r.stderr and "fps" in r.stderr


def run(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


def test_hints_file_range_and_folder_output(grey_clip, tmp_path, capsys):
    hints = tmp_path / "h.json"
    hints.write_text(json.dumps([{"frame": 3, "points": [[0.2, 0.5]], "radius": 0.1, "color": [0, 200, 0]}]))
    code, err = run(["propagate", str(grey_clip.video), "-o", str(tmp_path / "seq"), "--hints", str(hints),
                     "--start", "2", "--end", "9", "--method", "dis_chain", "-q"], capsys)
    assert code == EXIT_OK, err
    assert sorted(os.listdir(tmp_path / "seq")) == [f"{i:05d}.png" for i in range(8)]


def test_hint_method_chooses_how_strokes_colour_the_first_key(grey_clip, tmp_path, capsys):
    """--hint-method reaches the keyframe: gate spreads one stroke differently from the default
    geo on the same clip; an unknown name is a usage error naming the choices."""
    import cv2
    hints = tmp_path / "h.json"
    hints.write_text(json.dumps([{"frame": 0, "points": [[0.3, 0.5], [0.4, 0.5]], "radius": 0.05,
                                  "color": [30, 160, 40]}]))
    chroma = {}
    # per shot (the default) and as one shot (--no-shots): two ways the keys are built
    for shots in ([], ["--no-shots"]):
        for name in ("geo", "gate", "gate+prior"):
            out = tmp_path / f"{name}{len(shots)}"
            code, err = run(["propagate", str(grey_clip.video), "-o", str(out), "--hints", str(hints), "--end", "3",
                             "--method", "dis_chain", "--hint-method", name, "-q", *shots], capsys)
            assert code == EXIT_OK, err
            rgb = cv2.imread(str(out / "00000.png"))
            chroma[name, len(shots)] = cv2.cvtColor(rgb, cv2.COLOR_BGR2LAB)[..., 1:].astype(np.float32) - 128
            assert np.abs(chroma[name, len(shots)]).max() > 10, name      # the stroke coloured something
        assert np.abs(chroma["geo", len(shots)] - chroma["gate", len(shots)]).mean() > 0.5
        assert np.abs(chroma["gate", len(shots)] - chroma["gate+prior", len(shots)]).mean() > 0.1
    code, err = run(["propagate", str(grey_clip.video), "-o", str(tmp_path / "x"), "--hints", str(hints),
                     "--hint-method", "nearest"], capsys)
    assert code == EXIT_USAGE and "--hint-method must be one of" in err and "gate+prior" in err


def test_render_project(grey_clip, tmp_path, capsys):
    from app.core.project import Project
    doc = Project(grey_clip.video)
    doc.set_keyframe(0, grey_clip.scene.rgb(0))
    doc.set_method("copy_key")
    p = doc.save(tmp_path / "p.hueshot")
    code, err = run(["render", str(p), "-o", str(tmp_path / "o.mkv"), "-q"], capsys)
    assert code == EXIT_OK, err and frames_in(tmp_path / "o.mkv") == 24
    p.write_text("{broken")
    code, err = run(["render", str(p), "-o", str(tmp_path / "o.mkv")], capsys)
    assert code == EXIT_ERROR and "p.hueshot: project file is broken" in err


@pytest.fixture
def bad_inputs(tmp_path, scene):
    d = tmp_path
    encode_clip(d / "good.mkv", [scene.gray(i) for i in range(24)])
    data = (d / "good.mkv").read_bytes()
    (d / "cut.mkv").write_bytes(data[: int(len(data) * 0.6)])
    mp4 = encode_clip(d / "good.mp4", [scene.gray(i) for i in range(24)]).read_bytes()
    (d / "cut.mp4").write_bytes(mp4[: int(len(mp4) * 0.6)])      # the index (moov) is lost
    (d / "noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    (d / "notes.txt").write_text("hello")
    with av.open(str(d / "zero.mkv"), "w") as c:    # a video track with no frames (audio only)
        v = c.add_stream("libx264", rate=24)
        v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
        a = c.add_stream("aac", rate=48000, layout="mono")
        for k in range(0, 4096, 1024):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            f.sample_rate, f.pts, f.time_base = 48000, k, Fraction(1, 48000)
            for p in a.encode(f):
                c.mux(p)
        for p in a.encode():
            c.mux(p)
    write_png(d / "key.png", scene.rgb(0))
    write_png(d / "small.png", np.zeros((40, 40, 3), np.uint8))
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return d


CASES = [
    # (input, key spec, extra args, exit code, message pieces)
    ("missing.mp4", "0=key.png", [], EXIT_ERROR, ["missing.mp4: no such file"]),
    ("notes.txt", "0=key.png", [], EXIT_ERROR, ["notes.txt: not a video file"]),
    ("noise.mp4", "0=key.png", [], EXIT_ERROR, ["noise.mp4: not a video file"]),
    ("cut.mp4", "0=key.png", [], EXIT_ERROR, ["cut.mp4:", "truncated"]),
    ("zero.mkv", "0=key.png", [], EXIT_ERROR, ["zero.mkv: contains zero decodable video frames"]),
    ("good.mkv", "0=small.png", [], EXIT_ERROR, ["small.png: keyframe image is 40x40 but good.mkv is 160x96"]),
    ("good.mkv", "0=broken.png", [], EXIT_ERROR, ["broken.png: keyframe image for frame 0: unreadable image"]),
    ("good.mkv", "0=nokey.png", [], EXIT_ERROR, ["nokey.png: keyframe image for frame 0: no such image file"]),
    ("good.mkv", "40=key.png", [], EXIT_ERROR, ["keyframe 40", "frame index out of range (the shot has 24 frames, 0..23)"]),
    ("good.mkv", "0=key.png", ["--end", "30"], EXIT_ERROR, ["end frame 30 is out of range"]),
    ("good.mkv", "0=key.png", ["--start", "5", "--end", "3"], EXIT_USAGE, ["--end 3 is before --start 5"]),
    ("good.mkv", "x=key.png", [], EXIT_USAGE, ["frame number 'x' is not an integer"]),
    ("good.mkv", "0=key.png", ["-o", "nodir/o.mp4"], EXIT_ERROR, ["nodir/o.mp4: output folder", "does not exist"]),
    ("good.mkv", "0=key.png", ["-o", "o.avi"], EXIT_ERROR, ["o.avi: unsupported output extension"]),
    ("good.mkv", "0=key.png", ["--device", "tpu"], EXIT_ERROR, ["unknown device 'tpu'"]),
    # a usage error before any file is read, as --hint-method (was exit 1 after importing torch)
    ("good.mkv", "0=key.png", ["--method", "nope"], EXIT_USAGE, ["--method must be one of", "flow, quality", "'nope'"]),
    ("good.mkv", "0=key.png", ["--method", ""], EXIT_USAGE, ["--method must be one of", "got ''"]),
    ("good.mkv", "0=key.png", ["--hints", "nohints.json"], EXIT_ERROR, ["nohints.json: no such hints file"]),
    # options that mean something only beside another one (were silently ignored)
    ("good.mkv", "0=key.png", ["--keep-segments"], EXIT_USAGE, ["--keep-segments needs --resume or --farm"]),
    ("good.mkv", "0=key.png", ["--farm-ship"], EXIT_USAGE, ["--farm-ship needs --farm"]),
    ("good.mkv", "0=key.png", ["--farm", ""], EXIT_USAGE, ["--farm is empty"]),
    ("good.mkv", "0=key.png", ["--farm", "bogus"], EXIT_USAGE, ["--farm 'bogus': expected local, local:N"]),
    ("good.mkv", "0=key.png", ["--farm", "local:0"], EXIT_USAGE, ["--farm local:0: at least one worker"]),
    ("good.mkv", "0=key.png", ["--farm", "local:x"], EXIT_USAGE, ["workers 'x' is not an integer"]),
    ("good.mkv", "0=key.png", ["--farm", "local:99999"], EXIT_USAGE, ["--farm local:99999: at most", "local workers"]),
]


@pytest.mark.parametrize("inp,key,extra,code,pieces", CASES, ids=[f"{c[0]}|{c[1]}|{' '.join(c[2])}" for c in CASES])
def test_bad_inputs(bad_inputs, capsys, monkeypatch, inp, key, extra, code, pieces):
    monkeypatch.chdir(bad_inputs)
    out = [] if "-o" in extra else ["-o", "out.mp4"]
    got, err = run(["propagate", inp, *out, "--key", key, "--method", "copy_key", *extra], capsys)
    assert got == code, err
    for piece in pieces:
        assert piece in err, err
    assert not (bad_inputs / "out.mp4").exists()
    assert not [p for p in os.listdir(bad_inputs) if ".partial" in p]


def test_truncated_stream_says_where_it_broke(bad_inputs, capsys, monkeypatch):
    monkeypatch.chdir(bad_inputs)
    code, err = run(["propagate", "cut.mkv", "-o", "out.mkv", "--key", "0=key.png", "--method", "copy_key",
                     "-q"], capsys)
    assert code == EXIT_TRUNCATED
    assert "cut.mkv: stream is corrupt or truncated at frame" in err and "readable frames to out.mkv" in err
    n = int(err.split("at frame ")[1].split()[0])
    assert 0 < n < 24 and frames_in(bad_inputs / "out.mkv") == n


def test_disk_full(grey_clip, small_fs, capsys):
    code, err = run(["propagate", str(grey_clip.video), "-o", str(small_fs / "big"), "--key",
                     f"0={grey_clip.key_png}", "--method", "copy_key", "--format", "tiff", "-q"], capsys)
    assert code == EXIT_ERROR and "disk full" in err and "partial output was removed" in err
    assert os.listdir(small_fs) == []


def test_usage_and_gui_dispatch(capsys, tmp_path):
    assert main(["--help"]) == EXIT_OK
    assert "hueshot propagate" in capsys.readouterr().out
    code, err = run(["propagate", "-h"], capsys)
    assert code == EXIT_OK
    code, err = run([str(tmp_path / "nothing.mp4")], capsys)      # `hueshot FILE` with a bad FILE
    assert code == EXIT_ERROR and "nothing.mp4: no such file" in err
    code, err = run(["a", "b"], capsys)
    assert code == EXIT_USAGE and "unknown command 'a'" in err
    code, err = run(["bench", "-h"], capsys)
    assert code == EXIT_OK


class _Terminal(__import__("io").StringIO):
    def isatty(self):
        return True


def test_progress_printer_bar_and_lines():
    from app.cli import ProgressPrinter
    from app.core.render import RenderProgress
    tty = _Terminal()
    p = ProgressPrinter(stream=tty)
    p(RenderProgress("render", 5, 10, 9.5, 0.53))
    p(RenderProgress("render", 10, 10, 9.7, 0.0))
    assert "\rrendering [###############...............] 5/10   9.5 fps  ETA 0:01" in tty.getvalue()
    assert tty.getvalue().endswith("\n")
    plain = __import__("io").StringIO()
    p = ProgressPrinter(stream=plain)
    for i in range(1, 11):
        p(RenderProgress("render", i, 10, 9.0, (10 - i) / 9))
    lines = plain.getvalue().splitlines()
    assert lines[0].startswith("rendering 1/10 frames") and lines[-1].startswith("rendering 10/10 frames, 9.0 fps")
    assert len(lines) == 2 and "\r" not in plain.getvalue()   # periodic, not per frame


def test_shots_refuses_a_bad_proxy_height_and_luma_budget_in_one_line(grey_clip, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "cache"))
    for h in ("0", "-5"):
        code, err = run(["shots", str(grey_clip.video), "--proxy-height", h], capsys)
        assert code == 2 and f"--proxy-height is {h}; allowed: 64.." in err, err
    for v in ("abc", "inf", "1e400"):
        monkeypatch.setenv("HUESHOT_LUMA_BUDGET_GB", v)
        code, err = run(["shots", str(grey_clip.video), "-q"], capsys)
        assert code == 1 and "internal error" not in err and "HUESHOT_LUMA_BUDGET_GB must be" in err, err
    assert not (tmp_path / "cache").exists()     # refused before any file was read or written


def test_an_unwritable_luma_cache_is_named_as_the_cache(grey_clip, tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(blocker))
    code, err = run(["shots", str(grey_clip.video), "-q"], capsys)
    assert code == 1 and "cannot write the luma cache there" in err and "HUESHOT_CACHE_DIR" in err, err


def test_resume_and_farm_refuse_an_output_that_is_the_input(grey_clip, tmp_path, capsys):
    """--resume and --farm check the output as a plain render does, before the render folder is
    made: the output onto the source video was written over it (--resume, exit 0), and a
    missing output folder was created."""
    before = grey_clip.video.read_bytes()
    for extra in (["--resume"], ["--farm", "local:1"]):
        code, err = run(["propagate", str(grey_clip.video), "-o", str(grey_clip.video), "--key",
                         f"0={grey_clip.key_png}", "--method", "flow", "-q", *extra], capsys)
        assert code == EXIT_ERROR and "the output is the input itself" in err, err
        assert grey_clip.video.read_bytes() == before
        code, err = run(["propagate", str(grey_clip.video), "-o", str(tmp_path / "nodir" / "o.mp4"), "--key",
                         f"0={grey_clip.key_png}", "--method", "flow", "-q", *extra], capsys)
        assert code == EXIT_ERROR and "does not exist" in err, err
        assert not (tmp_path / "nodir").exists()
    assert not [p for p in os.listdir(grey_clip.video.parent) if "hueshot-render" in p]


def test_a_video_format_needs_a_file_name(grey_clip, tmp_path, capsys):
    """--format h264/prores/ffv1 onto a folder or a name without extension: one line naming the
    output before anything is read (was an internal error from the muxer)."""
    (tmp_path / "folder").mkdir()
    for out, fmt, piece in (("folder", "h264", "is a folder; H.264 is written to a file ending in .mp4"),
                            ("noext", "prores", "has no file extension; ProRes is written to a file ending in .mov")):
        code, err = run(["propagate", str(grey_clip.video), "-o", str(tmp_path / out), "--format", fmt, "--key",
                         f"0={grey_clip.key_png}", "--method", "flow", "-q"], capsys)
        assert code == EXIT_ERROR and piece in err and "internal error" not in err, err
    assert os.listdir(tmp_path / "folder") == [] and not (tmp_path / "noext").exists()


def test_farm_shots_of_a_reel_without_a_shot_list(tmp_path, monkeypatch):
    """--farm on a source (or project) with no shot list detects the cuts as a plain render
    does; the shots were the letters of "detect" (an internal error for every such farm run)."""
    from app.core.render import RenderJob
    from app.core.renderfarm.farm_cli import shots_for
    from tests.reel.conftest import build_reel
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "cache"))
    reel = build_reel(tmp_path / "reel.mp4")
    job = RenderJob(input=reel.video, output=tmp_path / "o.mp4", keys={0: reel.key_png(tmp_path, 0)})
    assert shots_for(job) == reel.shots
    assert shots_for(RenderJob(input=reel.video, output=tmp_path / "o.mp4"), no_shots=True) is None


def _vfr_clip(path, scene, n=24):
    """H.264 in Matroska whose frames last 40 or 100 ms (a variable frame rate)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = scene.width, scene.height, "yuv420p"
        s.time_base = Fraction(1, 1000)
        t = 0
        for i in range(n):
            f = av.VideoFrame.from_ndarray(scene.gray(i), format="rgb24").reformat(format="yuv420p")
            f.pts, f.time_base = t, Fraction(1, 1000)
            t += 40 if i % 3 else 100
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def frame_times(path) -> list[float]:
    with av.open(str(path)) as c:
        return [round(float(f.pts * f.time_base), 3) for f in c.decode(video=0)]


def test_resume_keeps_the_frame_times_of_a_variable_frame_rate_source(scene, tmp_path, capsys):
    """The join of --resume (and the farm) writes each frame at its source time, as a plain
    render does; it wrote them at a constant rate (1.25 s of video instead of 1.79 s, so the
    audio drifted)."""
    src = _vfr_clip(tmp_path / "vfr.mkv", scene, 30)
    key = write_png(tmp_path / "k.png", scene.rgb(5))
    times = {}
    for name, extra in (("plain", []), ("resume", ["--resume"])):
        out = tmp_path / f"{name}.mkv"
        code, err = run(["propagate", str(src), "-o", str(out), "--key", f"5={key}", "--start", "5",
                         "--method", "flow", "-q", *extra], capsys)
        assert code == EXIT_OK, err
        times[name] = frame_times(out)
    want = [round(t - frame_times(src)[5], 3) for t in frame_times(src)[5:]]
    assert times["plain"] == want
    assert times["resume"] == times["plain"]


def test_a_range_of_a_reel_keeps_the_keys_of_its_own_shots(tmp_path, capsys, monkeypatch):
    """Rendering one shot of a reel with the whole reel's keys (a project whose in/out marks are
    one shot, Mark This Shot): a key in a shot the range does not reach colours nothing rendered
    and is left out; the plain render refused it. A key in the shot the range cuts (it colours
    the range's frames from outside) is refused by the plain render and by --resume alike;
    --resume left it out and wrote that shot grey with exit 0."""
    import cv2
    from app.core.project import Project
    from tests.reel.conftest import build_reel
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "cache"))
    reel = build_reel(tmp_path / "reel.mp4")                   # shots 0..19, 20..45, 46..67
    keys = [a for f in (0, 20) for a in ("--key", f"{f}={reel.key_png(tmp_path, f)}")]
    frames = {}
    for name, extra in (("plain", []), ("resume", ["--resume"])):
        out = tmp_path / name
        code, err = run(["propagate", str(reel.video), "-o", str(out), *keys, "--start", "20", "--end", "45",
                         "--method", "flow", "-q", *extra], capsys)
        assert code == EXIT_OK, err
        frames[name] = [cv2.imread(str(out / n)) for n in sorted(os.listdir(out))]
        code, err = run(["propagate", str(reel.video), "-o", str(tmp_path / f"cut_{name}"), *keys,
                         "--start", "5", "--end", "19", "--method", "flow", "-q", *extra], capsys)
        assert code == EXIT_ERROR and "keyframe 0: outside the rendered range 5..19 but in shot 0..19, " \
                                      "which the range cuts" in err, err
        assert not (tmp_path / f"cut_{name}").exists()
    assert len(frames["plain"]) == 26
    assert all(np.array_equal(a, b) for a, b in zip(frames["plain"], frames["resume"]))
    lab = cv2.cvtColor(frames["plain"][0], cv2.COLOR_BGR2LAB).astype(np.float32)
    assert np.abs(lab[..., 1:] - 128).mean() > 5                 # shot 20..45 has its key's colour
    doc = Project(reel.video)
    for f in (0, 20):
        doc.set_keyframe(f, reel.frames[f])
    doc.set_range(20, 45)
    doc.set_method("flow")
    proj = doc.save(tmp_path / "shot2.hueshot")
    code, err = run(["render", str(proj), "-o", str(tmp_path / "proj"), "--method", "flow", "-q"], capsys)
    assert code == EXIT_OK, err
    assert len(os.listdir(tmp_path / "proj")) == 26


@pytest.mark.parametrize("argv,piece", [
    (["--frames", "0"], "--frames and --speed-frames must be >= 2"),
    (["--frames", "1"], "--frames and --speed-frames must be >= 2"),
    (["--methods", "nope"], "--methods: unknown propagation method 'nope'"),
    (["--methods", ","], "--methods names no method"),
    (["--clip-filter", "("], "--clip-filter '(' is not a regular expression"),
    (["--hint-method", "nope"], "--hint-method: unknown propagation method 'nope'"),
    (["--startup", "--runs", "0"], "--runs must be >= 1"),
    (["--interactive", "--max-clips", "0"], "--rounds and --max-clips >= 1"),     # ran every clip
    (["--interactive", "--method", "nope"], "--method: unknown propagation method 'nope'"),
    (["--render", "--width", "10", "--height", "64"], "--width >= 32 and >= a quarter of --height"),
    (["--reel", "--size", "abc", "--skip-cuts"], "--size must be WIDTHxHEIGHT, at least 32x64, got 'abc'"),
    (["--reel", "--size", "0x0", "--skip-cuts"], "--size must be WIDTHxHEIGHT"),
    (["--gui", "--method", "nope"], "unknown method 'nope'"),       # the window waited 300 s a step
    (["--gui", "--frames", "0"], "--frames must be at least 2"),
    (["--gui", "--strokes", "0"], "--strokes must be at least 1"),
])
def test_bench_refuses_bad_arguments_in_one_line(grey_clip, tmp_path, capsys, monkeypatch, argv, piece):
    """hueshot bench's bad values are usage errors before any clip is read (were internal
    errors: IndexError, ZeroDivisionError, KeyError, re.error, StatisticsError)."""
    monkeypatch.setenv("HUESHOT_BENCH_CACHE", str(tmp_path / "bench_cache"))
    (tmp_path / "manifest.json").write_text(json.dumps([{"name": "c", "file": grey_clip.video.name,
                                                         "frames": 24}]))
    if argv[0] == "--startup":
        argv = [*argv, "--frozen", str(tmp_path / "none")]
    elif argv[0] == "--interactive":
        argv = [*argv, "--clips", str(tmp_path), "--frames", "4", "--rounds", "1", "--quiet"]
    elif argv[0] == "--reel":
        argv = [*argv, "--clips", str(tmp_path)]
    elif argv[0] == "--gui":
        pass
    elif argv[0] == "--render":
        argv = [*argv, "--frames", "4", "--no-limit", "--work", str(tmp_path / "work")]
    else:
        argv = ["--clips", str(tmp_path), "--no-speed", *argv]
    code, err = run(["bench", *argv], capsys)
    assert code == EXIT_USAGE and piece in err and "internal error" not in err, err


def test_a_stroke_out_of_range_names_its_hints_file_or_project(grey_clip, tmp_path, capsys):
    """A stroke past the shot's end is refused naming the file it came from (the message named
    only the frame), and an empty hints file is named as what held nothing."""
    from app.core.project import Project
    from models.base import HintStroke
    hints = tmp_path / "h.json"
    hints.write_text(json.dumps([{"frame": 24, "points": [[0.2, 0.5]], "radius": 0.05, "color": [200, 40, 40]}]))
    code, err = run(["propagate", str(grey_clip.video), "-o", str(tmp_path / "o.mp4"), "--hints", str(hints),
                     "--method", "flow", "-q"], capsys)
    assert code == EXIT_ERROR and f"{hints}: hint stroke on frame 24: frame index out of range" in err, err
    hints.write_text("[]")
    code, err = run(["propagate", str(grey_clip.video), "-o", str(tmp_path / "o.mp4"), "--hints", str(hints),
                     "--method", "flow", "-q"], capsys)
    assert code == EXIT_ERROR and f"nothing to propagate ({hints} holds no hint stroke)" in err, err
    doc = Project(grey_clip.video)
    doc.add_stroke(HintStroke(frame=30, points=[(0.2, 0.5)], radius=0.05, color=(0, 200, 0)))
    proj = doc.save(tmp_path / "p.hueshot")
    code, err = run(["render", str(proj), "-o", str(tmp_path / "o.mp4"), "--method", "flow", "-q"], capsys)
    assert code == EXIT_ERROR and f"{proj}: hint stroke on frame 30: frame index out of range" in err, err
    assert not (tmp_path / "o.mp4").exists()
    # a hints file of erasers only colours nothing: refused like an empty one (was a grey render, exit 0)
    hints.write_text(json.dumps([{"frame": 2, "points": [[0.2, 0.5]], "radius": 0.05, "color": [0, 0, 0],
                                  "erase": True}]))
    code, err = run(["propagate", str(grey_clip.video), "-o", str(tmp_path / "o.mp4"), "--hints", str(hints),
                     "--method", "flow", "-q"], capsys)
    assert code == EXIT_ERROR and f"nothing to propagate ({hints}: all 1 stroke(s) erase)" in err, err
    assert not (tmp_path / "o.mp4").exists()


def test_a_pipe_as_input_and_shots_usage_errors_are_one_line(tmp_path, capsys):
    """A pipe (`<(cat clip.mp4)`) or a device as INPUT is named as such (was 'file is empty
    (0 bytes)'); hueshot shots' usage errors are one line like the other commands' (it printed
    the whole usage first)."""
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    for argv in (["propagate", str(fifo), "-o", str(tmp_path / "o.mp4"), "--auto"], ["shots", str(fifo)]):
        code, err = run(argv, capsys)
        assert code == EXIT_ERROR and f"{fifo}: is not a regular file (a pipe or a device)" in err, err
    code, err = run(["shots", str(fifo), "--proxy-height", "abc"], capsys)
    assert code == EXIT_USAGE and err.count("\n") == 1 and "invalid int value: 'abc'" in err, err


def test_an_unreadable_key_image_is_one_line_on_stderr(grey_clip, tmp_path):
    """A truncated TIFF keyframe: the one error line naming it, without OpenCV's own log lines
    about the decoder's failure before it (there were three)."""
    import cv2
    ok, buf = cv2.imencode(".tif", cv2.cvtColor(grey_clip.scene.rgb(0), cv2.COLOR_RGB2BGR))
    (tmp_path / "cut.tif").write_bytes(buf.tobytes()[: len(buf) // 2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop("OPENCV_LOG_LEVEL", None)
    r = subprocess.run([sys.executable, "-m", "app", "propagate", str(grey_clip.video), "-o", str(tmp_path / "o.mp4"),
                        "--key", f"0={tmp_path / 'cut.tif'}", "--method", "flow", "-q"], capture_output=True,
                       text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == EXIT_ERROR
    assert r.stderr.splitlines() == [f"hueshot: error: {tmp_path / 'cut.tif'}: keyframe image for frame 0: "
                                     f"unreadable image (not PNG/JPEG/TIFF or corrupt)"], r.stderr


def test_an_output_name_near_the_file_name_limit(grey_clip, tmp_path, capsys):
    """A valid output name of 249 bytes: the temp names beside it (".NAME.partial-PID-RAND.mp4",
    the render folder of --resume) were longer than a file name may be, so the render failed
    with 'File name too long' and three warnings; now they are cut to fit."""
    name = "a" * 245
    for out, extra in ((tmp_path / f"{name}.mp4", []), (tmp_path / name, []), (tmp_path / name, []),
                       (tmp_path / f"{name}.mkv", ["--resume"])):
        code, err = run(["propagate", str(grey_clip.video), "-o", str(out), "--key", f"0={grey_clip.key_png}",
                         "--method", "flow", "-q", *extra], capsys)
        assert code == EXIT_OK and err == "", err
        assert out.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("a", ".a"))) == \
        [name, f"{name}.mkv", f"{name}.mp4"]


def test_resume_on_a_file_name_that_is_not_utf8(grey_clip, tmp_path, capsys):
    """A source and key named in Latin-1 bytes (an old archive's names): --resume failed with an
    internal error (UnicodeEncodeError hashing the name); a plain render ran."""
    src = tmp_path / os.fsdecode(b"cl\xe9.mp4")
    key = tmp_path / os.fsdecode(b"k\xe9y.png")
    src.write_bytes(grey_clip.video.read_bytes())
    key.write_bytes(grey_clip.key_png.read_bytes())
    for extra in ([], ["--resume"]):
        out = tmp_path / os.fsdecode(b"o\xe9" + (b"_r" if extra else b"") + b".mkv")
        code, err = run(["propagate", str(src), "-o", str(out), "--key", f"0={key}", "--method", "flow", "-q",
                         *extra], capsys)
        assert code == EXIT_OK and err == "", err
        assert frames_in(out) == 24


def test_an_empty_or_dash_path_is_a_usage_error(grey_clip, tmp_path, capsys, monkeypatch):
    """`-o -` wrote a PNG folder named '-' (exit 0), `-o ""` wrote into the current folder, and an
    empty INPUT opened the current folder as frames: each is now a one-line usage error."""
    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(tmp_path))
    key = ["--key", f"0={grey_clip.key_png}", "--method", "flow", "-q"]
    for argv, piece in ((["propagate", str(grey_clip.video), "-o", "-", *key], "-o -: writing to standard output"),
                        (["propagate", str(grey_clip.video), "-o", "", *key], "-o OUTPUT is empty"),
                        (["propagate", "", "-o", "o.mp4", *key], "INPUT is empty"),
                        (["render", "", "-o", "o.mp4"], "PROJECT is empty"),
                        (["shots", ""], "INPUT is empty")):
        code, err = run(argv, capsys)
        assert code == EXIT_USAGE and piece in err, (argv, err)
    assert sorted(os.listdir(tmp_path)) == before         # nothing written, no folder named '-'



def test_a_render_started_with_stderr_closed(grey_clip, tmp_path):
    """`hueshot propagate ... 2>&-` (stderr closed, as some service managers start jobs): the
    first progress line failed the render with an internal error; it now renders, and a bad
    input still exits 1."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    for key, code in ((grey_clip.key_png, EXIT_OK), (tmp_path / "missing.png", EXIT_ERROR)):
        r = subprocess.run([sys.executable, "-m", "app", "propagate", str(grey_clip.video), "-o", str(tmp_path / "o.mp4"),
                            "--key", f"0={key}", "--method", "flow"], stdout=subprocess.PIPE, text=True,
                           env=env, cwd=tmp_path, timeout=120, preexec_fn=lambda: os.close(2))
        assert r.returncode == code and "internal error" not in r.stdout, r.stdout
    assert frames_in(tmp_path / "o.mp4") == 24


def test_a_range_wholly_after_the_point_where_the_source_breaks(scene, tmp_path, capsys):
    """The demuxer counts 24 frames, the decoder stops at frame 6 (packet 6 is noise): a range
    of frames 12..20 has nothing readable. It was an internal error (a luma view of negative
    length); now exit 1 saying so, and an existing output is left as it was."""
    src = encode_clip(tmp_path / "src.mp4", [scene.gray(i) for i in range(24)])
    with av.open(str(src)) as c:
        pos, size = [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size][6]
    data = bytearray(src.read_bytes())
    data[pos + 5: pos + size] = np.random.default_rng(0).integers(0, 256, size - 5, dtype=np.uint8).tobytes()
    (tmp_path / "broken.mp4").write_bytes(bytes(data))
    out = tmp_path / "o.mp4"
    out.write_bytes(b"an earlier render")
    for extra in ([], ["--no-shots"]):
        code, err = run(["propagate", str(tmp_path / "broken.mp4"), "-o", str(out), "--auto", "--start", "12",
                         "--end", "20", "--method", "flow", "-q", *extra], capsys)
        assert code == EXIT_ERROR and "broken.mp4: no frame of the range 12..20 is readable: stream is corrupt " \
                                      "or truncated at frame 6" in err, err
        assert out.read_bytes() == b"an earlier render"


def test_resume_refuses_a_missing_key_image_before_rendering_any_shot(tmp_path, capsys, monkeypatch):
    """--resume read each shot's keys when the shot came: a missing key image of the last shot
    failed the run after the other shots were rendered, and one of the first shot left an
    empty render folder. Now it is refused first, as a plain render refuses it."""
    from tests.reel.conftest import build_reel
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "cache"))
    reel = build_reel(tmp_path / "reel.mp4")
    for missing in (46, 0):
        keys = ["--key", f"20={reel.key_png(tmp_path, 20)}", "--key", f"{missing}={tmp_path / 'gone.png'}"]
        code, err = run(["propagate", str(reel.video), "-o", str(tmp_path / "o.mp4"), *keys, "--method", "flow",
                         "-q", "--resume"], capsys)
        assert code == EXIT_ERROR and f"gone.png: keyframe image for frame {missing}: no such image file" in err, err
        assert not list(tmp_path.glob(".*hueshot-render"))


def test_resume_refuses_a_sequence_folder_holding_other_files_first(grey_clip, tmp_path, capsys):
    """--resume into a folder that holds other files than an earlier sequence: refused before
    any shot is rendered (it rendered every shot and failed at the join)."""
    out = tmp_path / "frames"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, err = run(["propagate", str(grey_clip.video), "-o", str(out), "--key", f"0={grey_clip.key_png}",
                     "--method", "flow", "--resume"], capsys)
    assert code == EXIT_ERROR and "output folder is not empty (holds 'notes.txt')" in err, err
    assert "rendering" not in err and not list(tmp_path.glob(".*hueshot-render"))
    assert os.listdir(out) == ["notes.txt"]


def test_smoke_test_refuses_a_bad_folder_in_one_line(tmp_path, capsys, monkeypatch):
    """--smoke-test FILE was a Python traceback (FileExistsError); --smoke-test '' ran the
    whole smoke test into the current folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("x")
    code, err = run(["--smoke-test", "a_file"], capsys)
    assert code == EXIT_ERROR and err == "hueshot: error: a_file: is a file; the smoke test needs a folder to write into\n"
    code, err = run(["--smoke-test", "a_file/sub"], capsys)
    assert code == EXIT_ERROR and "a_file/sub: cannot make the smoke test's folder (Not a directory)" in err, err
    code, err = run(["--smoke-test", ""], capsys)
    assert code == EXIT_USAGE and "usage: hueshot --smoke-test OUTDIR" in err
    assert os.listdir(tmp_path) == ["a_file"]


def test_a_project_keyframe_of_the_wrong_size_names_the_project(grey_clip, tmp_path, capsys):
    """A project's keyframe image of another size than its video (the video was replaced):
    the message named only 'keyframe 0', not the project it is in."""
    from app.core.project import Project
    doc = Project(grey_clip.video)
    doc.set_keyframe(0, np.zeros((48, 80, 3), np.uint8))
    proj = doc.save(tmp_path / "p.hueshot")
    code, err = run(["render", str(proj), "-o", str(tmp_path / "o.mp4"), "--method", "flow", "-q"], capsys)
    assert code == EXIT_ERROR and f"{proj}: keyframe 0: keyframe image is 80x48 but clip.mp4 is 160x96" in err, err
