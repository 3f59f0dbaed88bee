"""A source opened again in the same process reuses its packet index (a render in segments
opens it twice a segment: reading every packet of a 70,000-frame reel took 0.4 s an open), and
a file rewritten at the same path, even with its old size and mtime put back, is indexed
again."""
import os

import av
import numpy as np

from app.core import media
from app.core.media import open_media
from tests.conftest import mux_frames


def _clip(path, n: int, shade: int) -> None:
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=24)
        st.width, st.height, st.pix_fmt = 64, 48, "yuv420p"
        mux_frames(out, st, [np.full((48, 64, 3), (shade + 9 * i) % 256, np.uint8) for i in range(n)])


def test_a_second_open_reuses_the_index_and_a_rewritten_file_is_indexed_again(tmp_path, monkeypatch):
    calls = []
    real = media.VideoSource._index_packets

    def counted(self):
        calls.append(self.path)
        return real(self)
    monkeypatch.setattr(media.VideoSource, "_index_packets", counted)
    clip = tmp_path / "c.mp4"
    _clip(clip, 12, 40)
    for _ in range(3):
        with open_media(clip) as src:
            assert src.info.frame_count == 12
    assert len(calls) == 1
    st = os.stat(clip)
    _clip(tmp_path / "other.mp4", 7, 200)
    os.replace(tmp_path / "other.mp4", clip)
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns))      # the old mtime put back (touch -r)
    with open_media(clip) as src:
        assert src.info.frame_count == 7
        frames = list(src.iter_rgb(0, 7))
    assert len(calls) == 2 and len(frames) == 7
