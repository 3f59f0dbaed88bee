"""The render farm on a real Ray cluster: `--farm local:2` writes the frames of the plain
render; a worker SIGKILLed mid-render is replaced and the render still finishes (with audio);
a shot with a broken input fails with its message, the others finish, the exit status says
so, and the next run renders only the missing shot; a cancel stops every task."""
from __future__ import annotations

from app.core.renderfarm.farm_segments import segment_files

import os
import shutil
import signal
from pathlib import Path

import av
import numpy as np

from tests.farm.conftest import FAST, SHOT_LEN, hueshot, read_pngs, reel_frames, save_project

# a farm task per shot (these tests kill, fail and count single shots; by default consecutive
# short shots share a task: farm_segments.SEGMENT_FRAMES)
PER_SHOT = (*FAST, "--segment-frames", "1")


def assert_same_frames(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        d = np.abs(a.astype(np.int16) - b.astype(np.int16))
        assert d.max() == 0, f"frame {i}: max difference {d.max()} levels"


def test_farm_local2_writes_the_plain_render(reel, tmp_path):
    proj, _, plain = reel
    out = tmp_path / "farm_png"
    r = hueshot("render", proj, "-o", out, "--farm", "local:2", *PER_SHOT)
    assert r.returncode == 0, r.stderr
    assert "from 6 segments" in r.stderr
    assert "ETA" in r.stderr                                    # progress of all tasks
    assert_same_frames(read_pngs(out), plain)
    assert not list(tmp_path.glob(".*hueshot-render"))          # the render folder is cleaned up


def test_worker_killed_mid_render_still_finishes(reel, cluster, tmp_path):
    from app.core.renderfarm.farm import Farm
    from app.core.renderfarm.farm_cli import shots_for
    from app.core.project import Project
    from app.core.render import job_from_project
    from app.core.export import ExportSettings
    proj, src, plain = reel
    doc = Project.load(proj)
    out = tmp_path / "farm.mkv"        # lossless FFV1 with the source audio
    job = job_from_project(doc, out, device="cpu", export=ExportSettings(format="ffv1"), method="flow")
    job.segment_frames = 1             # a task per shot
    killed: dict[int, int] = {}        # segment -> pid of the worker killed while running it

    def on_report(done, pids):
        # kill the worker of a task that is running (started, not finished) hard, on up to 3
        # segments: a small shot can finish between two reports, so one try may come too late
        for i, d in done.items():
            if len(killed) < 3 and i not in killed and 0 <= d < SHOT_LEN and pids.get(i) \
                    and pids[i] != os.getpid() and pids[i] not in killed.values():
                try:
                    os.kill(pids[i], signal.SIGKILL)
                except ProcessLookupError:
                    continue
                killed[i] = pids[i]
                return

    seen = []
    with Farm("local") as farm:        # already connected to the module's cluster: reused
        farm.on_report = on_report
        res = farm.render(job, shots_for(job, doc), 72, progress=seen.append)
    assert killed, "no running task was seen"
    # a segment caught mid-render was finished by another worker: the task was retried
    retried = [i for i, pid in killed.items() if res.pids.get(i) not in (None, pid)]
    assert retried, f"every kill came after its task had finished: {killed} vs {res.pids}"
    assert not res.failures, [f.message for f in res.failures]
    assert res.rendered == 6
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(out)) as c:
        assert c.streams.audio, "the source audio is in the output"
        samples = sum(f.samples for f in c.decode(audio=0))
        rate = c.streams.audio[0].rate
    assert abs(samples / rate - 72 / 24) < 0.1            # the whole reel's audio, 3 s
    assert_same_frames(frames, plain)
    renders = [p for p in seen if p.stage == "render"]
    assert renders[-1].done == 72 and any(p.eta is not None and 0 < p.done < 72 for p in renders)


