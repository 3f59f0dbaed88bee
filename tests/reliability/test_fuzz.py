"""A small fuzzer over hint and project JSON: random mutations of valid files (wrong types,
NaN/inf/huge numbers, deep nesting, missing or extra fields). Reading one either gives
checked values or one ProjectError line naming the file; nothing else escapes. A few of
the mutated files also go through the whole CLI (exit 0, 1 or 2, never a traceback).
HUESHOT_FUZZ_CASES sets the number of cases (default 150; the long run uses 2000)."""
from __future__ import annotations

import copy
import json
import math
import os
import random

import pytest

from app.core.project import Project, ProjectError, load_strokes
from tests.conftest import Scene, encode_clip, write_png

WEIRD = [None, True, False, 0, -1, 1, 2, 99, 100, 1e30, -1e30, 1e300, float("nan"), float("inf"),
         float("-inf"), 0.5, -0.0, "", "x", "480", [], [0], [[0, 0]], {}, {"a": 1}, 2**70]


def mutate(value, r: random.Random, depth: int = 0):
    """One random change somewhere in a JSON value."""
    if isinstance(value, dict) and value and r.random() < 0.8:
        k = r.choice(list(value))
        out = dict(value)
        roll = r.random()
        if roll < 0.15:
            del out[k]
        elif roll < 0.25:
            out[r.choice(["zz_new", "extra", k + "_"])] = r.choice(WEIRD)
        else:
            out[k] = mutate(value[k], r, depth + 1)
        return out
    if isinstance(value, list) and value and r.random() < 0.8:
        out = list(value)
        i = r.randrange(len(out))
        roll = r.random()
        if roll < 0.1:
            del out[i]
        elif roll < 0.2:
            out.append(copy.deepcopy(out[i]))
        else:
            out[i] = mutate(out[i], r, depth + 1)
        return out
    if r.random() < 0.05:
        nest = r.choice([30, 70, 5000])
        return json.loads("[" * nest + "]" * nest) if nest < 900 else "DEEP"
    return r.choice(WEIRD)


def dump(value) -> str:
    text = json.dumps(value, allow_nan=True)
    return text.replace('"DEEP"', "[" * 50000 + "]" * 50000)


STROKES = [{"frame": 0, "points": [[0.2, 0.5], [0.3, 0.5]], "radius": 0.05, "color": [200, 40, 40]},
           {"frame": 3, "points": [[0.7, 0.4]], "radius": 0.02, "color": [40, 200, 40], "erase": False, "id": "a"}]


def _cases() -> int:
    return int(os.environ.get("HUESHOT_FUZZ_CASES", 150))


def test_fuzz_hint_files(tmp_path):
    r = random.Random(int(os.environ.get("HUESHOT_SEED", 7)))
    outcomes = {"ok": 0, "refused": 0}
    for k in range(_cases()):
        base = STROKES if r.random() < 0.7 else {"strokes": STROKES}
        data = mutate(base, r)
        for _ in range(r.randint(0, 3)):
            data = mutate(data, r)
        p = tmp_path / f"h{k}.json"
        p.write_text(dump(data))
        try:
            strokes = load_strokes(p)
        except ProjectError as exc:
            msg = str(exc)
            assert msg.startswith(str(p)) and "\n" not in msg, msg
            outcomes["refused"] += 1
            continue
        outcomes["ok"] += 1
        for s in strokes:       # what passes is usable as it is
            assert s.frame >= 0 and 0 < s.radius <= 1 and len(s.color) == 3
            assert all(math.isfinite(x) and math.isfinite(y) for x, y in s.points)
    assert outcomes["refused"] > 0 and outcomes["ok"] > 0, outcomes


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzzproj")
    sc = Scene()
    v = encode_clip(d / "clip.mkv", (sc.gray(i) for i in range(6)))
    doc = Project(v)
    doc.set_keyframe(0, sc.rgb(0))
    doc.set_range(0, 5)
    from models.base import HintStroke
    doc.add_stroke(HintStroke(frame=2, points=[(0.3, 0.3)], radius=0.05, color=(20, 200, 20)))
    doc.set_method("copy_key")
    p = doc.save(d / "base.hueshot")
    return d, json.loads(p.read_text())


def test_fuzz_project_files(project_dir):
    d, base = project_dir
    r = random.Random(int(os.environ.get("HUESHOT_SEED", 8)))
    outcomes = {"ok": 0, "refused": 0}
    import shutil
    for k in range(_cases()):
        data = mutate(base, r)
        for _ in range(r.randint(0, 2)):
            data = mutate(data, r)
        p = d / f"f{k}.hueshot"
        p.write_text(dump(data))
        shutil.copytree(d / "base.hueshot-layers", d / f"f{k}.hueshot-layers", dirs_exist_ok=True)
        try:
            doc = Project.load(p)
        except ProjectError as exc:
            msg = str(exc)
            assert str(p) in msg and "\n" not in msg, msg
            outcomes["refused"] += 1
            continue
        outcomes["ok"] += 1
        assert 64 <= doc.proxy_height <= 4320 and isinstance(doc.method, str)
        doc.save()                          # what loads saves again
        Project.load(p)
    assert outcomes["refused"] > 0 and outcomes["ok"] > 0, outcomes


def test_fuzz_through_cli(project_dir, capsys):
    """Mutated hint files through `hueshot propagate`: exit 0, 1 or 2 and at most one error line."""
    from app.cli import main
    d, base = project_dir
    key = write_png(d / "key.png", Scene().rgb(0))
    r = random.Random(int(os.environ.get("HUESHOT_SEED", 9)))
    for k in range(int(os.environ.get("HUESHOT_FUZZ_CLI", 6))):
        p = d / f"cli{k}.json"
        p.write_text(dump(mutate(STROKES, r)))
        code = main(["propagate", str(d / "clip.mkv"), "-o", str(d / f"cli{k}.mkv"), "--hints", str(p),
                     "--key", f"0={key}", "--method", "copy_key", "-q", "--no-shots"])
        err = capsys.readouterr().err
        errors = [ln for ln in err.splitlines() if "error" in ln]
        assert code in (0, 1, 2) and len(errors) <= 1 and "Traceback" not in err and "internal error" not in err, err


@pytest.mark.reliability_long
def test_fuzz_long(tmp_path, project_dir, monkeypatch):
    monkeypatch.setenv("HUESHOT_FUZZ_CASES", "2000")
    test_fuzz_hint_files(tmp_path)
    test_fuzz_project_files(project_dir)
