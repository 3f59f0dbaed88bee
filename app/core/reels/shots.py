"""Shots of a reel: cut detection on the proxy luma, and propagation that never crosses a cut.

Cuts come from PySceneDetect's AdaptiveDetector (a content detector whose threshold follows
the average change around each frame, so camera motion and pans do not read as cuts), fed
the proxy frames the luma pass already decodes: `ShotDetector.feed` is called once per frame
by whoever decodes (app.core.reels.lumastore), never a second decode of the file.

A shot is an inclusive frame range ``(start, end)`` in source frame indices; a list of shots
covers the source (or a render range) without gaps or overlaps, in order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

import cv2
import numpy as np

from models.base import HintStroke, PropagatedFrame

# Detection runs on a small copy of the proxy frame (PySceneDetect's own default downscale
# is to ~256 px wide); the detector's cost then does not grow with the proxy size.
DETECT_WIDTH = 256
# A shot shorter than this is merged into the previous one (flashes, single bad frames).
MIN_SHOT_LEN = 8
# A cut after which the picture comes back (within FLASH_MAX frames) to what it was before the
# cut is a flash or a few bad frames, not a cut. "Back": a frame after the cut is closer to the
# frame before the cut than to the cut's own frame (mean difference under FLASH_RATIO of it),
# which does not depend on how fast the camera moves. Pictures compared FLASH_SIDE px wide.
FLASH_MAX = 3
FLASH_SIDE = 64
FLASH_RATIO = 0.9

Shot = tuple[int, int]   # inclusive (start, end)


class ShotDetector:
    """Feed proxy luma frames in order (uint8, any size); `shots(n)` gives the shot list."""

    def __init__(self, adaptive_threshold: float = 2.5, min_content_val: float = 15.0,
                 min_shot_len: int = MIN_SHOT_LEN, start: int = 0):
        """``start``: the first frame fed (a scan that resumes part way)."""
        from scenedetect.detectors import AdaptiveDetector, ContentDetector
        # Frames are fed grey: hue and saturation carry nothing. Luma plus edge changes
        # (weight 1 each) and a ratio threshold of 2.5 (PySceneDetect's default is 3.0) found
        # every cut of four montages of the shared clips where luma alone at 3.0 missed 2 of 56
        # (cuts between two hand-held, fast-moving shots), with no cut inside any single clip.
        weights = ContentDetector.Components(delta_hue=0.0, delta_sat=0.0, delta_lum=1.0, delta_edges=1.0)
        self._det = AdaptiveDetector(adaptive_threshold=adaptive_threshold, min_scene_len=min_shot_len,
                                     min_content_val=min_content_val, weights=weights)
        self.cuts: list[int] = []      # first frame of every shot after the first
        self._next = start
        self._tiny: dict[int, np.ndarray] = {}     # recent frames, FLASH_SIDE px wide
        self._pending: list[int] = []             # cuts waiting for the frames after them

    def feed(self, index: int, luma_u8: np.ndarray) -> None:
        if index != self._next:
            raise ValueError(f"shot detection needs frames in order: got {index}, expected {self._next}")
        self._next += 1
        g = np.asarray(luma_u8)
        h, w = g.shape[:2]
        if w > DETECT_WIDTH:
            g = cv2.resize(g, (DETECT_WIDTH, max(2, round(h * DETECT_WIDTH / w))), interpolation=cv2.INTER_AREA)
        th = max(2, round(g.shape[0] * FLASH_SIDE / g.shape[1]))
        self._tiny[index] = cv2.resize(g, (FLASH_SIDE, th), interpolation=cv2.INTER_AREA).astype(np.float32)
        self._tiny.pop(index - 4 * (FLASH_MAX + 4), None)
        bgr = cv2.merge([g, g, g])
        self._pending.extend(int(c) for c in self._det.process_frame(index, bgr) if c > 0)
        self._settle(index, final=False)

    def _settle(self, last: int, final: bool) -> None:
        """Cuts whose FLASH_MAX frames after them have been fed (all of them at the end) are
        kept, or dropped as flashes; cuts that would leave a shot shorter than MIN_SHOT_LEN
        after the previous cut are dropped (the detector's own minimum does not stop every one)."""
        keep = []
        for c in sorted(self._pending):
            if not final and last < c + FLASH_MAX:
                keep.append(c)
                continue
            if self._is_flash(c, last) or (self.cuts and c - self.cuts[-1] < MIN_SHOT_LEN):
                continue
            self.cuts.append(c)
        self._pending = keep

    def _is_flash(self, c: int, last: int) -> bool:
        before, at = self._tiny.get(c - 1), self._tiny.get(c)
        if before is None or at is None:
            return False
        after = [self._tiny[k] for k in range(c + 1, min(c + FLASH_MAX, last) + 1) if k in self._tiny]
        return any(cv2.norm(before, a, cv2.NORM_L1) < FLASH_RATIO * cv2.norm(at, a, cv2.NORM_L1) for a in after)

    def shots(self, n: int | None = None) -> list[Shot]:
        n = self._next if n is None else n
        self._pending.extend(int(c) for c in (self._det.post_process(n - 1) or []) if c > 0)
        self._settle(n - 1, final=True)
        cuts = sorted(set(self.cuts))
        if cuts and n - cuts[-1] < MIN_SHOT_LEN:      # a short last shot joins the one before
            cuts = cuts[:-1]
        return shots_from_cuts(cuts, n)


def shots_from_cuts(cuts: Iterable[int], n: int) -> list[Shot]:
    """Inclusive shot ranges covering 0..n-1 from the first frames of shots after the first."""
    bounds = [0] + [c for c in sorted(set(cuts)) if 0 < c < n] + [n]
    return [(a, b - 1) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def validate_shots(shots: Sequence[Sequence[int]], n: int, where: str = "shots") -> list[Shot]:
    """Shots as a clean list covering 0..n-1 in order; ValueError names the first problem."""
    out: list[Shot] = []
    expect = 0
    for i, s in enumerate(shots):
        try:
            a, b = int(s[0]), int(s[1])
        except (TypeError, ValueError, IndexError):
            raise ValueError(f"{where}: shot {i} is not a [start, end] pair: {s!r}") from None
        if a != expect or b < a:
            raise ValueError(f"{where}: shot {i} is {a}..{b}, expected it to start at {expect} and end at or after it")
        out.append((a, b))
        expect = b + 1
    if expect != n:
        raise ValueError(f"{where}: the shots end at frame {expect - 1} but the source has {n} frames")
    return out


def shots_field(value) -> list[Shot]:
    """The project file's "shots" (absent or null: none yet); ValueError says what is wrong.
    Checked against the source's length when a render uses them (validate_shots)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f'"shots" must be a list of [start, end] pairs, got {type(value).__name__}')
    out: list[Shot] = []
    for i, s in enumerate(value):
        if not (isinstance(s, list) and len(s) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in s)):
            raise ValueError(f'"shots"[{i}] must be a [start, end] pair of integers, got {s!r}')
        a, b = s
        if a < 0 or b < a or (out and a != out[-1][1] + 1):
            raise ValueError(f'"shots"[{i}] is {a}..{b}: shots must follow each other without gaps '
                             f'(the previous ends at {out[-1][1] if out else -1})')
        out.append((a, b))
    return out


def clip_shots(shots: Sequence[Shot], start: int, end: int) -> list[Shot]:
    """The shots (cut at the range's ends) covering start..end-1 (``end`` exclusive)."""
    out = []
    for a, b in shots:
        lo, hi = max(a, start), min(b, end - 1)
        if lo <= hi:
            out.append((lo, hi))
    return out


def shot_of(shots: Sequence[Shot], frame: int) -> int:
    """Index of the shot containing ``frame`` (ValueError if none)."""
    for i, (a, b) in enumerate(shots):
        if a <= frame <= b:
            return i
    raise ValueError(f"frame {frame} is in no shot")


# ----------------------------------------------------------------- per-shot propagation
class SubLuma:
    """Frames a..b-1 of a LumaFrames, re-indexed from 0 (a shot seen as a whole clip)."""

    def __init__(self, luma, a: int, b: int):
        self._luma, self._a, self._n = luma, a, b - a
        self.size = getattr(luma, "size", None)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> np.ndarray:
        if not 0 <= i < self._n:
            raise IndexError(i)
        return self._luma[self._a + i]

    def raw(self, i: int) -> np.ndarray:
        return self._luma.raw(self._a + i)


@dataclass
class ShotPlan:
    """What propagation does on one shot (frame indices relative to the render start)."""
    start: int
    end: int                                    # inclusive
    images_ab: dict[int, np.ndarray]            # shot-relative frame -> key chroma (or proxy RGB uint8)
    strokes: dict[int, list[HintStroke]]        # shot-relative frame -> strokes

    @property
    def grey(self) -> bool:
        return not self.images_ab and not self.strokes


def plan_shots(shots: Sequence[Shot], images_ab: dict[int, np.ndarray],
               strokes: dict[int, list[HintStroke]]) -> list[ShotPlan]:
    """Give every key and stroke to the shot that contains its frame (all indices relative)."""
    plans = []
    for a, b in shots:
        plans.append(ShotPlan(a, b, {f - a: v for f, v in images_ab.items() if a <= f <= b},
                              {f - a: v for f, v in strokes.items() if a <= f <= b}))
    return plans


def propagate_shots(propagator, luma, plans: Sequence[ShotPlan],
                    should_stop: Callable[[], bool] = lambda: False,
                    hint_method: str | None = None) -> Iterator[PropagatedFrame]:
    """Each shot propagated on its own (keys, strokes and smoothing stay inside it); shots
    without a key or a stroke come out grey (zero chroma). Indices are those of ``luma``.
    Keys are built per shot (models.keys.build_keys, strokes coloured by `hint_method`), so a
    correction's base is propagated from the keys of its own shot only."""
    from models.color import rgb_to_ab
    from models.keys import build_keys
    size = None
    for plan in plans:
        if should_stop():
            return
        n = plan.end - plan.start + 1
        if plan.grey:
            if size is None:
                size = np.asarray(luma[plan.start]).shape[:2]
            zero = np.zeros(size + (2,), np.float32)
            conf = np.zeros(size, np.float32)
            for i in range(n):
                yield PropagatedFrame(plan.start + i, zero, conf)
            continue
        view = SubLuma(luma, plan.start, plan.end + 1)
        # keys may come as proxy RGB (uint8, the render's compact form): chroma only now
        images = {f: rgb_to_ab(v) if v.dtype == np.uint8 else v for f, v in plan.images_ab.items()}
        plan.images_ab = {}           # this shot's keys are not needed after it
        keys = build_keys(view, images, plan.strokes, propagator, should_stop, hint_method)
        del images
        if keys is None:
            return
        frames = propagator.run(view, keys, should_stop=should_stop)
        try:
            for pf in frames:
                yield PropagatedFrame(plan.start + pf.index, pf.ab, pf.confidence)
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()      # a pipelined method's threads end with its generator


def reel_plans(shots: Sequence[Shot], start: int, end: int, images_ab: dict[int, np.ndarray],
               strokes: dict[int, list[HintStroke]], luma, auto: bool = False) -> list[ShotPlan]:
    """The render's shot plans for source frames start..end-1 (keys and strokes relative to
    ``start``). With ``auto``, a shot nobody coloured gets its first frame from the learned prior."""
    from app.core.render import RenderError
    rel = [(a - start, b - start) for a, b in clip_shots(shots, start, end)]
    try:
        validate_shots(rel, end - start, "the project's shots")
    except ValueError as exc:
        raise RenderError(f"{exc} (frames {start}..{end - 1} are rendered); detect the shots again") from None
    plans = plan_shots(rel, images_ab, strokes)
    if auto:
        from models.hinting.hints import auto_colorize
        for p in plans:
            if p.grey:
                p.images_ab = {0: auto_colorize(luma[p.start])}
    return plans
