"""The propagator interface: luma frames and keyframes in, chroma frames out, one at a time.

A propagator is a plain object. `run()` is a generator so a caller (GUI worker, CLI,
benchmark) can stream results and stop between frames. Every propagator works at
proxy resolution; upsampling to the full-resolution luma happens after it (models.upsample).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol, Sequence

import numpy as np


@dataclass
class PropagatedFrame:
    index: int                 # frame index within the shot (0-based)
    ab: np.ndarray             # HxWx2 float32 chroma (OpenCV Lab a, b)
    confidence: np.ndarray     # HxW float32 in [0, 1]


@dataclass
class HintStroke:
    """A brush stroke or point hint painted by the user on one frame.

    Coordinates are normalised ([0,1] of width and height) so strokes survive a change of
    proxy size; `radius` is a fraction of the frame height. `erase` strokes remove hints.
    """
    frame: int
    points: list[tuple[float, float]]
    radius: float
    color: tuple[int, int, int]          # sRGB 0..255
    erase: bool = False
    id: str = field(default="")

    @property
    def has_colour(self) -> bool:
        """A painting stroke whose colour is not a grey (r, g, b not all equal): what a stroke
        must be to give colour of its own."""
        return not self.erase and len(set(self.color)) > 1


class LumaFrames(Protocol):
    """Random access to a shot's luma at proxy resolution: float32 HxW, L in [0, 100]."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> np.ndarray: ...


class Propagator(Protocol):
    name: str

    def run(
        self,
        luma: LumaFrames,
        keys: dict[int, np.ndarray],
        frames: Sequence[int] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        focus: int | None = None,
    ) -> Iterator[PropagatedFrame]:
        """Yield a PropagatedFrame for each wanted frame (all when `frames` is None).

        keys maps a frame index to its chroma (HxWx2 float32 at proxy size); a keyframe's own
        frame is yielded with its chroma and confidence 1. `focus` asks that frames nearest
        to it come first where the method allows. Check `should_stop()` between frames.
        """
        ...


class ListLuma:
    """LumaFrames over an in-memory list (tests, benchmark)."""

    def __init__(self, frames: Sequence[np.ndarray]):
        self._frames = list(frames)

    def __len__(self) -> int:
        return len(self._frames)

    def __getitem__(self, index: int) -> np.ndarray:
        return self._frames[index]
