"""A render killed with SIGKILL and run again finishes with the uninterrupted render's output."""
from __future__ import annotations

from app.core.renderfarm.farm_segments import segment_files

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from tests.reel.conftest import build_reel
from tests.reel.test_reel_render import read_pngs

REPO = Path(__file__).resolve().parents[2]


def _cmd(reel, out: Path, keys, segment_frames: str | None = "1") -> list[str]:
    """--resume with a segment per shot (the kill lands between shots) by default, or the
    given --segment-frames; None: a plain render."""
    cmd = [sys.executable, "-m", "app", "propagate", str(reel.video), "-o", str(out), "--method", "flow"]
    if segment_frames is not None:
        cmd += ["--resume", "--segment-frames", segment_frames]
    for f, p in keys.items():
        cmd += ["--key", f"{f}={p}"]
    return cmd


def _env(tmp_path):
    return {**os.environ, "PYTHONPATH": str(REPO), "HUESHOT_CACHE_DIR": str(tmp_path / "_cache")}


@pytest.mark.parametrize("segment_frames, n_segments", [("1", 5), ("80", 3)])   # per shot; two shots a segment
def test_killed_render_resumes_to_the_same_output(tmp_path, segment_frames, n_segments):
    reel = build_reel(tmp_path / "reel.mp4", lengths=(40, 40, 40, 40, 40))
    keys = {a: reel.key_png(tmp_path, a) for a, _ in reel.shots[:4]}      # the last shot stays grey
    env = _env(tmp_path)
    ref = tmp_path / "ref"
    r = subprocess.run(_cmd(reel, ref, keys, None), env=env, cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    expected = read_pngs(ref)
    assert len(expected) == 200

    out = tmp_path / "out"
    seg_dir = tmp_path / ".out.hueshot-render"
    p = subprocess.Popen(_cmd(reel, out, keys, segment_frames), env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not segment_files(seg_dir) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    done = segment_files(seg_dir)
    assert 1 <= len(done) < n_segments, f"killed after {len(done)} of {n_segments} segments: the test needs a kill part way"
    assert not out.exists() or len(list(out.glob("*.png"))) < 200

    r = subprocess.run(_cmd(reel, out, keys, segment_frames), env=env, cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"resumed: {len(done)} of {n_segments} segments were already rendered" in r.stderr
    assert not seg_dir.exists()                                  # cleaned up after the join
    got = read_pngs(out)
    assert len(got) == len(expected)
    for i, (a, b) in enumerate(zip(got, expected)):
        assert np.array_equal(a, b), f"frame {i} differs from the uninterrupted render"


def test_changed_key_is_not_served_a_stale_segment(tmp_path):
    reel = build_reel(tmp_path / "reel.mp4", lengths=(20, 20))
    env = _env(tmp_path)
    k0 = reel.key_png(tmp_path, 0)
    cmd = _cmd(reel, tmp_path / "a.mp4", {0: k0})
    seg_dir = tmp_path / ".a.mp4.hueshot-render"
    r = subprocess.run(cmd + ["--keep-segments"], env=env, cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    before = {p.name for p in segment_files(seg_dir)}
    other = reel.frames[0][:, ::-1].copy()                  # a different key image for frame 0
    from tests.conftest import write_png
    write_png(k0, other)
    r = subprocess.run(cmd + ["--keep-segments"], env=env, cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    after = {p.name for p in segment_files(seg_dir)}
    assert "resumed: 1 of 2 segments" in r.stderr               # the grey shot is reused, shot 1 is not
    assert len(after - before) == 1
    with av.open(str(tmp_path / "a.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 40


def test_resume_on_a_truncated_reel_renders_the_readable_frames_like_a_plain_render(tmp_path, capsys, monkeypatch):
    """--resume on a reel whose file ends early (its header announces more): exit 3 with the
    readable frames written and where it breaks, as without --resume (the last shot, grey,
    ended at the break and was refused before); a key past the break is refused (exit 1)."""
    from app.cli import main
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "_cache"))
    reel = build_reel(tmp_path / "reel.mkv", lengths=(20, 26, 22, 9, 30))
    data = reel.video.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    key = reel.key_png(tmp_path, 0)
    outs = {}
    for name, extra in (("plain", []), ("resume", ["--resume"])):
        out = tmp_path / f"{name}.mp4"
        code = main(["propagate", str(cut), "-o", str(out), "--key", f"0={key}", "--method", "flow", "-q", *extra])
        err = capsys.readouterr().err
        assert code == 3 and "truncated at frame" in err and "readable frames" in err, (name, err)
        with av.open(str(out)) as c:
            outs[name] = sum(1 for _ in c.decode(video=0))
    assert outs["plain"] == outs["resume"] > 20
    assert not (tmp_path / ".resume.mp4.hueshot-render").exists()
    late = reel.key_png(tmp_path, 100)
    code = main(["propagate", str(cut), "-o", str(tmp_path / "late.mp4"), "--key", f"0={key}",
                 "--key", f"100={late}", "--method", "flow", "-q", "--resume"])
    err = capsys.readouterr().err
    assert code == 1 and "lie after the point where" in err, err


def _planes(path: Path) -> tuple[str, list[list[np.ndarray]]]:
    with av.open(str(path)) as c:
        out = []
        for f in c.decode(video=0):
            item = 2 if f.format.name.endswith("10le") else 1
            dt = np.uint16 if item == 2 else np.uint8
            out.append([np.frombuffer(memoryview(p), dt).reshape(p.height, p.line_size // item)[:, :p.width].copy()
                        for p in f.planes])
        return f.format.name, out


def test_resume_writes_the_plain_renders_h264_and_prores_planes(reel, tmp_path):
    """--resume (and --farm: the same segments and join) into H.264 or ProRes writes the planes a
    plain render writes: the source's Y' untouched on a grey shot, the same chroma. The
    segments were RGB and the join went back to Y'CbCr through swscale: Y' moved by a code on
    grey shots and up to 6 on coloured ones, and lossless H.264 (crf 0) showed it."""
    from app.cli import main
    (a0, _b0), (a1, b1), _ = reel.shots
    key = reel.key_png(tmp_path, a0)
    for out, extra in ((tmp_path / "x.mp4", ["--crf", "0"]), (tmp_path / "x.mov", ["--format", "prores"])):
        got = {}
        for mode in ((), ("--resume",)):
            o = out.with_name(f"{out.stem}{len(mode)}{out.suffix}")
            assert main(["propagate", str(reel.video), "-o", str(o), "--key", f"{a0}={key}", "--method", "flow",
                         "-q", *extra, *mode]) == 0
            got[mode] = _planes(o)
        (fa, plain), (fb, resumed) = got[()], got[("--resume",)]
        assert fa == fb and len(plain) == len(resumed) == len(reel.grey)
        for i, (p, r) in enumerate(zip(plain, resumed)):
            for k, (x, y) in enumerate(zip(p, r)):
                assert np.array_equal(x, y), (out.suffix, i, k, int(np.abs(x.astype(int) - y).max()))


def test_short_shots_share_a_segment_and_render_as_the_plain_render(tmp_path, capsys, monkeypatch):
    """A film's thousands of 1-3 s shots as one segment file each paid ~0.5 s of start-up per
    shot: a resumed render of a 1,682-shot reel took 12-20 minutes against 70 s for a plain
    one. Consecutive short shots now share a segment (--segment-frames, default 240): here 8
    shots of 12 frames in groups of 3, with keys in some shots and grey ones between. The
    output is the plain render's frame for frame (propagation stays inside each shot of a
    segment), and a changed key renders only its own segment again."""
    from app.cli import main
    from tests.conftest import write_png
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "_cache"))
    reel = build_reel(tmp_path / "reel.mp4", lengths=(12,) * 8)
    keyed = [reel.shots[i][0] for i in (0, 2, 4, 7)]           # shots 2, 4, 6 and 7 stay grey
    keys = {f: reel.key_png(tmp_path, f) for f in keyed}
    args = [a for f, p in keys.items() for a in ("--key", f"{f}={p}")]
    assert main(["propagate", str(reel.video), "-o", str(tmp_path / "plain"), "--method", "flow", "-q", *args]) == 0
    cmd = ["propagate", str(reel.video), "-o", str(tmp_path / "seg"), "--method", "flow", "--resume",
           "--segment-frames", "30", "--keep-segments", *args]
    assert main(cmd) == 0
    err = capsys.readouterr().err
    assert "method flow, device CPU" in err, err              # the summary named no device
    folder = tmp_path / ".seg.hueshot-render"
    names = sorted(p.name for p in segment_files(folder))
    assert [n.split("_")[2:4] for n in names] == [["0", "35"], ["36", "71"], ["72", "95"]], names
    assert all(f"frames {r}: no key" in err for r in ("12..23", "36..47", "60..71", "72..83")), err  # shots, not segments
    plain, seg = read_pngs(tmp_path / "plain"), read_pngs(tmp_path / "seg")
    assert len(plain) == len(seg) == 96
    for i, (a, b) in enumerate(zip(plain, seg)):
        assert np.array_equal(a, b), f"frame {i} differs from the plain render"
    write_png(keys[keyed[2]], reel.frames[keyed[2]][:, ::-1].copy())   # shot 5's key changes: segment 2
    assert main(cmd) == 0
    err = capsys.readouterr().err
    assert "resumed: 2 of 3 segments were already rendered" in err, err
    assert len(set(p.name for p in segment_files(folder)) - set(names)) == 1


def test_resume_reports_progress_over_the_whole_render(tmp_path, monkeypatch):
    """Each segment's render counted its own frames 0..N again ('rendering 10/10 frames', 248
    times on a film): the progress is now the whole range's, never going back, to its end."""
    from app.core.reels.reel import prepare, render_resumable
    from app.core.render import RenderJob
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "_cache"))
    reel = build_reel(tmp_path / "reel.mp4", lengths=(20, 20, 20))
    job = RenderJob(input=reel.video, output=tmp_path / "o.mp4", keys={0: reel.key_png(tmp_path, 0)},
                    method="flow", segment_frames=1)
    prepare(job)
    seen = []
    render_resumable(job, progress=seen.append)
    renders = [(p.done, p.total) for p in seen if p.stage == "render"]
    assert renders and all(t == 60 for _, t in renders), renders
    dones = [d for d, _ in renders]
    assert dones == sorted(dones) and dones[-1] == 60, dones


def _eraser_only_renders(reel, tmp_path, segment_frames, extra=()):
    """Shot 2 holds only an eraser stroke: (plain render's frames, --resume's frames, their
    stderr)."""
    import json
    hints = tmp_path / "hints.json"
    hints.write_text(json.dumps([{"frame": 30, "points": [[0.3, 0.5], [0.6, 0.5]], "radius": 0.05,
                                  "erase": True}]))
    key = {0: reel.key_png(tmp_path, 0)}
    env = _env(tmp_path)
    outs, errs = {}, []
    for name, seg in (("plain", None), ("resume", segment_frames)):
        outs[name] = tmp_path / name
        r = subprocess.run(_cmd(reel, outs[name], key, seg) + ["--hints", str(hints), *extra], env=env, cwd=REPO,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        errs.append(r.stderr)
    plain, resumed = read_pngs(outs["plain"]), read_pngs(outs["resume"])
    assert len(resumed) == len(plain) == len(reel.frames)
    for a, b in zip(plain, resumed):
        np.testing.assert_array_equal(a, b)
    return plain, resumed, errs


@pytest.mark.parametrize("segment_frames", ["1", "80"])   # the eraser's shot alone; with the keyed shot
def test_a_shot_whose_only_strokes_erase_renders_in_segments_as_the_plain_render(reel, tmp_path, segment_frames):
    """--resume (and the farm: the same segments) failed on a reel whose shot 2 holds only an
    eraser stroke ('shot 2 (frames 20..45): nothing to propagate (...: all 1 stroke(s) erase)'),
    which a plain render renders grey."""
    _, _, errs = _eraser_only_renders(reel, tmp_path, segment_frames)
    for err in errs:
        assert "shot at frames 20..45: its hint strokes have no colour" in err, err


@pytest.mark.parametrize("hint_method", ["prior", "prior+spread"])
def test_an_eraser_only_shot_under_the_prior_renders_in_segments_as_the_plain_render(reel, tmp_path, hint_method):
    """Under the prior's hint methods a shot whose only strokes erase gets the prior's colour in
    a plain render; its segment, rendered as a job of its own, was refused ('shot 2 (frames
    20..45): nothing to propagate (...: all 1 stroke(s) erase)'), so --resume failed."""
    plain, _, _ = _eraser_only_renders(reel, tmp_path, "1", ["--hint-method", hint_method])
    a, b = reel.shots[1]
    assert max(float(np.abs(f.astype(int) - f.mean(axis=2, keepdims=True)).max()) for f in plain[a:b + 1]) > 0


@pytest.mark.parametrize("stop_at", ["first check", "inside the first segment"])
def test_a_resumable_render_cancelled_before_its_first_segment_leaves_no_render_folder(tmp_path, monkeypatch,
                                                                                        stop_at):
    """``should_stop`` true when the first segment came raised before the clean-up that a stop
    inside a segment (the CLI's SIGINT) runs: an empty render folder was left beside the output."""
    from app.core.reels.reel import prepare, render_resumable
    from app.core.render import RenderCancelled, RenderJob
    from app.core.renderfarm.farm_segments import default_render_dir
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "_cache"))
    reel = build_reel(tmp_path / "reel.mp4", lengths=(20, 20))
    out = tmp_path / "o.mp4"
    job = RenderJob(input=reel.video, output=out, keys={0: reel.key_png(tmp_path, 0)},
                    method="flow", segment_frames=1)
    prepare(job)
    seen = []
    if stop_at == "first check":
        def should_stop():
            return True
    else:
        def should_stop():               # the loop's check passes; the segment's render stops
            seen.append(1)
            return len(seen) > 1
    with pytest.raises(RenderCancelled):
        render_resumable(job, should_stop=should_stop)
    assert not out.exists()
    assert not default_render_dir(out).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_cache", "key_0.png", "reel.mp4"]
