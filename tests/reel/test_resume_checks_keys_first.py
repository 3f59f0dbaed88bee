"""--resume (and the farm, through the same check) refuses a key image of the wrong size or an
unreadable one before the luma pass, as a plain render does. Before, it was found only when its
shot's segment came: after the whole luma pass and every segment before it (hours on a film),
leaving their segments behind."""
from __future__ import annotations

import numpy as np
import pytest

from app.cli import EXIT_ERROR, main
from tests.conftest import write_png
from tests.reel.conftest import build_reel


@pytest.mark.parametrize("bad", ["small", "broken"])
def test_a_bad_key_of_a_later_shot_is_refused_before_any_frame_is_read(tmp_path, capsys, monkeypatch, bad):
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "_cache"))
    reel = build_reel(tmp_path / "reel.mp4", lengths=(20, 24))
    if bad == "small":
        key = write_png(tmp_path / "late.png", np.zeros((40, 40, 3), np.uint8))
        piece = f"{key}: keyframe image is 40x40 but reel.mp4 is 160x96; keyframes must match the input size"
    else:
        key = tmp_path / "late.png"
        key.write_bytes(b"\x89PNG\r\n\x1a\n broken")
        piece = f"{key}: keyframe image for frame 20: unreadable image"
    out = tmp_path / "out.mkv"
    code = main(["propagate", str(reel.video), "-o", str(out), "--method", "flow", "-q", "--resume",
                 "--segment-frames", "1", "--key", f"0={reel.key_png(tmp_path, 0)}", "--key", f"20={key}"])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR, err
    assert err.strip().startswith(f"hueshot: error: {piece}")
    assert "shot 2" not in err                                  # not found at its segment
    assert not (tmp_path / ".out.mkv.hueshot-render").exists() and not out.exists()
    assert not list((tmp_path / "_cache").rglob("*.bin")) and not list((tmp_path / "_cache").rglob("chunk*"))
