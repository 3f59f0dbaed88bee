"""Fixtures of the reliability suite: a clip long enough to stop part way, made once."""
from __future__ import annotations

import pytest

from tests.conftest import Scene, write_png
from tests.reliability.hostile import encode


@pytest.fixture(scope="module")
def render_clip(tmp_path_factory):
    """(clip.mp4, colour key PNG) 320x192, 60 frames, B-frames: about 2 s to render."""
    d = tmp_path_factory.mktemp("clip")
    clip = encode(d / "clip.mp4", frames=60, width=320, height=192)
    key = write_png(d / "key.png", Scene(width=320, height=192).rgb(0))
    return clip, key

