"""Stopping a render part way, in child processes: cancel through render(job, should_stop=...)
during H.264 mp4 and mkv encodes, SIGINT/SIGTERM/SIGHUP during `hueshot propagate`.

A signal death (the SIGSEGV this suite was written for) fails; so does any partial file
beside the output, a spill folder in TMPDIR, or an output that exists after a stop. The
quick versions run in the normal suite; the 50-try loops are marked `reliability_long`
(`.venv/bin/python -m pytest -m reliability_long tests/reliability`)."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.reliability.runner import Tally, cancel_once, frames_in, leftovers, report, rng, signal_once

FRAMES = 60


def _cancel_loop(render_clip, tmp_path, ext: str, tries: int, seed: int) -> Tally:
    clip, key = render_clip
    r = rng(seed)
    tally = Tally()
    for k in range(tries):
        d = tmp_path / f"c{k}"
        d.mkdir(parents=True)
        out = d / f"out{ext}"
        # should_stop is asked once per frame in the luma pass and once per frame after it
        after = r.randint(1, 2 * FRAMES + 4)
        rc, text = cancel_once(clip, key, out, d / "tmp", after)
        done = "DONE" in text
        ok = ("CANCELLED" in text and not out.exists()) or (done and frames_in(out) == FRAMES)
        tally.add(rc, leftovers(d, d / "tmp"), ok and rc == 0, f"after={after} {text[-300:]}")
    return tally


def _argv(clip, key, out) -> list[str]:
    return ["propagate", str(clip), "-o", str(out), "--key", f"0={key}", "--method", "flow", "--no-shots"]


def _signal_loop(render_clip, tmp_path, sig: int, tries: int, seed: int) -> Tally:
    clip, key = render_clip
    r = rng(seed)
    tally = Tally()
    for k in range(tries):
        d = tmp_path / f"s{k}"
        d.mkdir(parents=True)
        out = d / "out.mp4"
        rc, err, aim = signal_once(_argv(clip, key, out), out, d / "tmp", sig, r)
        finished = rc == 0
        ok = (finished and frames_in(out) == FRAMES) or (rc == 128 + sig and not out.exists())
        tally.add(rc, leftovers(d, d / "tmp"), ok, f"aim={aim} {err[-300:]}")
    return tally


def _break_loop(tmp_path, tries: int, seed: int) -> Tally:
    """The input breaks in the second decode pass while the encoder is busy: the error path
    must stop the stages before it aborts the encoder."""
    import subprocess
    import sys

    from tests.conftest import Scene, write_png
    from tests.reliability.runner import CHILD, child_env
    r = rng(seed)
    sc = Scene(width=320, height=192)
    tally = Tally()
    for k in range(tries):
        d = tmp_path / f"b{k}"
        (d / "frames").mkdir(parents=True)
        for i in range(40):
            write_png(d / "frames" / f"{i:04d}.png", sc.gray(i))
        key = write_png(d / "key.png", sc.rgb(0))
        out = d / r.choice(["out.mp4", "out.mkv"])
        n = r.randint(2, 39)
        p = subprocess.run([sys.executable, str(CHILD), "break2", str(d / "frames"), str(key), str(out), str(n)],
                           capture_output=True, text=True, env=child_env(d / "tmp"), timeout=240)
        ok = f"frame {n}" in p.stdout and not out.exists()
        tally.add(p.returncode, leftovers(d, d / "tmp"), ok, f"n={n} {(p.stdout + p.stderr)[-300:]}")
    return tally


def test_input_breaks_in_second_pass(tmp_path):
    _check(_break_loop(tmp_path, 1, seed=4), "input breaks in pass 2 (quick)")


@pytest.mark.reliability_long
def test_input_breaks_in_second_pass_30(tmp_path):
    _check(_break_loop(tmp_path, 30, seed=int(os.environ.get("HUESHOT_SEED", 1))), "input breaks in pass 2 (long)")


def _check(tally: Tally, name: str) -> None:
    report(tally.line(name))
    assert tally.ok(), f"{tally.line(name)}\n" + "\n".join(tally.notes[:5])


def test_cancel_during_encode(render_clip, tmp_path):
    """One cancel at a random point into an mp4 and one into an mkv (the long loop: 50 each)."""
    for ext in (".mp4", ".mkv"):
        _check(_cancel_loop(render_clip, tmp_path / ext[1:], ext, 1, seed=11), f"cancel {ext} (quick)")


def test_signals_during_render(render_clip, tmp_path):
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        _check(_signal_loop(render_clip, tmp_path / signal.Signals(sig).name, sig, 1, seed=int(sig)),
               f"{signal.Signals(sig).name} (quick)")


@pytest.mark.reliability_long
@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_cancel_during_encode_50(render_clip, tmp_path, ext):
    _check(_cancel_loop(render_clip, tmp_path, ext, 50, seed=int(os.environ.get("HUESHOT_SEED", 1))),
           f"cancel {ext} (long)")


@pytest.mark.reliability_long
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["INT", "TERM", "HUP"])
def test_signal_during_render_50(render_clip, tmp_path, sig):
    tries = int(os.environ.get("HUESHOT_TRIES", 50 if sig != signal.SIGHUP else 20))
    _check(_signal_loop(render_clip, tmp_path, sig, tries,
                        seed=int(os.environ.get("HUESHOT_SEED", 1)) + int(sig)),
           f"{signal.Signals(sig).name} (long)")


def _gui_quit_loop(tmp_path, tries: int) -> Tally:
    """The editor opened, painted, exported (one export cancelled), saved and quit with Ctrl+Q,
    in a child: a fatal error at exit (none_dealloc is a SIGABRT) or a leftover fails."""
    import subprocess
    import sys

    from tests.conftest import Scene, encode_clip
    from tests.reliability.runner import child_env
    clip = encode_clip(tmp_path / "clip.mp4", (Scene().gray(i) for i in range(24)))
    tally = Tally()
    for k in range(tries):
        d = tmp_path / f"g{k}"
        d.mkdir()
        env = child_env(d / "tmp")
        env["HUESHOT_CACHE_DIR"] = str(d / "cache")
        env["HUESHOT_RECOVERY_DIR"] = str(d / "recovery")
        p = subprocess.run([sys.executable, str(Path(__file__).with_name("child_gui.py")), str(clip), str(d)],
                           capture_output=True, text=True, env=env, timeout=300)
        text = p.stdout + p.stderr
        ok = ("QUIT" in p.stdout and "Fatal Python error" not in text and "EXPORT h264 False" in p.stdout
              and "EXPORT ffv1 True" in p.stdout and not (d / "cancelled.mp4").exists())
        tally.add(p.returncode, leftovers(d, d / "tmp"), ok, text[-400:])
    return tally


def test_editor_quits_cleanly_after_cancelled_export(tmp_path):
    _check(_gui_quit_loop(tmp_path, 1), "editor quit after export cancel (quick)")


@pytest.mark.reliability_long
def test_editor_quits_cleanly_10(tmp_path):
    _check(_gui_quit_loop(tmp_path, 10), "editor quit after export cancel (long)")