def test_broken_shot_fails_with_its_message_others_finish(reel, cluster, tmp_path):
    import cv2
    _, _, plain = reel
    # the reel as a folder of PNG frames; one frame of shot 4 is broken
    frames, keys = reel_frames()
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, g in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:05d}.png"), g)
    proj = save_project(folder, keys, tmp_path / "folder.hueshot")
    bad = folder / f"{3 * SHOT_LEN + 5:05d}.png"
    good_bytes = bad.read_bytes()
    bad.write_bytes(b"not a png at all")
    out = tmp_path / "out_png"
    r = hueshot("render", proj, "-o", out, "--farm", cluster, *PER_SHOT)
    assert r.returncode == 1, r.stderr
    assert "shot 4 (frames 36..47)" in r.stderr and bad.name in r.stderr
    assert "1 of 6 segments failed; 5 finished" in r.stderr
    assert not out.exists()
    # the finished shots were kept: once the frame is mended only shot 4 is rendered
    bad.write_bytes(good_bytes)
    r = hueshot("render", proj, "-o", out, "--farm", cluster, *PER_SHOT)
    assert r.returncode == 0, r.stderr
    assert "(1 rendered now" in r.stderr
    got = read_pngs(out)
    # the frame folder is lossless, the plain reference was decoded from H.264: compare shot 4
    # against a plain render of the same folder instead
    ref = tmp_path / "plain_folder_png"
    r = hueshot("render", proj, "-o", ref, "-q", *FAST)
    assert r.returncode == 0, r.stderr
    assert_same_frames(got, read_pngs(ref))
    assert len(got) == len(plain)


def test_cancel_stops_every_task(reel, cluster, tmp_path):
    import ray
    import pytest
    from app.core.renderfarm.farm import Farm
    from app.core.project import Project
    from app.core.render import RenderCancelled, job_from_project
    proj, _, _ = reel
    doc = Project.load(proj)
    job = job_from_project(doc, tmp_path / "cancelled.mkv", device="cpu", method="flow")
    job.segment_frames = 1             # a task per shot
    seen = []
    with Farm("local") as farm:
        with pytest.raises(RenderCancelled):
            farm.render(job, doc.shots, 72, progress=seen.append,
                        should_stop=lambda: any(p.done > 0 for p in seen))
    # no task of the cancelled render runs on: the worker CPUs come free and no further shot
    # is written (uncancelled, the 6 shots would all land in the render folder)
    import time
    folder = tmp_path / ".cancelled.mkv.hueshot-render"
    at_cancel = segment_files(folder)
    t = time.monotonic()
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() - t < 20:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU", 0) == 2
    time.sleep(3)
    assert segment_files(folder) == at_cancel and len(at_cancel) < 6
    assert not (tmp_path / "cancelled.mkv").exists()


def test_a_task_started_after_the_cancel_writes_nothing(reel, tmp_path):
    """Ray can start a force-cancelled task again (the killed worker's death reaching the owner
    before the cancel): the task finds the head's cancel flag and writes no segment (a
    cancelled render used to write another one now and then under load)."""
    import pytest
    from app.core.project import Project
    from app.core.render import RenderCancelled, job_from_project
    from app.core.renderfarm.farm import _segment_task_fn
    from app.core.renderfarm.farm_segments import plan_segments
    proj, _, _ = reel
    doc = Project.load(proj)
    job = job_from_project(doc, tmp_path / "out.mkv", device="cpu", method="flow")
    job.segment_frames = 1
    seg = plan_segments(job, doc.shots, 72)[0]
    folder = tmp_path / "render"
    folder.mkdir()
    flag = folder / ".cancelled-1-1"
    flag.touch()
    with pytest.raises(RenderCancelled):
        _segment_task_fn(job, seg, str(folder), None, None, str(flag))   # no reporter: it stops first
    assert sorted(p.name for p in folder.iterdir()) == [flag.name]


def test_farm_ship_sends_the_source_through_the_object_store(reel, cluster, tmp_path):
    proj, _, plain = reel
    out = tmp_path / "shipped_png"
    r = hueshot("render", proj, "-o", out, "--farm", cluster, "--farm-ship", *PER_SHOT)
    assert r.returncode == 0, r.stderr
    assert "6 segment(s) came back through the object store" in r.stderr
    assert_same_frames(read_pngs(out), plain)


def test_bad_farm_addresses_fail_fast_with_a_message(reel):
    proj, _, _ = reel
    r = hueshot("render", proj, "-o", "unused.mp4", "--farm", "local:x", timeout=60)
    assert r.returncode == 2 and "is not an integer" in r.stderr          # a usage error (f9568b1)
    r = hueshot("render", proj, "-o", "unused.mp4", "--farm", "127.0.0.1:1", timeout=60)
    assert r.returncode == 1 and "no Ray cluster answers there" in r.stderr


