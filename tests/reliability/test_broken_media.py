"""Broken endings, whatever the container: faststart mp4 cut at 30/60/95 %, mkv cut the same,
a complete file whose last packet is noise, a file with random bytes appended. The render
writes the readable frames and exits 3 (0 when every frame decodes), the same every run."""
from __future__ import annotations

import os

import pytest

from app.cli import EXIT_ERROR, EXIT_OK, EXIT_TRUNCATED, main
from tests.conftest import Scene, write_png
from tests.reliability.hostile import encode, garbage_tail, pad, truncate
from tests.reliability.runner import frames_in, leftovers, report

FRAMES = 48


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    d = tmp_path_factory.mktemp("broken")
    fs = encode(d / "whole.mp4", frames=FRAMES, faststart=True)
    mk = encode(d / "whole.mkv", frames=FRAMES)
    cases = {"garbage.mp4": garbage_tail(fs, d / "garbage.mp4"), "garbage.mkv": garbage_tail(mk, d / "garbage.mkv"),
             "padded.mp4": pad(fs, d / "padded.mp4"), "padded.mkv": pad(mk, d / "padded.mkv")}
    for f in (0.6, 0.95):
        cases[f"cut{int(f * 100)}.mp4"] = truncate(fs, d / f"cut{int(f * 100)}.mp4", f)
        cases[f"cut{int(f * 100)}.mkv"] = truncate(mk, d / f"cut{int(f * 100)}.mkv", f)
    cases["cut30.mkv"] = truncate(mk, d / "cut30.mkv", 0.3)
    cases["cut30.mp4"] = truncate(fs, d / "cut30.mp4", 0.3)   # no whole frame left
    key = write_png(d / "key.png", Scene().rgb(0))
    return d, cases, key


def _render(d, src, key, out, capsys):
    code = main(["propagate", str(src), "-o", str(out), "--key", f"0={key}", "--method", "copy_key",
                 "--no-shots", "-q"])
    err = capsys.readouterr().err
    return code, err


def _run_case(broken, name, runs, capsys):
    d, cases, key = broken
    results = set()
    for k in range(runs):
        out = d / f"{name}.{k}.mkv"
        code, err = _render(d, cases[name], key, out, capsys)
        assert "Traceback" not in err and len(err.strip().splitlines()) <= 1, err
        n = frames_in(out) if out.exists() else 0
        results.add((code, n))
        assert not leftovers(d, d / "nope"), leftovers(d, d / "nope")
    assert len(results) == 1, f"{name}: different results over {runs} runs: {results}"
    (code, n), = results
    if name.startswith("padded"):
        assert (code, n) == (EXIT_OK, FRAMES), (name, code, n)
    elif name == "cut30.mp4":
        assert code == EXIT_ERROR and n == 0, (name, code, n)
    else:
        assert code == EXIT_TRUNCATED and 0 < n < FRAMES, (name, code, n)
    return code, n


NAMES = ["garbage.mp4", "garbage.mkv", "padded.mp4", "padded.mkv", "cut60.mp4", "cut60.mkv", "cut95.mp4",
         "cut95.mkv", "cut30.mkv", "cut30.mp4"]


@pytest.mark.parametrize("name", NAMES)
def test_broken_ending(broken, name, capsys):
    code, n = _run_case(broken, name, 1, capsys)


@pytest.mark.reliability_long
def test_broken_endings_10_runs_each(broken, capsys):
    lines = []
    for name in NAMES:
        code, n = _run_case(broken, name, 10, capsys)
        lines.append(f"{name}: exit {code}, {n} frames (10 runs, 1 result)")
    for line in lines:
        report("broken ending " + line)


def test_truncation_points_fuzz(tmp_path):
    """Random cut points through mp4 and mkv: the media layer either refuses the file with a
    MediaError or reads a prefix and says where it broke, the same twice."""
    import random

    from app.core.media import LumaCache, MediaError, open_media
    tries = int(os.environ.get("HUESHOT_FUZZ_CUTS", 12))
    r = random.Random(int(os.environ.get("HUESHOT_SEED", 5)))
    srcs = [encode(tmp_path / "a.mp4", frames=24, faststart=True), encode(tmp_path / "a.mkv", frames=24),
            encode(tmp_path / "b.mp4", frames=24)]
    for k in range(tries):
        src = r.choice(srcs)
        cut = truncate(src, tmp_path / f"cut{k}{src.suffix}", r.uniform(0.02, 0.999))
        seen = []
        for _ in range(2):
            try:
                with open_media(cut) as m:
                    luma = LumaCache.build(m, 96)
                    seen.append((len(luma), None if luma.error is None else luma.error.frame_index))
            except MediaError as exc:
                assert str(exc).startswith(str(cut)), exc
                seen.append(("refused", type(exc).__name__))
        assert seen[0] == seen[1], (cut, seen)
        if seen[0][0] != "refused":
            n, broke = seen[0]
            assert n <= 24 and (broke is None) == (n == 24 and broke is None), (cut, seen)
