"""`hueshot propagate --auto`: a shot with neither key nor hints is coloured by the prior."""
from __future__ import annotations

import av
import numpy as np

from app.cli import EXIT_ERROR, EXIT_OK, main
from models.color import rgb_to_ab


def test_propagate_auto_colours_a_grey_shot(grey_clip, tmp_path, capsys):
    out = tmp_path / "auto.mkv"
    code = main(["propagate", str(grey_clip.video), "-o", str(out), "--format", "ffv1", "--auto", "-q"])
    assert code == EXIT_OK, capsys.readouterr().err
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 24
    # colour came from somewhere: the output is not grey (the input is)
    assert float(np.abs(rgb_to_ab(frames[0])).mean()) > 0.5


def test_propagate_without_key_hints_or_auto_names_the_option(grey_clip, tmp_path, capsys):
    code = main(["propagate", str(grey_clip.video), "-o", str(tmp_path / "x.mkv"), "-q"])
    assert code == EXIT_ERROR
    assert "--auto" in capsys.readouterr().err
