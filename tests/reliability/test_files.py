"""What lands on disk: saves killed with SIGKILL, modes that follow the umask and are kept
on replace, unknown project fields carried through, variable frame rate with audio."""
from __future__ import annotations

import json
import os
import stat

import av
import numpy as np
import pytest

from app.core.project import Project
from tests.conftest import Scene, encode_clip, write_png
from tests.reliability.hostile import vfr_mkv
from tests.reliability.runner import Tally, kill_save_once, report, rng


@pytest.fixture
def saved_project(tmp_path):
    sc = Scene()
    v = encode_clip(tmp_path / "clip.mp4", (sc.gray(i) for i in range(4)))
    doc = Project(v)
    doc.set_keyframe(0, sc.rgb(0))
    return doc.save(tmp_path / "p.hueshot")


def _save_temps(folder) -> list[str]:
    return [n for n in os.listdir(folder) if n.startswith(".") and n.endswith(".tmp")]


def _kill_loop(project, tries: int, seed: int) -> Tally:
    r = rng(seed)
    tally = Tally()
    for k in range(tries):
        rc = kill_save_once(project, project.parent / "tmp", r.uniform(0.05, 0.6))
        try:
            doc = Project.load(project)          # the old or the new project, whole
            ok = len(doc.keyframes) >= 1
        except Exception as exc:  # noqa: BLE001 - any failure to load is the finding
            ok = False
            tally.notes.append(f"load failed: {exc}")
        # the next save removes what the killed one left
        doc.save()
        left = _save_temps(project.parent) + _save_temps(project.parent / "p.hueshot-layers")
        tally.add(0 if rc == -9 else rc, left, ok)
    return tally


def test_sigkill_during_save(saved_project):
    tally = _kill_loop(saved_project, 3, seed=3)
    report(tally.line("SIGKILL during save (quick)"))
    assert tally.ok(), tally.notes


@pytest.mark.reliability_long
def test_sigkill_during_save_50(saved_project):
    tally = _kill_loop(saved_project, 50, seed=int(os.environ.get("HUESHOT_SEED", 1)))
    report(tally.line("SIGKILL during save (long)"))
    assert tally.ok(), tally.notes


def test_stale_save_temp_removed_on_load(saved_project):
    # what a save killed before its rename leaves: a temp named after a process that is gone
    dead = 2**22 + 12345
    while True:
        try:
            os.kill(dead, 0)
            dead += 1
        except ProcessLookupError:
            break
        except PermissionError:
            dead += 1
    stale = saved_project.parent / f".p.hueshot.{dead}-0123abcd.tmp"
    stale.write_text("{half")
    live = saved_project.parent / f".p.hueshot.{os.getpid()}-0123abcd.tmp"   # ours: in use
    live.write_text("{")
    Project.load(saved_project)
    assert not stale.exists() and live.exists()


def _mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_modes_follow_umask(tmp_path, umask):
    from app.core.export import ExportSettings, open_encoder
    old = os.umask(umask)
    try:
        sc = Scene()
        v = encode_clip(tmp_path / "clip.mp4", (sc.gray(i) for i in range(2)))
        doc = Project(v)
        doc.set_keyframe(0, sc.rgb(0))
        p = doc.save(tmp_path / "p.hueshot")
        layers = tmp_path / "p.hueshot-layers"
        enc = open_encoder(tmp_path / "seq", 160, 96, 24, ExportSettings(format="png"))
        enc.write(sc.rgb(0))
        enc.close()
        enc = open_encoder(tmp_path / "o.mp4", 160, 96, 24, ExportSettings())
        enc.write(sc.rgb(0))
        enc.close()
    finally:
        os.umask(old)
    assert _mode(p) == 0o666 & ~umask
    assert _mode(layers) == 0o777 & ~umask
    assert all(_mode(f) == 0o666 & ~umask for f in layers.iterdir())
    assert _mode(tmp_path / "seq") == 0o777 & ~umask
    assert _mode(tmp_path / "o.mp4") == 0o666 & ~umask


def test_replaced_file_keeps_its_mode(saved_project):
    os.chmod(saved_project, 0o664)
    doc = Project.load(saved_project)
    doc.set_setting("x", 1)
    doc.save()
    assert _mode(saved_project) == 0o664
    os.chmod(saved_project, 0o640)
    doc.save()
    assert _mode(saved_project) == 0o640


def test_unknown_fields_survive_a_round_trip(saved_project):
    data = json.loads(saved_project.read_text())
    data["future_field"] = {"nested": [1, 2, {"k": "v"}]}
    data["colour_grade"] = "warm"
    saved_project.write_text(json.dumps(data))
    doc = Project.load(saved_project)
    doc.set_setting("touched", True)
    doc.save()
    again = json.loads(saved_project.read_text())
    assert again["future_field"] == {"nested": [1, 2, {"k": "v"}]} and again["colour_grade"] == "warm"
    assert again["settings"]["touched"] is True and again["format"] == "hueshot-project"


def _video_times(path):
    with av.open(str(path)) as c:
        return [float(f.pts * f.time_base) for f in c.decode(video=0)]


def _audio_span(path):
    with av.open(str(path)) as c:
        fr = [(float(f.pts * f.time_base), float(f.pts * f.time_base) + f.samples / f.sample_rate)
              for f in c.decode(audio=0)]
    return fr[0][0], fr[-1][1]


@pytest.mark.parametrize("ext", [".mkv", ".mp4"])
def test_variable_frame_rate_with_audio(tmp_path, ext):
    from app.core.render import RenderJob, render
    src, times = vfr_mkv(tmp_path / "vfr.mkv")
    key = write_png(tmp_path / "k.png", Scene().rgb(0))
    out = tmp_path / f"out{ext}"
    render(RenderJob(input=src, output=out, keys={0: key}, method="copy_key"))
    s, o = _video_times(src), _video_times(out)
    assert len(o) == len(s)
    step = float(np.median(np.diff(s)))
    shortest = float(np.min(np.diff(s)))
    # duration within one frame; every frame at its source time (drift at most half a frame)
    assert abs((o[-1] - o[0]) - (s[-1] - s[0])) <= step
    assert max(abs((a - o[0]) - (b - s[0])) for a, b in zip(o, s)) <= shortest / 2
    a0, a1 = _audio_span(out)
    s0, _ = _audio_span(src)
    assert abs((a0 - o[0]) - (s0 - s[0])) <= shortest / 2      # audio starts with the video
    assert a1 >= o[-1]                                         # and lasts to the last frame
