"""The propagation worker: a QObject living in its own QThread.

It owns the compute device, the shot's MediaSource and LumaCache, and runs propagation.
Requests arrive through queued signals (so they are handled in the worker thread, in
order). Every result carries the generation it was computed for. The GUI bumps the
generation on each edit by calling `bump()` directly (a plain int store, atomic under
the GIL), so a running propagation notices between frames and stops; the GUI also drops
any frame whose generation is not current. Results go back only through signals: the
worker never touches a widget.
"""
from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field

import cv2
import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from models.base import HintStroke
from models.color import compose_rgb, rgb_to_ab
from models.keys import key_chroma

log = logging.getLogger(__name__)


@dataclass
class KeySpec:
    """What the worker needs to build one keyframe's chroma."""
    frame: int
    strokes: list[HintStroke] = field(default_factory=list)
    image: np.ndarray | None = None      # imported colour keyframe (RGB, any size = shot size)
    token: tuple = ()                    # identity of the content: unchanged -> reuse chroma


class PropagationWorker(QObject):
    # requests (GUI -> worker; queued because the receiver lives in the worker thread)
    openRequested = Signal(str, int)                 # path, proxy height
    propagateRequested = Signal(int, object, int, object)  # generation, [KeySpec], focus, frames (None = all)
    deviceRequested = Signal(str, str)               # device preference, method

    # results (worker -> GUI)
    opening = Signal(int, int)                       # frames decoded, total
    opened = Signal(object, object)                  # MediaInfo, LumaCache
    openFailed = Signal(str, str)                    # path, message
    started = Signal(int, int)                       # generation, frames to compute
    frameReady = Signal(int, int, object, object)    # generation, index, ab (proxy), rgb (proxy)
    finished = Signal(int, bool, float)              # generation, completed, seconds
    failed = Signal(str)                             # error message (already logged)
    deviceReady = Signal(str, str)                   # description, method

    def __init__(self):
        super().__init__()
        self.generation = 0
        self.luma = None
        self.info = None
        self.device = None
        self.method = None
        self._propagator = None
        self._key_cache: dict[int, tuple[tuple, np.ndarray]] = {}
        self._open_token = 0
        self.store = None       # FrameStore, set by the GUI after open; thread-safe puts
        self.openRequested.connect(self._open)
        self.propagateRequested.connect(self._propagate)
        self.deviceRequested.connect(self._set_device)

    # Called from the GUI thread: a plain attribute store the worker reads between frames.
    def bump(self, generation: int) -> None:
        self.generation = generation

    def cancel_open(self) -> None:
        self._open_token += 1

    @Slot(str, str)
    def _set_device(self, preference: str, method: str) -> None:
        from models.device import describe, pick_device
        from models.registry import DEFAULT_METHOD, get_propagator
        try:
            device = pick_device(preference)
            method = method or DEFAULT_METHOD
            self._propagator = get_propagator(method, device)
        except Exception as e:  # DeviceUnavailable, unknown method: say so, keep the old one
            log.error("device/method %s/%s: %s", preference, method, e)
            self.failed.emit(f"Cannot use device '{preference}' / method '{method}': {e}\n"
                             f"Still using: {describe(self.device) if self.device is not None else 'none'}")
            if self.device is not None:
                self.deviceReady.emit(describe(self.device), self.method or "")
            return
        self.device, self.method = device, method
        self.deviceReady.emit(describe(device), method)

    @Slot(str, int)
    def _open(self, path: str, proxy_height: int) -> None:
        from app.core.media import LumaCache, open_media
        token = self._open_token
        self._key_cache.clear()
        try:
            src = open_media(path)
            try:
                last = [0.0]

                def progress(done, total):
                    now = time.monotonic()
                    if now - last[0] > 0.05 or done == total:   # ~20 updates/s is plenty
                        last[0] = now
                        self.opening.emit(done, total)

                luma = LumaCache.build(src, proxy_height, progress=progress,
                                       should_stop=lambda: token != self._open_token)
                info = src.info
            finally:
                src.close()
        except Exception as e:
            log.exception("opening %s", path)
            self.openFailed.emit(path, str(e))
            return
        if token != self._open_token:
            return
        self.luma, self.info = luma, info
        self.opened.emit(info, luma)

    def _key_ab(self, spec: KeySpec, earlier: dict[int, np.ndarray], stale) -> np.ndarray | None:
        """Chroma of one keyframe at proxy size.

        Built by models.keys.key_chroma (the render does the same); cached per frame by the
        content of the frame and of the keys its base comes from. None when a newer edit made
        the work stale."""
        w, h = self.luma.size
        from_earlier = spec.image is None and bool(spec.strokes) and bool(earlier)
        token = spec.token + ((tuple(self._key_cache[k][0] for k in sorted(earlier)),) if from_earlier else ())
        cached = self._key_cache.get(spec.frame)
        if cached is not None and cached[0] == token:
            return cached[1]
        image_ab = None
        if spec.image is not None:
            img = spec.image
            if img.shape[1] != w or img.shape[0] != h:
                img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
            image_ab = rgb_to_ab(img)
        ab = key_chroma(self.luma, spec.frame, image_ab, spec.strokes, earlier if from_earlier else {},
                        self._propagator, stale)
        if ab is None:
            return None               # stopped by a newer edit
        self._key_cache[spec.frame] = (token, ab)
        return ab

    @Slot(int, object, int, object)
    def _propagate(self, generation: int, specs: list, focus: int, frames=None) -> None:
        """Propagate the keys of `specs`; `frames` limits the run to those frames (the export
        asks for the ones still missing under the current generation)."""
        if generation != self.generation or self.luma is None:
            return          # superseded before it started: nothing to do
        t0 = time.perf_counter()
        stale = lambda: generation != self.generation  # noqa: E731
        try:
            if self._propagator is None:
                self._set_device("auto", "")
            keys = {}
            shown_focus = False
            # In time order: a later key's base comes from the keys before it. The edited
            # keyframe is on screen as soon as its own chroma exists.
            for spec in sorted(specs, key=lambda s: s.frame):
                if stale():
                    self.finished.emit(generation, False, time.perf_counter() - t0)
                    return
                if 0 <= spec.frame < len(self.luma):
                    ab = self._key_ab(spec, dict(keys), stale)
                    if ab is None:
                        self.finished.emit(generation, False, time.perf_counter() - t0)
                        return
                    keys[spec.frame] = ab
                    if spec.frame == focus and (frames is None or focus in frames):
                        self._emit(generation, focus, ab)
                        shown_focus = True
            for f in list(self._key_cache):
                if f not in keys:
                    del self._key_cache[f]
            wanted = None if frames is None else sorted(set(int(f) for f in frames))
            self.started.emit(generation, len(self.luma) if wanted is None else len(wanted))
            if not keys:
                self.finished.emit(generation, True, time.perf_counter() - t0)
                return
            show_focus = shown_focus
            done = set()
            for pf in self._propagator.run(self.luma, keys, frames=wanted, should_stop=stale, focus=focus):
                if stale():
                    break
                done.add(pf.index)
                if pf.index == focus and show_focus:
                    continue
                self._emit(generation, pf.index, pf.ab)
            completed = not stale()
        except Exception as e:
            log.error("propagation failed:\n%s", traceback.format_exc())
            self.failed.emit(f"Propagation failed: {type(e).__name__}: {e}")
            self.finished.emit(generation, False, time.perf_counter() - t0)
            return
        self.finished.emit(generation, completed, time.perf_counter() - t0)

    def _emit(self, generation: int, index: int, ab: np.ndarray) -> None:
        ab = np.ascontiguousarray(ab, np.float32)
        rgb = compose_rgb(self.luma[index], ab)      # compose here: the GUI thread only paints
        if self.store is not None and generation == self.generation:
            self.store.put(index, ab, rgb, generation)  # any disk spill happens here, not in the GUI
        self.frameReady.emit(generation, index, ab, rgb)


class WorkerThread:
    """Owns the QThread and the worker living in it; stop() on shutdown."""

    def __init__(self):
        self.thread = QThread()
        self.thread.setObjectName("hueshot-propagation")
        self.worker = PropagationWorker()
        self.worker.moveToThread(self.thread)
        self.thread.start()

    def stop(self, timeout_ms: int = 5000) -> None:
        self.worker.bump(-1)          # any running propagation stops at the next frame
        self.worker.cancel_open()
        self.thread.quit()
        if not self.thread.wait(timeout_ms):
            log.warning("propagation thread did not stop within %d ms", timeout_ms)
