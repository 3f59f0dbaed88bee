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


def plan_frames(specs, n: int, context: str, segment_local: bool) -> tuple[list, dict]:
    """Frame keys and keyframe tokens for these KeySpecs (app.core.cache.frame_keys): the
    worker and the window compute the same ones."""
    from app.core.cache import frame_keys, key_tokens
    tokens = key_tokens([(s.frame, s.token, s.image is None and bool(s.strokes)) for s in specs
                         if 0 <= s.frame < n])
    return frame_keys(n, tokens, context, segment_local), tokens


class PropagationWorker(QObject):
    # requests (GUI -> worker; queued because the receiver lives in the worker thread)
    openRequested = Signal(str, int)                 # path, proxy height
    propagateRequested = Signal(int, object, int, object)  # generation, [KeySpec], focus, frames (None = all)
    keepRequested = Signal(object)                   # [(frame key, frame)] to hold in the disk tier
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
        self._key_cache: dict[int, tuple[str, np.ndarray]] = {}
        self.context: str | None = None   # shared part of the frame keys (source, method, size)
        self.segment_local = True
        self._open_token = 0
        self.store = None       # FrameStore, set by the GUI after open; thread-safe puts
        self.openRequested.connect(self._open)
        self.propagateRequested.connect(self._propagate)
        self.keepRequested.connect(self._keep)
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
        self._key_cache.clear()
        self._update_context()
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

                # the shot's proxy luma on disk (app.core.reels.lumastore): memory does not grow with
                # its length, a reopen reads the cache, and the cuts are found in the same decode
                from app.core.reels.lumastore import LumaStore, user_cache_dir
                luma = LumaStore.open(src, user_cache_dir(), proxy_height, progress=progress,
                                      should_stop=lambda: token != self._open_token)
                info = src.info
            finally:
                src.close()
        except Exception as e:
            log.exception("opening %s", path)
            self.openFailed.emit(path, str(e))
            return
        if token != self._open_token or luma is None:
            return
        self.luma, self.info = luma, info
        self._update_context()
        self.opened.emit(info, luma)

    def _update_context(self) -> None:
        """What every frame key of this shot shares: source, method and settings, proxy size."""
        from app.core.cache import FRAME_KEYS_VERSION, SEGMENT_LOCAL, method_settings, settings_key, source_identity
        if self.info is None or self.luma is None or self._propagator is None:
            self.context = None
            return
        self.segment_local = self.method in SEGMENT_LOCAL
        self.context = settings_key(FRAME_KEYS_VERSION, source_identity(self.info.path), self.method,
                                    method_settings(self._propagator), tuple(self.luma.size), len(self.luma))

    def _takes_prior(self) -> bool:
        import inspect
        try:
            return "prior" in inspect.signature(self._propagator.run).parameters
        except (TypeError, ValueError):
            return False

    def plan(self, specs) -> tuple[list, dict]:
        """(frame keys, key tokens) of the shot for these keyframes (see app.core.cache)."""
        return plan_frames(specs, len(self.luma), self.context, self.segment_local)

    def _key_ab(self, spec: KeySpec, tokens: dict, get_key, stale) -> np.ndarray | None:
        """Chroma of one keyframe at proxy size, built by models.keys.key_chroma (the render
        does the same). Reused from memory or the frame cache when its token is unchanged. A
        correction is painted over what the earlier keys give on its frame: that base is
        looked up in the frame cache first (it is usually the frame the user is looking at),
        propagated from the earlier keys only when it is not there. None when stopped."""
        from app.core.cache import base_key, frame_keys
        f, token = spec.frame, tokens[spec.frame]
        cached = self._key_cache.get(f)
        if cached is not None and cached[0] == token:
            return cached[1]
        own = frame_keys(f + 1, {k: t for k, t in tokens.items() if k <= f}, self.context, self.segment_local)[f]
        got = self.store.lookup(f, own) if self.store is not None else None
        if got is not None:
            self._key_cache[f] = (token, got[0])
            return got[0]
        w, h = self.luma.size
        base = None
        if spec.image is not None:
            img = spec.image
            if img.shape[1] != w or img.shape[0] != h:
                img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
            base = rgb_to_ab(img)
        elif spec.strokes and any(k < f for k in tokens):
            bkey = base_key(f, tokens, self.context, self.segment_local)
            got = self.store.lookup(f, bkey) if self.store is not None else None
            if got is not None:
                base = got[0]
            else:
                earlier = sorted(k for k in tokens if k < f)
                use = earlier[-1:] if self.segment_local else earlier
                keys = {}
                for k in use:
                    ab = get_key(k)
                    if ab is None:
                        return None
                    keys[k] = ab
                for pf in self._propagator.run(self.luma, keys, frames=[f], should_stop=stale):
                    if pf.index == f:
                        base = np.asarray(pf.ab, np.float32)
                        if self.store is not None:   # an undo of this correction shows it at once
                            self.store.put(f, base, None, -1, bkey, pf.confidence, show=False)
                if base is None:
                    return None
        ab = key_chroma(self.luma, f, base, spec.strokes, {}, self._propagator, stale)
        if ab is None:
            return None
        self._key_cache[f] = (token, ab)
        return ab

    @Slot(int, object, int, object)
    def _propagate(self, generation: int, specs: list, focus: int, frames=None) -> None:
        """Bring every frame (or those of `frames`: the export asks for missing ones) to the
        chroma of the current keys. Frames whose key is cached already are not recomputed.
        Order: the edited keyframe first, then the propagator's nearest-to-the-focus order."""
        if generation != self.generation or self.luma is None:
            return          # superseded before it started: nothing to do
        t0 = time.perf_counter()
        stale = lambda: generation != self.generation  # noqa: E731
        try:
            if self._propagator is None:
                self._set_device("auto", "")
            if self.context is None:
                self._update_context()
            n = len(self.luma)
            sigs, tokens = self.plan(specs)
            by_frame = {s.frame: s for s in specs if 0 <= s.frame < n}
            wanted = range(n) if frames is None else sorted({int(f) for f in frames if 0 <= int(f) < n})
            todo = [i for i in wanted if sigs[i] is not None and not self.store.available(i, sigs[i])]
            self.started.emit(generation, len(todo))
            if not todo:
                self.finished.emit(generation, True, time.perf_counter() - t0)
                return
            memo: dict[int, np.ndarray | None] = {}

            def get_key(k):
                if k not in memo:
                    memo[k] = self._key_ab(by_frame[k], tokens, get_key, stale)
                return memo[k]

            ks = sorted(by_frame)
            if self.segment_local:     # the keys bounding the frames to compute, and those frames
                import bisect
                need = set()
                for t in todo:
                    j = bisect.bisect_left(ks, t)
                    if j < len(ks) and ks[j] == t:
                        need.add(t)
                    else:
                        if j > 0:
                            need.add(ks[j - 1])
                        if j < len(ks):
                            need.add(ks[j])
            else:
                need = set(ks)
            # The edited keyframe is on screen as soon as its own chroma exists.
            order = sorted(need, key=lambda k: (k != focus, abs(k - focus), k))
            keys, shown = {}, set()
            for k in order:
                if stale():
                    self.finished.emit(generation, False, time.perf_counter() - t0)
                    return
                ab = get_key(k)
                if ab is None:
                    self.finished.emit(generation, False, time.perf_counter() - t0)
                    return
                keys[k] = ab
                if k in todo and k == focus:
                    self._emit(generation, k, ab, sigs[k], None)
                    shown.add(k)
            for f in list(self._key_cache):
                if f not in by_frame:
                    del self._key_cache[f]
            rest = [t for t in todo if t not in shown]
            extra = {}
            if self.segment_local and self._takes_prior():
                from app.core.cache import segment_key

                def prior(k, t):
                    """The pass from key k alone at frame t, if it is cached (what frame t showed
                    before a correction next to it): the far pass of a two-key segment."""
                    sig = (segment_key(self.context, k, tokens[k], None, None) if k < t else
                           segment_key(self.context, None, None, k, tokens[k]))
                    return self.store.lookup(t, sig)
                extra["prior"] = prior
            if rest:
                for pf in self._propagator.run(self.luma, keys, frames=rest, should_stop=stale, focus=focus, **extra):
                    if stale():
                        break
                    if pf.index in shown or sigs[pf.index] is None:
                        continue
                    self._emit(generation, pf.index, pf.ab, sigs[pf.index], pf.confidence)
            completed = not stale()
        except Exception as e:
            log.error("propagation failed:\n%s", traceback.format_exc())
            self.failed.emit(f"Propagation failed: {type(e).__name__}: {e}")
            self.finished.emit(generation, False, time.perf_counter() - t0)
            return
        self.finished.emit(generation, completed, time.perf_counter() - t0)

    @Slot(object)
    def _keep(self, entries) -> None:
        if self.store is not None:
            self.store.chroma.keep(entries)

    def _emit(self, generation: int, index: int, ab: np.ndarray, sig: str, confidence) -> None:
        ab = np.ascontiguousarray(ab, np.float32)
        rgb = compose_rgb(self.luma[index], ab)      # compose here: the GUI thread only paints
        if self.store is not None:
            # Stored under its key even when stale: the chroma is right for that key (an undo
            # finds it). The disk write happens here, not in the GUI.
            self.store.put(index, ab, rgb, generation, sig, confidence, show=generation == self.generation)
        self.frameReady.emit(generation, index, ab, rgb)


