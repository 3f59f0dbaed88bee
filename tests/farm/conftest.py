"""Farm test fixtures: one real local Ray cluster for the module (start-up costs seconds), and a
generated reel of 6 shots (72 frames, 160x96, hard cuts between different scenes, audio) with
a colour keyframe on the first frame of each shot."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import Scene, encode_clip

# Every cluster of these tests stays on loopback (app.core.renderfarm.farm._loopback_only): set before Ray is
# imported here, and inherited by the `hueshot render --farm` processes the tests start.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray = pytest.importorskip("ray", reason="the farm tests need Ray (pip install 'hueshot[farm]')")

SHOT_LEN = 12
FAST = ("--method", "flow")      # the fast method keeps the farm tests short (any method runs the same way)
SHOTS = [(k * SHOT_LEN, k * SHOT_LEN + SHOT_LEN - 1) for k in range(6)]


def reel_scenes() -> list[Scene]:
    """Six scenes whose textures, brightness and motion differ, so each cut is a real cut."""
    import cv2
    colors = [(200, 40, 40), (40, 200, 60), (220, 200, 40), (160, 60, 200), (40, 180, 200), (230, 120, 30)]
    bgs = [(40, 90, 200), (200, 80, 60), (30, 30, 110), (90, 200, 90), (150, 120, 60), (120, 60, 160)]
    out = []
    for k in range(6):
        sc = Scene(obj_color=colors[k], bg_color=bgs[k], pan=2 + k, speed=3 + k % 3)
        rng = np.random.default_rng(100 + k)
        g = 4 + 3 * k
        tex = rng.random((sc.height // g + 1, (sc.width + 400) // g + 1)).astype(np.float32)
        tex = cv2.resize(tex, (sc.width + 400, sc.height), interpolation=cv2.INTER_CUBIC)
        sc._bg_tex = np.clip(0.55 + 0.35 * (tex - 0.5), 0, 1)
        out.append(sc)
    return out


def reel_frames() -> tuple[list[np.ndarray], dict[int, np.ndarray]]:
    frames, keys = [], {}
    for sc in reel_scenes():
        keys[len(frames)] = sc.rgb(0)
        frames += [sc.gray(i) for i in range(SHOT_LEN)]
    return frames, keys


def save_project(source: Path, keys: dict, path: Path) -> Path:
    from app.core.project import Project
    p = Project(source)
    for f, rgb in keys.items():
        p.set_keyframe(f, rgb)
    p.set_shots(SHOTS)                   # the project's own cut list: the head decodes nothing
    return p.save(path)


def hueshot(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def read_pngs(folder: Path) -> list[np.ndarray]:
    import cv2
    return [cv2.imread(str(p))[..., ::-1] for p in sorted(Path(folder).glob("*.png"))]


@pytest.fixture(scope="module")
def reel(tmp_path_factory):
    """(project path, source path, plain render as PNG frames)."""
    d = tmp_path_factory.mktemp("reel")
    frames, keys = reel_frames()
    src = encode_clip(d / "reel.mp4", frames, audio_seconds=len(frames) / 24)
    proj = save_project(src, keys, d / "reel.hueshot")
    r = hueshot("render", proj, "-o", d / "plain_png", "-q", *FAST)
    assert r.returncode == 0, r.stderr
    return proj, src, read_pngs(d / "plain_png")


@pytest.fixture(scope="module")
def cluster():
    """A real local Ray cluster with 2 worker CPUs; yields its address for `--farm ADDRESS`."""
    from app.core.renderfarm.farm import LOOPBACK
    ray.init(num_cpus=2, _node_ip_address=LOOPBACK, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    assert all(n["NodeManagerAddress"] == LOOPBACK for n in ray.nodes()), ray.nodes()
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
