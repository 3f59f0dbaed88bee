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
    # frame 0 carries the prior's automatic chroma (the input is grey): same pattern as
    # models.hinting.hints.auto_colorize on the shot's own luma
    from models.color import rgb_to_luma
    from models.hinting.hints import auto_colorize
    with av.open(str(grey_clip.video)) as c:
        grey0 = next(iter(c.decode(video=0))).to_ndarray(format="rgb24")
    want = auto_colorize(rgb_to_luma(grey0))
    got = rgb_to_ab(frames[0])
    assert float(np.abs(got).max()) > 2.0
    assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.6


def test_propagate_without_key_hints_or_auto_names_the_option(grey_clip, tmp_path, capsys):
    code = main(["propagate", str(grey_clip.video), "-o", str(tmp_path / "x.mkv"), "-q"])
    assert code == EXIT_ERROR
    assert "--auto" in capsys.readouterr().err