class DisplayLoader(QObject):
    """Reads cached chroma and composes RGB for display on a thread of its own, so neither the
    GUI thread (a disk read plus a colour conversion is 20-60 ms at 854x480 on a busy CPU)
    nor a running propagation waits for it. The frame on screen comes first (the newest
    request wins), then frames to warm for thumbnails and playback, nearest first."""

    loaded = Signal(int)                 # frame whose RGB is in the store's memory now
    thumbReady = Signal(int, str, object)  # frame, key it shows ('' grey), small uint8 image

    def __init__(self):
        super().__init__()
        import threading
        from collections import deque
        self.store = None
        self._want: int | None = None
        self._warm = deque()
        self._thumbs: dict[int, None] = {}   # thumbnails asked for (ordered, no repeats)
        self.thumb_maker = None              # callable(frame) -> (key, small image), set by the window
        self._cv = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="hueshot-display", daemon=True)
        self._thread.start()

    def request(self, i: int) -> None:
        with self._cv:
            self._want = int(i)
            self._cv.notify()

    def warm(self, frames) -> None:
        with self._cv:
            self._warm.clear()
            self._warm.extend(int(i) for i in frames)
            self._cv.notify()

    def thumb(self, i: int) -> None:
        """Make frame i's timeline thumbnail here: its luma may have to be read from disk
        (app.core.reels.lumastore keeps a few chunks in memory), which must not happen on the GUI
        thread (a 13 MB chunk read took ~100 ms on the loaded host)."""
        with self._cv:
            if int(i) not in self._thumbs:
                self._thumbs[int(i)] = None
                self._cv.notify()

    def reset(self, store) -> None:
        with self._cv:
            self.store, self._want = store, None
            self._warm.clear()
            self._thumbs.clear()

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join(2.0)

    def _loop(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._stop or self._want is not None or self._warm or self._thumbs)
                if self._stop:
                    return
                thumb = False
                if self._want is not None:
                    i, self._want = self._want, None
                elif self._thumbs:
                    i = next(iter(self._thumbs))
                    del self._thumbs[i]
                    thumb = True
                else:
                    i = self._warm.popleft()
                store = self.store
            if thumb:
                try:
                    if store is not None and self.thumb_maker is not None:
                        sig, small = self.thumb_maker(i)
                        self.thumbReady.emit(i, sig, small)
                except Exception:
                    log.exception("display loader: thumbnail %d", i)
                continue
            if store is None or store.luma is None or store.cached_rgb(i) is not None:
                continue
            try:
                if store.rgb(i) is not None:
                    self.loaded.emit(i)
            except Exception:      # a frame that cannot be read stays grey; never kill the thread
                log.exception("display loader: frame %d", i)


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