def test_a_range_that_cuts_a_shot_off_its_key_is_refused_before_the_render_folder(reel, cluster, tmp_path):
    """The farm keeps the plain render's rule for a range: a key in the shot the range cuts is
    refused (the farm left it out and wrote that shot grey), before any render folder is made;
    a range of whole shots renders them with their own keys as the plain render does."""
    import pytest
    from app.core.export import ExportSettings
    from app.core.project import Project
    from app.core.render import KeyframeError, job_from_project
    from app.core.renderfarm.farm import Farm
    proj, _, plain = reel
    doc = Project.load(proj)
    doc.set_range(SHOT_LEN + 4, 2 * SHOT_LEN - 1)           # inside shot 2, after its key
    job = job_from_project(doc, tmp_path / "cut", method="flow", export=ExportSettings(format="png"))
    with Farm("local") as farm:
        with pytest.raises(KeyframeError, match=f"keyframe {SHOT_LEN}: outside the rendered range .* which the range cuts"):
            farm.render(job, doc.shots, 72)
        assert not (tmp_path / "cut").exists() and not list(tmp_path.glob(".*hueshot-render"))
        doc.set_range(SHOT_LEN, 3 * SHOT_LEN - 1)            # shots 2 and 3, whole
        job = job_from_project(doc, tmp_path / "two", method="flow", export=ExportSettings(format="png"))
        farm.render(job, doc.shots, 72)
    assert_same_frames(read_pngs(tmp_path / "two"), plain[SHOT_LEN:3 * SHOT_LEN])


def test_farm_extra_brings_ray_client_for_ray_addresses():
    """`--farm ray://HOST:PORT` (the README's way to an existing cluster) goes through Ray
    Client, which needs ray[client] (grpcio): the farm and test extras asked for plain ray, so
    with `pip install 'hueshot[farm]'` every ray:// address failed ('Ray Client requires pip
    package ray[client]')."""
    import tomllib
    from packaging.requirements import Requirement
    extras = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for name in ("farm", "test"):
        ray_req = [Requirement(r) for r in extras[name] if Requirement(r).name == "ray"]
        assert ray_req and "client" in ray_req[0].extras, (name, extras[name])


def test_farm_through_a_ray_client_address_writes_the_plain_render(reel, cluster, tmp_path):
    """A real Ray Client server on the test cluster: `--farm ray://127.0.0.1:PORT` renders
    every shot there and writes the plain render's frames."""
    import socket
    from ray.util.client.server.server import serve
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = serve("127.0.0.1", port)
    try:
        proj, _, plain = reel
        out = tmp_path / "client_png"
        r = hueshot("render", proj, "-o", out, "--farm", f"ray://127.0.0.1:{port}", *PER_SHOT)
        assert r.returncode == 0, r.stderr
        assert "from 6 segments" in r.stderr
        assert_same_frames(read_pngs(out), plain)
    finally:
        server.stop(0)


def test_ctrl_c_after_the_output_is_written_does_not_say_it_was_not(reel, tmp_path):
    """Ctrl+C in the second or two a local cluster takes to shut down, after the join wrote the
    output: the output is complete and the command says so (exit 0). It said 'every farm task
    was cancelled and OUTPUT was not written (finished segments are kept for the next run)' with
    exit status 130, the output there whole and the render folder (half) removed."""
    import subprocess
    import sys
    import time
    proj, _, plain = reel
    out = tmp_path / "done.mkv"
    p = subprocess.Popen([sys.executable, "-m", "app", "render", str(proj), "-o", str(out), "--farm", "local:1",
                          *FAST], stderr=subprocess.PIPE, text=True)
    try:
        while not out.exists() and p.poll() is None:       # the join renames it into place when complete
            time.sleep(0.005)
        assert p.poll() is None, p.communicate()[1]     # the render ended before the test saw its output
        p.send_signal(signal.SIGINT)
        err = p.communicate(timeout=120)[1]
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert "was not written" not in err and f"wrote {out}" in err
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == len(plain)
    assert not list(tmp_path.glob(".*hueshot-render"))
