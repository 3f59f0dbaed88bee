"""Hostile input through the real CLI (in process): every bad value is refused up front in
one line naming the file, the field and the allowed range, exit 1 or 2, never a traceback;
an output onto an input is refused and the input stays byte-identical."""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from app.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, main
from tests.conftest import Scene, encode_clip, write_png


def run(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


def one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    sc = Scene()
    v = encode_clip(d / "clip.mkv", (sc.gray(i) for i in range(8)))
    key = write_png(d / "key.png", sc.rgb(0))
    return d, v, key


def _hints(d, name, text):
    p = d / name
    p.write_text(text)
    return p


STROKE = {"frame": 0, "points": [[0.2, 0.5], [0.3, 0.5]], "radius": 0.05, "color": [200, 40, 40]}

BAD_HINTS = {
    "radius100": ('[{"frame":0,"points":[[0.2,0.5]],"radius":100,"color":[200,0,0]}]', "radius"),
    "radius1e300": ('[{"frame":0,"points":[[0.2,0.5]],"radius":1e300,"color":[200,0,0]}]', "radius"),
    "radiusinf": ('[{"frame":0,"points":[[0.2,0.5]],"radius":Infinity,"color":[200,0,0]}]', "radius"),
    "nan_x": ('[{"frame":0,"points":[[NaN,0.5]],"color":[200,0,0]}]', "point 0 x"),
    "inf_y": ('[{"frame":0,"points":[[0.5,Infinity]],"color":[200,0,0]}]', "point 0 y"),
    "huge_x": ('[{"frame":0,"points":[[1e30,0.5]],"color":[200,0,0]}]', "point 0 x"),
    "deep": ("[" * 100000 + "]" * 100000, "nests"),
    "frame_str": ('[{"frame":"0","points":[[0.2,0.5]]}]', "frame"),
    "frame_neg": ('[{"frame":-4,"points":[[0.2,0.5]]}]', "frame"),
    "frame_out": ('[{"frame":99,"points":[[0.2,0.5]],"color":[200,0,0]}]', "frame 99"),
    "no_points": ('[{"frame":0,"points":[]}]', "points"),
    "point_shape": ('[{"frame":0,"points":[[0.1,0.2,0.3]]}]', "point 0"),
    "color_short": ('[{"frame":0,"points":[[0.2,0.5]],"color":[1,2]}]', "color"),
    "color_big": ('[{"frame":0,"points":[[0.2,0.5]],"color":[1,2,300]}]', "color"),
    "erase_str": ('[{"frame":0,"points":[[0.2,0.5]],"erase":"yes"}]', "erase"),
    "top_number": ("42", "list of strokes"),
    "not_json": ("[{", "not valid JSON"),
    "not_utf8": (b"\xff\xfe[".decode("latin-1"), "JSON"),
}


@pytest.mark.parametrize("name", sorted(BAD_HINTS))
def test_bad_hints_file(clip, name, capsys):
    d, v, key = clip
    text, field = BAD_HINTS[name]
    p = d / f"{name}.json"
    p.write_bytes(text.encode("latin-1") if name == "not_utf8" else text.encode())
    out = d / f"o_{name}.mkv"
    code, err = run(["propagate", str(v), "-o", str(out), "--hints", str(p), "-q"], capsys)
    line = one_line(err)
    assert code == EXIT_ERROR, line
    assert field in line and (p.name in line or "hint stroke" in line), line
    assert not out.exists()


BAD_VALUES = {
    "crf": (["--crf", "99"], "--crf"),
    "crf_neg": (["--crf", "-1"], "--crf"),
    "preset": (["--preset", "bogus"], "--preset"),
    "key_neg": (["--key", "-1=key.png"], "frame number must be >= 0"),
    "proxy16": (["--proxy-height", "16"], "--proxy-height"),
    "proxy0": (["--proxy-height", "0"], "--proxy-height"),
    "start_neg": (["--start", "-3"], "--start"),
}


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_bad_cli_value(clip, name, capsys):
    d, v, key = clip
    extra, field = BAD_VALUES[name]
    args = ["propagate", str(v), "-o", str(d / f"o_{name}.mkv"), "-q"]
    if "--key" not in extra:
        args += ["--key", f"0={key}"]
    code, err = run(args + extra, capsys)
    line = one_line(err)
    assert code == EXIT_USAGE and field in line, line


def _project(d, v, key_rgb, **fields):
    from app.core.project import Project
    doc = Project(v)
    doc.set_keyframe(0, key_rgb)
    doc.set_method("copy_key")
    p = doc.save(d / "good.hueshot")
    data = json.loads(p.read_text())
    data.update(fields)
    bad = d / "bad.hueshot"
    bad.write_text(json.dumps(data))
    import shutil
    shutil.copytree(d / "good.hueshot-layers", d / "bad.hueshot-layers", dirs_exist_ok=True)
    return bad


BAD_PROJECT = {
    "range_str": ({"range": "0-5"}, "range"),
    "range_list": ({"range": [0, 5]}, "range"),
    "range_rev": ({"range": {"in": 5, "out": 2}}, "range"),
    "range_neg": ({"range": {"in": -1, "out": 2}}, "range.in"),
    "source_str": ({"source": "clip.mkv"}, "source"),
    "source_list": ({"source": ["clip.mkv"]}, "source"),
    "source_path_num": ({"source": {"path": 5}}, "source.path"),
    "proxy_neg": ({"proxy_height": -480}, "proxy_height"),
    "proxy_zero": ({"proxy_height": 0}, "proxy_height"),
    "proxy_str": ({"proxy_height": "480"}, "proxy_height"),
    "method_num": ({"method": 3}, "method"),
    "keys_dict": ({"keyframes": {"0": "a.png"}}, "keyframes"),
    "key_escape": ({"keyframes": [{"frame": 0, "image": "../../etc/passwd"}]}, "keyframes[0].image"),
    "strokes_bad": ({"strokes": [{"frame": 0, "points": [[float("nan"), 0]]}]}, "point 0 x"),
    "settings_list": ({"settings": [1]}, "settings"),
    "version_bool": ({"version": True}, "version"),
}


@pytest.mark.parametrize("name", sorted(BAD_PROJECT))
def test_bad_project(clip, name, capsys):
    d, v, key = clip
    fields, field = BAD_PROJECT[name]
    bad = _project(d, v, Scene().rgb(0), **fields)
    code, err = run(["render", str(bad), "-o", str(d / f"o_{name}.mkv"), "-q"], capsys)
    line = one_line(err)
    assert code == EXIT_ERROR and field in line and "bad.hueshot" in line, line


@pytest.mark.parametrize("size", [(8, 8), (2, 2), (640, 2), (16, 16), (200, 48)])
def test_too_small_input(tmp_path, size, capsys):
    w, h = size
    rng = np.random.default_rng(0)
    frames = [np.repeat(rng.integers(0, 255, (h, w, 1), dtype=np.uint8), 3, axis=2) for _ in range(4)]
    v = encode_clip(tmp_path / "tiny.mkv", frames, codec="ffv1", pix_fmt="yuv444p")
    key = write_png(tmp_path / "k.png", np.full((h, w, 3), (200, 50, 50), np.uint8))
    code, err = run(["propagate", str(v), "-o", str(tmp_path / "o.mkv"), "--key", f"0={key}",
                     "--method", "flow", "-q", "--no-shots"], capsys)
    line = one_line(err)
    assert code == EXIT_ERROR and f"{w}x{h}" in line and "at least" in line, line


def test_portrait_low_proxy_refused_up_front(tmp_path, capsys):
    sc = Scene(width=96, height=160)
    v = encode_clip(tmp_path / "portrait.mp4", (sc.gray(i) for i in range(4)))
    key = write_png(tmp_path / "k.png", sc.rgb(0))
    code, err = run(["propagate", str(v), "-o", str(tmp_path / "o.mp4"), "--key", f"0={key}",
                     "--proxy-height", "16", "-q"], capsys)
    assert code == EXIT_USAGE and "--proxy-height" in one_line(err)


def test_macos_resource_forks_in_frame_folder(tmp_path, capsys):
    sc = Scene()
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(5):
        write_png(frames / f"f{i:03d}.png", sc.gray(i))
    (frames / "._f000.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")
    key = write_png(tmp_path / "k.png", sc.rgb(0))
    out = tmp_path / "seq"
    code, err = run(["propagate", str(frames), "-o", str(out), "--key", f"0={key}", "--method", "copy_key",
                     "-q", "--no-shots"], capsys)
    assert code == EXIT_OK, err
    assert sorted(os.listdir(out)) == [f"{i:05d}.png" for i in range(5)]


def test_grey_keyframe_and_colourless_hint_warn(clip, capsys):
    d, v, key = clip
    grey = write_png(d / "greykey.png", Scene().gray(0))
    code, err = run(["propagate", str(v), "-o", str(d / "g.mkv"), "--key", f"0={grey}", "--method",
                     "copy_key", "-q", "--no-shots"], capsys)
    assert code == EXIT_OK and "warning" in err and "no colour" in err and "greykey.png" in err, err
    h = _hints(d, "greyhint.json", json.dumps([dict(STROKE, color=[90, 90, 90])]))
    code, err = run(["propagate", str(v), "-o", str(d / "g2.mkv"), "--hints", str(h), "--method",
                     "copy_key", "-q", "--no-shots"], capsys)
    assert code == EXIT_OK and "warning" in err and "no colour" in err, err


def _digest(path) -> str:
    h = hashlib.sha256()
    paths = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def test_output_onto_input_refused(tmp_path, capsys):
    sc = Scene()
    v = encode_clip(tmp_path / "clip.mp4", (sc.gray(i) for i in range(6)))
    key = write_png(tmp_path / "key.png", sc.rgb(0))
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(4):
        write_png(frames / f"{i:05d}.png", sc.gray(i))     # named as a sequence output would be
    hints = _hints(tmp_path, "h.json", json.dumps([STROKE]))
    from app.core.project import Project
    doc = Project(v)
    doc.set_keyframe(0, sc.rgb(0))
    proj = doc.save(tmp_path / "p.hueshot")
    before = {p: _digest(p) for p in (v, key, frames, hints, proj, tmp_path / "p.hueshot-layers")}
    cases = [
        ["propagate", str(v), "-o", str(v), "--key", f"0={key}"],
        ["propagate", str(tmp_path / "." / "clip.mp4"), "-o", str(v), "--key", f"0={key}"],
        ["propagate", str(frames), "-o", str(frames), "--key", f"0={key}"],
        ["propagate", str(frames), "-o", str(tmp_path), "--key", f"0={key}"],
        ["propagate", str(v), "-o", str(frames), "--key", f"0={frames / '00000.png'}", "--format", "png"],
        ["propagate", str(v), "-o", str(tmp_path / "h.json.mkv"), "--hints", str(hints)],
        ["render", str(proj), "-o", str(v)],
        ["render", str(proj), "-o", str(tmp_path / "p.hueshot-layers"), "--format", "png"],
    ]
    for argv in cases:
        code, err = run(argv + ["-q", "--method", "copy_key"] if argv[0] == "propagate" else argv + ["-q"], capsys)
        if "h.json.mkv" in argv[3]:
            assert code == EXIT_OK, err    # a new file beside the hints is fine
            continue
        line = one_line(err)
        assert code == EXIT_ERROR and ("the output is" in line or "holds the" in line), (argv, line)
    assert {p: _digest(p) for p in before} == before
    os.link(v, tmp_path / "hardlink.mp4")         # another name for the same file
    code, err = run(["propagate", str(v), "-o", str(tmp_path / "hardlink.mp4"), "--key", f"0={key}", "-q"], capsys)
    assert code == EXIT_ERROR and "the output is the input" in one_line(err)
    assert _digest(v) == before[v]
