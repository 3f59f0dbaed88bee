"""`hueshot bench ... --json PATH` that cannot take the report is refused before the benchmark
runs. Before, it ran to the end (113 s for `--interactive` on one clip, minutes for the full
protocols) and then failed to write the report ("File exists", "Not a directory")."""
from __future__ import annotations

import os

import pytest

from app.cli import EXIT_USAGE, main

# the quickest run of each benchmark that writes a report (each still takes seconds before it)
QUICK = {
    "reel": ["--reel", "--skip-memory", "--skip-psnr", "--skip-cuts", "--size", "64x64"],
    "interactive": ["--interactive", "--max-clips", "1", "--frames", "2", "--rounds", "1", "--no-interactive"],
}


@pytest.mark.parametrize("mode", sorted(QUICK))
@pytest.mark.parametrize("target,piece", [
    ("{tmp}/afile/x.json", "--json {tmp}/afile/x.json: {tmp}/afile is not a folder"),
    ("{tmp}/afile/sub/x.json", "--json {tmp}/afile/sub/x.json: {tmp}/afile is not a folder"),
    ("{tmp}/adir", "--json {tmp}/adir: is a folder; give a file name for the report"),
    ("{tmp}/ro/x.json", "--json {tmp}/ro/x.json: folder {tmp}/ro is not writable"),
    (" ", "--json is empty; give a file name for the report"),
])
def test_a_report_path_that_cannot_be_written_is_refused_first(tmp_path, capsys, mode, target, piece):
    (tmp_path / "afile").write_text("mine")
    (tmp_path / "adir").mkdir()
    (tmp_path / "ro").mkdir()
    if "{tmp}/ro" in target:
        if os.geteuid() == 0:
            pytest.skip("root writes into any folder")
        (tmp_path / "ro").chmod(0o555)
    code = main(["bench", *QUICK[mode], "--json", target.format(tmp=tmp_path)])
    out, err = capsys.readouterr()
    assert code == EXIT_USAGE, err
    assert err.strip() == "hueshot: error: " + piece.format(tmp=tmp_path)
    assert out == ""
    assert (tmp_path / "afile").read_text() == "mine"


def test_a_report_in_a_new_folder_is_written(tmp_path, capsys):
    """Missing folders on the way are made, by every benchmark (the reel one did not)."""
    out = tmp_path / "new" / "deeper" / "r.json"
    code = main(["bench", *QUICK["reel"], f"--json={out}"])
    assert code == 0, capsys.readouterr().err
    assert out.is_file() and out.read_text().startswith("{")
