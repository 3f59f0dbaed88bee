"""File > Export keeps the source's timecode, starting at the exported range's first frame:
a .mov shot from 10:00:00:00 exported from its in mark at frame 5 says 10:00:00:05, so the
colourised shot conforms back into the edit. It came out with no timecode before."""
from __future__ import annotations

import av

from tests.conftest import Scene, mux_frames, write_png
from tests.gui.conftest import open_shot, seek_shown, wait_done


def _clip(path, frames=16, tc="10:00:00:00"):
    sc = Scene(width=160, height=96)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 160, 96, "yuv420p"
        s.options = {"preset": "ultrafast"}
        s.metadata["timecode"] = tc              # the mov muxer makes a tmcd track of it
        mux_frames(out, s, (sc.gray(i) for i in range(frames)))
    return path, sc


def _export(qtbot, win, out, fmt="h264"):
    dlg = win.export_dialog()
    dlg.set_method(None)                        # as previewed: the preview's chroma, no re-propagation
    dlg.set_format(fmt)
    dlg.path.setText(str(out))
    with qtbot.waitSignal(dlg.finished_export, timeout=60000) as sig:
        assert dlg.start()
    assert sig.args[0], sig.args[1]
    dlg.close()


def _timecode(path):
    with av.open(str(path)) as c:
        data = [s.metadata.get("timecode") for s in c.streams if s.type == "data"]
        v = c.streams.video[0].metadata
        return (v.get("timecode") or v.get("TIMECODE") or c.metadata.get("TIMECODE")), data, \
            sum(1 for _ in c.decode(video=0))


def test_the_editors_export_keeps_the_timecode_of_its_range(qtbot, window, tmp_path):
    video, sc = _clip(tmp_path / "shot.mov")
    win = window
    open_shot(qtbot, win, video)
    assert win.info.timecode == "10:00:00:00"
    seek_shown(qtbot, win, 0)
    assert win.import_keyframe(str(write_png(tmp_path / "key0.png", sc.rgb(0))))
    wait_done(qtbot, win)

    _export(qtbot, win, tmp_path / "whole.mp4")                          # the whole shot
    assert _timecode(tmp_path / "whole.mp4") == ("10:00:00:00", ["10:00:00:00"], 16)

    seek_shown(qtbot, win, 5)
    win.mark_in()
    seek_shown(qtbot, win, 12)
    win.mark_out()
    _export(qtbot, win, tmp_path / "range.mov")                          # the I/O range: 5..12
    assert _timecode(tmp_path / "range.mov") == ("10:00:00:05", ["10:00:00:05"], 8)
    _export(qtbot, win, tmp_path / "range.mkv", fmt="ffv1")
    assert _timecode(tmp_path / "range.mkv") == ("10:00:00:05", [], 8)
