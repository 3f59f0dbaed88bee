"""Per-shot propagation through the real CLI and render pipeline: nothing crosses a cut."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np

from app.cli import main
from app.core.project import Project

REPO = Path(__file__).resolve().parents[2]


def read_pngs(folder: Path) -> list[np.ndarray]:
    files = sorted(folder.glob("*.png"))
    return [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]


def chroma(rgb: np.ndarray) -> float:
    """Mean distance from grey (0 for a frame left grey)."""
    x = rgb.astype(np.int16)
    return float(np.abs(x - x.mean(axis=2, keepdims=True)).mean())


def test_each_key_colours_only_its_own_shot(reel, tmp_path, capsys):
    out = tmp_path / "out"
    k0, k2 = reel.key_png(tmp_path, 0), reel.key_png(tmp_path, 46)
    assert main(["propagate", str(reel.video), "-o", str(out), "--key", f"0={k0}", "--key", f"46={k2}",
                 "--method", "flow"]) == 0
    err = capsys.readouterr().err
    assert "frames 20..45: no key or hint in it, left grey" in err
    frames = read_pngs(out)
    assert len(frames) == len(reel.frames)
    (a0, b0), (a1, b1), (a2, b2) = reel.shots
    assert all(chroma(f) > 8 for f in frames[a0:b0 + 1] + frames[a2:b2 + 1])
    assert all(chroma(f) < 1.0 for f in frames[a1:b1 + 1])     # the middle shot stays grey


def test_without_shots_a_key_runs_across_the_cut(reel, tmp_path):
    """The control: the same render as one shot colours the middle shot from shot 0's key."""
    out = tmp_path / "out"
    k0 = reel.key_png(tmp_path, 0)
    assert main(["propagate", str(reel.video), "-o", str(out), "--key", f"0={k0}", "--method", "flow",
                 "--no-shots", "-q"]) == 0
    frames = read_pngs(out)
    a1, b1 = reel.shots[1]
    assert np.mean([chroma(f) for f in frames[a1:b1 + 1]]) > 5


def test_a_reel_renders_each_shot_as_it_renders_alone(reel, tmp_path):
    keys = {a: reel.key_png(tmp_path, a) for a, _ in reel.shots}
    args = [x for a, p in keys.items() for x in ("--key", f"{a}={p}")]
    assert main(["propagate", str(reel.video), "-o", str(tmp_path / "reel"), "--method", "flow", "-q"] + args) == 0
    whole = read_pngs(tmp_path / "reel")
    for k, (a, b) in enumerate(reel.shots):
        out = tmp_path / f"shot{k}"
        assert main(["propagate", str(reel.video), "-o", str(out), "--method", "flow", "-q", "--no-shots",
                     "--start", str(a), "--end", str(b), "--key", f"{a}={keys[a]}"]) == 0
        alone = read_pngs(out)
        assert len(alone) == b - a + 1
        for i, f in enumerate(alone):
            np.testing.assert_array_equal(whole[a + i], f)


def test_render_project_shot_by_shot_with_audio_and_quality_by_default(tmp_path, monkeypatch):
    from tests.reel.conftest import build_reel
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "_cache"))
    r = build_reel(tmp_path / "reel.mp4", audio=True)
    doc = Project(r.video)
    doc.set_keyframe(0, r.frames[0])
    doc.set_shots(r.shots)
    path = doc.save(tmp_path / "reel.hueshot")
    out = tmp_path / "out.mp4"
    p = subprocess.run([sys.executable, "-m", "app", "render", str(path), "-o", str(out)], cwd=REPO,
                       capture_output=True, text=True, env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert p.returncode == 0, p.stderr
    assert "method quality" in p.stderr
    assert "frames 20..45: no key or hint in it, left grey" in p.stderr
    assert "frames 46..67: no key or hint in it, left grey" in p.stderr
    assert (tmp_path / "reel.hueshot-cache" / "luma").is_dir()     # the project's own cache folder
    with av.open(str(out)) as c:
        assert c.streams.audio, "the source audio is passed through"
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == len(r.frames)
    assert chroma(frames[5]) > 8 and chroma(frames[30]) < 2.0


def test_a_bad_key_fails_before_the_luma_pass(reel, tmp_path, capsys):
    """Inputs are checked before the reel is read: no luma cache is written for a failing run."""
    cache = tmp_path / "_cache"
    assert main(["propagate", str(reel.video), "-o", str(tmp_path / "o.mp4"), "--key",
                 f"0={tmp_path / 'missing.png'}", "-q"]) == 1
    assert "missing.png" in capsys.readouterr().err
    assert not (cache / "luma").exists() or not any((cache / "luma").iterdir())


def test_a_project_in_a_read_only_folder_renders(tmp_path, make_clip, monkeypatch):
    """`hueshot render` kept its luma cache beside the project only: a project on a read-only
    share (or a colleague's folder) failed with 'cannot write the luma cache there' while the
    editor opened and propagated it (its caches fall back to the user's). The render now falls
    back to the user cache too, and writes nothing into the read-only folder."""
    import os
    import shutil
    if os.geteuid() != 0:
        import pytest
        pytest.skip("needs root to mount a read-only tmpfs")
    mnt = tmp_path / "share"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)]).returncode != 0:
        import pytest
        pytest.skip("cannot mount a tmpfs here")
    try:
        clip = make_clip("shot.mp4")
        shutil.copy(clip.video, mnt / "shot.mp4")
        doc = Project(mnt / "shot.mp4")
        doc.set_keyframe(0, clip.scene.rgb(0))
        doc.save(mnt / "shot.hueshot")
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "user_cache"))
        out = tmp_path / "out"
        assert main(["render", str(mnt / "shot.hueshot"), "-o", str(out), "--method", "flow", "-q"]) == 0
        frames = read_pngs(out)
        assert len(frames) == clip.frames and chroma(frames[5]) > 8
        assert (tmp_path / "user_cache" / "luma").is_dir()
        assert sorted(p.name for p in mnt.iterdir()) == ["shot.hueshot", "shot.hueshot-layers", "shot.mp4"]
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def _hints(tmp_path, strokes) -> Path:
    import json
    p = tmp_path / "hints.json"
    p.write_text(json.dumps(strokes))
    return p


