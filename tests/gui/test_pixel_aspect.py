"""The viewer shows a non-square-pixel source (PAL/NTSC SD, HDV) at its display aspect."""
from __future__ import annotations

from fractions import Fraction

import av

from tests.conftest import Scene, mux_frames
from tests.gui.conftest import open_shot, seek_shown


def _pal_clip(path, sar=(64, 45), frames=4):
    sc = Scene(width=160, height=96)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 160, 96, "yuv420p"
        s.codec_context.sample_aspect_ratio = Fraction(*sar)
        s.options = {"preset": "ultrafast"}
        mux_frames(out, s, (sc.gray(i) for i in range(frames)))
    return path


def test_the_viewer_shows_a_pal_widescreen_frame_at_16_9(qtbot, window, grey_clip, tmp_path):
    """A 64:45 PAL frame was drawn with square pixels (5:4 for a 16:9 picture), so the editor
    showed everyone squeezed; the export keeps the aspect, the viewer must show it too."""
    open_shot(qtbot, window, _pal_clip(tmp_path / "pal.mp4"))
    seek_shown(qtbot, window, 0)
    v = window.viewer
    r = v.image_rect()
    assert abs(r.width() / r.height() - 160 * 64 / (96 * 45)) < 0.01
    # a stroke's normalised point maps to the same place and back
    x, y = v.to_norm(v.from_norm(0.25, 0.75))
    assert abs(x - 0.25) < 1e-6 and abs(y - 0.75) < 1e-6
    # a square-pixel shot opened next is shown square again
    open_shot(qtbot, window, grey_clip.video)
    seek_shown(qtbot, window, 0)
    r = v.image_rect()
    assert abs(r.width() / r.height() - 160 / 96) < 0.01


def test_a_key_image_at_the_display_size_is_imported(qtbot, window, tmp_path):
    """Frame > Recolor keyframe refused a still made at a PAL frame's display size."""
    import cv2

    from tests.conftest import write_png
    open_shot(qtbot, window, _pal_clip(tmp_path / "pal.mp4"))
    seek_shown(qtbot, window, 0)
    sc = Scene(width=160, height=96)
    shown = write_png(tmp_path / "shown.png", cv2.resize(sc.rgb(0), (228, 96), interpolation=cv2.INTER_CUBIC))
    assert window.import_keyframe(str(shown))
    key = window.doc.key_image(0)
    assert key is not None and key.shape == (96, 160, 3)
    other = write_png(tmp_path / "other.png", cv2.resize(sc.rgb(0), (200, 96)))
    errors = []
    window._error = errors.append
    assert not window.import_keyframe(str(other))
    assert "200x96" in errors[0] and "shown 228x96" in errors[0]
