"""A --resume render whose first segment fails (the disk is full) leaves nothing beside the
output: before, an empty `.OUTPUT.hueshot-render/` folder was left behind."""
from __future__ import annotations

from app.cli import EXIT_ERROR, main
from tests.conftest import Scene, encode_clip, write_png


def test_a_resume_that_renders_no_segment_leaves_no_render_folder(tmp_path, small_fs, capsys, monkeypatch):
    monkeypatch.setenv("HUESHOT_CACHE_DIR", str(tmp_path / "_cache"))
    sc = Scene(width=320, height=192)
    clip = encode_clip(tmp_path / "clip.mp4", [sc.gray(i) for i in range(24)])
    key = write_png(tmp_path / "key.png", sc.rgb(0))
    code = main(["propagate", str(clip), "-o", str(small_fs / "o.mkv"), "--format", "ffv1", "--resume",
                 "--key", f"0={key}", "--method", "flow", "-q"])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR, err
    assert "disk full" in err and "the partial output was removed" in err
    assert sorted(p.name for p in small_fs.iterdir()) == []