ERASE_21 = {"frame": 21, "points": [[0.3, 0.5], [0.6, 0.5]], "radius": 0.05, "erase": True}
NEUTRAL_50 = {"frame": 50, "points": [[0.3, 0.5], [0.6, 0.5]], "radius": 0.05, "color": [128, 128, 128]}


def test_a_shot_whose_strokes_have_no_colour_is_named_grey_as_it_renders(reel, tmp_path, capsys):
    """A shot whose only strokes erase (shot 2) or are r = g = b (shot 3) renders grey under the
    default hint method, and the summary names both (it named neither: they have a 'hint')."""
    out = tmp_path / "out"
    k0 = reel.key_png(tmp_path, 0)
    assert main(["propagate", str(reel.video), "-o", str(out), "--key", f"0={k0}", "--method", "flow",
                 "--hints", str(_hints(tmp_path, [ERASE_21, NEUTRAL_50]))]) == 0
    err = capsys.readouterr().err
    grey = [line for line in err.splitlines() if "left grey" in line]
    assert grey == ["shot at frames 20..45: its hint strokes have no colour (they erase, or r = g = b), left grey",
                    "shot at frames 46..67: its hint strokes have no colour (they erase, or r = g = b), left grey"], err
    frames = read_pngs(out)
    (a0, b0), (a1, b1), (a2, b2) = reel.shots
    assert all(chroma(f) > 8 for f in frames[a0:b0 + 1])
    assert all(chroma(f) == 0.0 for f in frames[a1:b2 + 1])          # what the summary says


def test_a_project_shot_with_only_eraser_strokes_is_named_grey_by_render(reel, tmp_path, capsys):
    from models.base import HintStroke
    doc = Project(reel.video)
    doc.set_keyframe(0, reel.frames[0])
    doc.add_stroke(HintStroke(frame=30, points=[(0.3, 0.5), (0.6, 0.5)], radius=0.05, color=(0, 0, 0), erase=True))
    doc.set_shots(reel.shots)
    path = doc.save(tmp_path / "reel.hueshot")
    assert main(["render", str(path), "-o", str(tmp_path / "out"), "--method", "flow"]) == 0
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "left grey" in line] == [
        "shot at frames 20..45: its hint strokes have no colour (they erase, or r = g = b), left grey",
        "shot at frames 46..67: no key or hint in it, left grey"], err
    assert all(chroma(f) == 0.0 for f in read_pngs(tmp_path / "out")[20:68])


def test_strokes_without_colour_that_the_prior_colours_are_not_named_grey(reel, tmp_path, capsys):
    """The control: with the prior (hint method 'prior'), a shot whose strokes all erase gets the
    prior's colour, so the summary does not call it grey."""
    out = tmp_path / "out"
    k0 = reel.key_png(tmp_path, 0)
    assert main(["propagate", str(reel.video), "-o", str(out), "--key", f"0={k0}", "--method", "flow",
                 "--hint-method", "prior", "--hints", str(_hints(tmp_path, [ERASE_21]))]) == 0
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "left grey" in line] == [
        "shot at frames 46..67: no key or hint in it, left grey"], err
    frames = read_pngs(out)
    assert min(chroma(f) for f in frames[20:46]) > 0.1            # faint (AUTO_GAIN), but colour
    assert all(chroma(f) == 0.0 for f in frames[46:68])
