"""`hueshot bench --render` with a bad output, proxy height or frame size is refused as a usage
error before the clip is made; a render that fails gives no figures. Before: each render failed after
the clip was generated and the table still printed those renders' fps as results (exit 1), and
--width/--height 100000 was an internal error (a 40 GB allocation)."""
from __future__ import annotations

import pytest

from app.cli import EXIT_USAGE, main


@pytest.mark.parametrize("extra,piece", [
    (["--output", "{tmp}/nodir/o.mp4"], "o.mp4: output folder {tmp}/nodir does not exist"),
    (["--output", "{tmp}/o.avi"], "o.avi: unsupported output extension '.avi'"),
    (["--output", "{tmp}/full"], "full: output folder is not empty (holds 'x.txt')"),
    (["--output", " "], "--output is empty"),
    (["--proxy-height", "10"], "--proxy-height is 10; allowed: 64..4320"),
    (["--width", "100000", "--height", "100000"], "--width 100000 --height 100000: at most 7680x4320"),
    (["--work", "{tmp}/full/x.txt"], "x.txt: is a file; give a folder"),
])
def test_bad_render_bench_arguments_are_refused_before_any_work(tmp_path, capsys, extra, piece):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("mine")
    argv = ["bench", "--render", "--frames", "4", "--width", "160", "--height", "96", "--no-limit"]
    code = main(argv + [a.format(tmp=tmp_path) for a in extra])
    out, err = capsys.readouterr()
    assert code == EXIT_USAGE, err
    assert piece.format(tmp=tmp_path) in err
    last = err.strip().splitlines()[-1]        # after argparse's usage lines, as the other --render errors
    assert last.startswith("hueshot bench --render: error: ") and piece.format(tmp=tmp_path) in last
    assert "fps" not in out + err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]
    assert (tmp_path / "full" / "x.txt").read_text() == "mine"


def test_a_failed_render_gives_no_figures(tmp_path, small_fs, capsys):
    """A render that fails (a disk that fills up) is said, and its fps is not in a table."""
    work = tmp_path / "work"
    code = main(["bench", "--render", "--frames", "48", "--width", "320", "--height", "192", "--no-limit",
                 "--methods", "flow", "--work", str(work), "--output", str(small_fs / "seq")])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "disk full" in err
    assert "the flow render of round 1 failed (exit 1; its error is above): no figures are given" in err
    assert "| flow |" not in out and "fps" not in out


def test_the_table_gives_what_the_colour_costs_the_encoder(tmp_path, capsys):
    """Beside the limit, each render's own output is run through the limit's work (decode,
    conversions, x264) as the pictures encoded: the rate the coloured content allows. It is
    measured on that render's real output (a grey output would encode like the limit's grey
    frames), and the first frame's time is read from the child's --verbose line."""
    import re
    code = main(["bench", "--render", "--frames", "8", "--width", "192", "--height", "108",
                 "--methods", "flow", "--work", str(tmp_path / "work")])
    out, err = capsys.readouterr()
    assert code == 0, err
    m = re.search(r"flow: the limit's work with its output's coloured frames as the pictures encoded: "
                  r"([\d.]+) fps, ratio ([\d.]+) to the limit; first frame ([\d.]+) s after the command started", out)
    assert m, out
    fps, ratio, first = map(float, m.groups())
    assert fps > 0 and ratio > 0 and 0 < first < 120
