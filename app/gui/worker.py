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
import threading
import time
import traceback
from dataclasses import dataclass, field

import cv2
import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from models.base import HintStroke
from models.color import compose_rgb, rgb_to_ab
from models.keys import key_chroma

log = logging.getLogger(__name__)


_torch_import = threading.Lock()
_native_lock = threading.Lock()
_native_done: list[bool] = []            # [loaded] once tried
_TORCH_NATIVE = ("libtorch_cpu.so",)     # torch's native code: ~0.4 GB, most of torch._C's load
_released: list[bool] = []               # release_frozen was called (a document was replaced)


def import_torch() -> None:
    """Import torch without stopping the other threads (the editor's GUI thread) for long: the
    worker's import right after a file's first frame, and the colour prior's, froze the GUI
    thread for 180-250 ms at a time on this host (more under load), twice over:

    - CPython loads an extension module (dlopen: relocations, static constructors) holding
      the GIL, and torch._C pulls in libtorch_cpu.so. A foreign call through ctypes releases
      the GIL, so libc's dlopen of that library first (`_preload_native`) lets the other
      threads run; the import then finds it loaded. While it loads, a thread that loads
      another library (an extension module's first import) waits for the loader holding the
      GIL: the editor asks for its method only once a file's background scan is under way
      (MainWindow._on_opened), after the scan's own first imports.
    - The import makes ~150,000 objects, and the cyclic garbage collector's full collections
      during it and after it walk all of them with the GIL held (80 ms each here, any thread's
      allocation sets one off). The collector is off during the import, and what is alive
      then is frozen (gc.freeze: left out of every later collection; modules live as long
      as the process anyway, and a cycle that becomes garbage later is not freed).

    Once a process (later calls return at once); any thread but the GUI's."""
    import gc
    import sys
    with _torch_import:
        if "torch" in sys.modules:
            return
        _preload_native()
        was = gc.isenabled()
        gc.disable()
        try:
            import torch  # noqa: F401
        finally:
            gc.freeze()
            if _released:
                # a document was replaced before or during the import (a second file opened
                # while torch loaded): the old one, garbage not collected yet (the collector
                # was off), must not be frozen with torch's objects (release_frozen came first)
                gc.unfreeze()
            if was:
                gc.enable()


def release_frozen() -> None:
    """Give the objects import_torch froze back to the collector: the editor calls it when it
    replaces its document. What was alive at the freeze includes the first file's Document
    (the import runs after a file's first frame), and a frozen cycle is never freed: opening
    a second file left the first Document alive for the rest of the session. Unfreezing only
    moves them to the oldest generation (no pause now); the next full collection frees what
    is garbage, and walks torch's objects again, as in any Python program that imports it."""
    import gc
    if not _released:
        _released.append(True)     # before the check: an import freezing now unfreezes after
    if gc.get_freeze_count():
        gc.unfreeze()


def _preload_native() -> bool:
    """libtorch_cpu.so loaded by libc's dlopen called through ctypes, which releases the GIL
    (once a process; a second caller waits for the first, without the GIL). False (the
    import then loads it as before) where it is not where a wheel puts it (another platform,
    a build laid out otherwise) or cannot be loaded here."""
    import sys
    with _native_lock:
        if _native_done:
            return _native_done[0]
        ok = False
        if "torch" not in sys.modules:
            try:
                import ctypes
                import importlib.util
                import os
                from pathlib import Path
                spec = importlib.util.find_spec("torch")
                where = list(spec.submodule_search_locations or []) if spec is not None else []
                libs = [p for d in where for p in (Path(d) / "lib" / n for n in _TORCH_NATIVE) if p.is_file()]
                if libs and hasattr(os, "RTLD_NOW"):
                    dl = ctypes.CDLL(None)           # this process's own symbols: libc's dlopen
                    dl.dlopen.argtypes, dl.dlopen.restype = [ctypes.c_char_p, ctypes.c_int], ctypes.c_void_p
                    # as CPython's import loads it (RTLD_NOW, local); the handle stays open
                    ok = all(dl.dlopen(os.fsencode(p), os.RTLD_NOW | os.RTLD_LOCAL) for p in libs)
            except Exception:          # never in the way of the import itself
                log.debug("torch's native library not preloaded", exc_info=True)
        _native_done.append(ok)
        return ok


@dataclass
class KeySpec:
    """What the worker needs to build one keyframe's chroma."""
    frame: int
    strokes: list[HintStroke] = field(default_factory=list)
    image: np.ndarray | None = None      # imported colour keyframe (RGB, any size = shot size)
    token: tuple = ()                    # identity of the content: unchanged -> reuse chroma
    hint_method: str | None = None       # models.hinting.hints.HINT_METHODS (None: the default)


def shot_parts(shots, n: int, context: str) -> list[tuple[int, int, str]]:
    """(start, end, frame-key context) of each shot. Every shot is keyed on its own (its range
    is in its context), so an edit in one shot changes no frame key of another; a source that
    is one shot keeps the plain context (its cached chroma stays valid)."""
    from app.core.cache import settings_key
    from app.core.reels.shots import clip_shots, validate_shots
    parts = clip_shots([tuple(s) for s in shots or ()], 0, n)
    try:
        validate_shots(parts, n)
    except ValueError:
        parts = []
    if len(parts) <= 1:
        return [(0, n - 1, context)]
    return [(a, b, settings_key(context, "shot", a, b)) for a, b in parts]


def plan_frames(specs, n: int, context: str, segment_local: bool, shots=None) -> tuple[list, dict]:
    """Frame keys and keyframe tokens for these KeySpecs (app.core.cache.frame_keys), shot by
    shot: a frame's key names only the keys of its own shot, and a frame in a shot without any
    key has none (it stays grey). Tokens are shot-relative. The worker and the window compute
    the same ones."""
    import bisect
    from app.core.cache import frame_keys, key_tokens
    sigs: list = [None] * n
    tokens: dict = {}
    specs = sorted(specs, key=lambda s: s.frame)     # each shot's keys found by bisection, not a
    frames = [s.frame for s in specs]                # walk of every key for every shot of a film
    for a, b, ctx in shot_parts(shots, n, context):
        mine = specs[bisect.bisect_left(frames, a):bisect.bisect_right(frames, b)]
        if not mine:
            continue
        t = key_tokens([(s.frame - a, s.token, s.image is None and bool(s.strokes)) for s in mine])
        if t:
            sigs[a:b + 1] = frame_keys(b - a + 1, t, ctx, segment_local)
        tokens.update({f + a: v for f, v in t.items()})
    return sigs, tokens


@dataclass
class ShotView:
    """One shot as the propagator sees it: its luma re-indexed from 0, where it starts in the
    source, and its frame-key context."""
    luma: object
    a: int
    ctx: str


class PropagationWorker(QObject):
    # requests (GUI -> worker; queued because the receiver lives in the worker thread)
    openRequested = Signal(str, int)                 # path, proxy height
    propagateRequested = Signal(int, object, int, object)  # generation, [KeySpec], focus, frames (None = all)
    keepRequested = Signal(object)                   # [(frame key, frame)] to hold in the disk tier
    deviceRequested = Signal(str, str)               # device preference, method

    # results (worker -> GUI)
    opening = Signal(int, int)                       # frames decoded, total
    opened = Signal(object, object)                  # MediaInfo, LumaStore (first frame decoded)
    scanning = Signal(int, int)                      # frames scanned (luma stored, cuts found), total
    shotsFound = Signal(object)                      # LumaStore whose cut list grew
    scanned = Signal(object)                         # LumaStore, complete (final length, shots, error)
    scanFailed = Signal(str)                         # message
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
        self.shots: tuple = ()  # the shots propagation keeps to, set by the GUI (a plain store)
        self._open_token = 0
        self._scan_thread = None
        self.store = None       # FrameStore, set by the GUI after open; thread-safe puts
        # Opening runs on a thread of its own, started from the emitting (GUI) thread: the
        # worker's own thread may be busy (importing torch for the method at start-up takes
        # seconds, or a propagation), and the first frame must not wait for it.
        self.openRequested.connect(self._open_async, Qt.ConnectionType.DirectConnection)
        self._open_lock = threading.Lock()
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
        import_torch()       # without holding up the GUI thread (see there)
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

    def _open_async(self, path: str, proxy_height: int) -> None:
        token = self._open_token          # read now: a later cancel_open supersedes this open
        threading.Thread(target=self._open, args=(path, proxy_height, token), name="hueshot-open", daemon=True).start()

    def _open(self, path: str, proxy_height: int, token: int) -> None:
        """Open the source and show its first frame at once: the luma store (app.core.reels.lumastore)
        is used before it is complete (chunks not stored yet are decoded on demand by seek); the
        sequential scan that stores every chunk and finds the cuts runs behind, on a thread of
        its own. A reopen finds the store complete (or the scan goes on where it stopped)."""
        from app.core.media import open_media
        from app.core.reels.lumastore import LumaStore, user_cache_dir
        try:
            src = open_media(path)
            try:
                info = src.info
                self.opening.emit(0, 1)
                luma = LumaStore.begin(src, user_cache_dir(), proxy_height, memory_if_unwritable=True)
                luma.use_source(src)      # the on-demand decoder: this file, already indexed
                luma.peek(0)              # the first frame (alone) before the window shows it
            except BaseException:
                src.close()
                raise
        except Exception as e:
            log.exception("opening %s", path)
            if token == self._open_token:
                self.openFailed.emit(path, str(e))
            return
        with self._open_lock:
            if token != self._open_token:
                luma.close()
                return
            old = self.luma
            self._key_cache.clear()
            self.shots = ()
            self.luma, self.info = luma, info
            self._update_context()
            self.opened.emit(info, luma)
        if old is not None and old is not luma and hasattr(old, "close"):
            old.close()      # its on-demand decoder's file (a running fill still finishes)
        if not luma.complete:
            scan = threading.Thread(target=self._scan, args=(luma, token), name="hueshot-luma-scan", daemon=True)
            scan.start()
            self._scan_thread = scan      # joined by WorkerThread.stop (only once it has started)
        else:
            self.scanned.emit(luma)

    def _scan(self, luma, token: int) -> None:
        """The background scan (a plain thread: the worker's own thread stays free for
        propagation). Niced on Linux so that the editor's own threads come first."""
        import os
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)   # this thread only
        except (AttributeError, OSError):
            pass
        last = [0.0]

        def progress(done, total):
            now = time.monotonic()
            if now - last[0] > 0.25 or done == total:
                last[0] = now
                self.scanning.emit(done, total)

        stop = lambda: token != self._open_token  # noqa: E731
        try:
            done = luma.scan(None, progress, stop, lambda: self.shotsFound.emit(luma))
        except Exception as e:
            log.exception("scanning %s", luma.path)
            if not stop():
                self.scanFailed.emit(f"Reading the shot stopped: {e}")
            return
        if done and not stop():
            self.scanned.emit(luma)

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
        """(frame keys, key tokens) of the source for these keyframes, shot by shot (see
        plan_frames and app.core.cache)."""
        return plan_frames(specs, len(self.luma), self.context, self.segment_local, self.shots)

    def _key_ab(self, spec: KeySpec, sh: ShotView, tokens: dict, get_key, stale) -> np.ndarray | None:
        """Chroma of one keyframe at proxy size, built by models.keys.key_chroma (the render
        does the same). Reused from memory or the frame cache when its token is unchanged. A
        correction is painted over what the earlier keys of its shot give on its frame: that
        base is looked up in the frame cache first (it is usually the frame the user is looking
        at), propagated from those keys only when it is not there. ``tokens`` and frames are
        shot-relative; the frame store is indexed by source frame. None when stopped."""
        from app.core.cache import base_key, frame_keys
        f, token = spec.frame - sh.a, tokens[spec.frame - sh.a]
        cached = self._key_cache.get(spec.frame)
        if cached is not None and cached[0] == (sh.ctx, token):
            return cached[1]
        own = frame_keys(f + 1, {k: t for k, t in tokens.items() if k <= f}, sh.ctx, self.segment_local)[f]
        got = self.store.lookup(spec.frame, own) if self.store is not None else None
        if got is not None:
            self._key_cache[spec.frame] = ((sh.ctx, token), got[0])
            return got[0]
        w, h = self.luma.size
        base = None
        if spec.image is not None:
            img = spec.image
            if img.shape[1] != w or img.shape[0] != h:
                img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
            base = rgb_to_ab(img)
        elif spec.strokes and any(k < f for k in tokens):
            bkey = base_key(f, tokens, sh.ctx, self.segment_local)
            got = self.store.lookup(spec.frame, bkey) if self.store is not None else None
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
                for pf in self._propagator.run(sh.luma, keys, frames=[f], should_stop=stale):
                    if pf.index == f:
                        base = np.asarray(pf.ab, np.float32)
                        if self.store is not None:   # an undo of this correction shows it at once
                            self.store.put(spec.frame, base, None, -1, bkey, pf.confidence, show=False)
                if base is None:
                    return None
        ab = key_chroma(sh.luma, f, base, spec.strokes, {}, self._propagator, stale, spec.hint_method)
        if ab is None:
            return None
        self._key_cache[spec.frame] = ((sh.ctx, token), ab)
        return ab

    @Slot(int, object, int, object)
    def _propagate(self, generation: int, specs: list, focus: int, frames=None) -> None:
        """Bring every frame (or those of `frames`: the export asks for missing ones) to the
        chroma of the current keys, shot by shot: keys, their blending and the smoothing of a
        shot never reach another (app.core.reels.shots; the render does the same). Frames whose
        key is cached already are not recomputed. Order: the edited keyframe's shot first (the
        keyframe itself, then the propagator's nearest-to-the-focus order), then the shots
        nearest to it."""
        import bisect
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
            shots = self.shots
            sigs, tokens = plan_frames(specs, n, self.context, self.segment_local, shots)
            wanted = range(n) if frames is None else sorted({int(f) for f in frames if 0 <= int(f) < n})
            held: dict = {}    # each key's cached frames listed once, not a stat a frame
            todo = [i for i in wanted if sigs[i] is not None and i not in self.store.frames_cached(sigs[i], held)]
            self.started.emit(generation, len(todo))
            if not todo:
                self.finished.emit(generation, True, time.perf_counter() - t0)
                return
            by_frame = {s.frame: s for s in specs if 0 <= s.frame < n}
            jobs = []
            for a, b, ctx in shot_parts(shots, n, self.context):
                lo, hi = bisect.bisect_left(todo, a), bisect.bisect_right(todo, b)
                if hi > lo:
                    jobs.append((a, b, ctx, todo[lo:hi]))
            jobs.sort(key=lambda j: (not j[0] <= focus <= j[1], min(abs(j[0] - focus), abs(j[1] - focus))))
            for a, b, ctx, part in jobs:
                if stale():
                    break
                from app.core.reels.shots import SubLuma
                view = self.luma if (a, b) == (0, n - 1) else SubLuma(self.luma, a, b + 1)
                sh = ShotView(view, a, ctx)
                if not self._propagate_shot(generation, sh, by_frame, tokens, part, focus, sigs, stale):
                    break
            for f in list(self._key_cache):
                if f not in by_frame:
                    del self._key_cache[f]
            completed = not stale()
        except Exception as e:
            log.error("propagation failed:\n%s", traceback.format_exc())
            self.failed.emit(f"Propagation failed: {type(e).__name__}: {e}")
            self.finished.emit(generation, False, time.perf_counter() - t0)
            return
        self.finished.emit(generation, completed, time.perf_counter() - t0)

    def _propagate_shot(self, generation: int, sh: ShotView, by_frame: dict, tokens: dict, todo: list,
                        focus: int, sigs: list, stale) -> bool:
        """One shot's frames ``todo`` (source indices). False when stopped (stale)."""
        import bisect
        a, n = sh.a, len(sh.luma)
        rel = {f - a: spec for f, spec in by_frame.items() if a <= f < a + n}
        rtok = {f - a: tokens[f] for f in by_frame if a <= f < a + n}
        rtodo = [t - a for t in todo]
        rfocus = min(max(focus - a, 0), n - 1)
        memo: dict[int, np.ndarray | None] = {}

        def get_key(k):
            if k not in memo:
                memo[k] = self._key_ab(rel[k], sh, rtok, get_key, stale)
            return memo[k]

        ks = sorted(rel)
        if self.segment_local:     # the keys bounding the frames to compute, and those frames
            need = set()
            for t in rtodo:
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
        order = sorted(need, key=lambda k: (k != rfocus, abs(k - rfocus), k))
        keys, shown = {}, set()
        todo_set = set(rtodo)
        for k in order:
            if stale():
                return False
            ab = get_key(k)
            if ab is None:
                return False
            keys[k] = ab
            if k in todo_set and k + a == focus:
                self._emit(generation, k + a, ab, sigs[k + a], None)
                shown.add(k)
        rest = [t for t in rtodo if t not in shown]
        extra = {}
        if self.segment_local and self._takes_prior():
            from app.core.cache import segment_key

            def prior(k, t):
                """The pass from key k alone at frame t, if it is cached (what frame t showed
                before a correction next to it): the far pass of a two-key segment."""
                sig = (segment_key(sh.ctx, k, rtok[k], None, None) if k < t else
                       segment_key(sh.ctx, None, None, k, rtok[k]))
                return self.store.lookup(t + a, sig)
            extra["prior"] = prior
        if rest:
            for pf in self._propagator.run(sh.luma, keys, frames=rest, should_stop=stale, focus=rfocus, **extra):
                if stale():
                    return False
                if pf.index in shown or sigs[pf.index + a] is None:
                    continue
                self._emit(generation, pf.index + a, pf.ab, sigs[pf.index + a], pf.confidence)
        return not stale()

    @Slot(object)
    def _keep(self, entries) -> None:
        if self.store is not None:
            self.store.chroma.keep(entries)

    def _emit(self, generation: int, index: int, ab: np.ndarray, sig: str, confidence) -> None:
        ab = np.ascontiguousarray(ab, np.float32)
        rgb = compose_rgb(self.luma[index], ab)      # compose here: the GUI thread only paints
        if self.store is not None:
            # Stored under its key even when stale: the chroma is right for that key (an undo
            # finds it). The disk write happens here, not in the GUI, after the frame is sent.
            self.store.put(index, ab, rgb, generation, sig, confidence, show=generation == self.generation,
                           persist=False)
        self.frameReady.emit(generation, index, ab, rgb)
        if self.store is not None:
            self.store.persist(index, sig)


class DisplayLoader(QObject):
    """Reads cached chroma and composes RGB for display on a thread of its own, so neither the
    GUI thread (a disk read plus a colour conversion is 20-60 ms at 854x480 on a busy CPU)
    nor a running propagation waits for it. The frame on screen comes first (the newest
    request wins), then frames to warm for thumbnails and playback, nearest first."""

    loaded = Signal(int)                 # frame whose RGB is in the store's memory now
    thumbReady = Signal(int, str, object)  # frame, key it shows ('' grey), small uint8 image
    lumaFailed = Signal(int, str)        # frame whose luma could not be decoded, message

    def __init__(self):
        super().__init__()
        from collections import deque
        self.store = None
        self._want: int | None = None
        self._ahead: int | None = None
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

    def ahead(self, i: int) -> None:
        """Read frame i's luma chunk into memory before it is shown (playback asks for the
        chunk ahead of the playhead), after the frame on screen, before thumbnails."""
        with self._cv:
            self._ahead = int(i)
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
            self.store, self._want, self._ahead = store, None, None
            self._warm.clear()
            self._thumbs.clear()

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join(2.0)

    def _fill(self, luma, i: int, store, emit: bool = True) -> bool:
        try:
            luma.raw(i)
        except Exception as e:      # a frame that cannot be read: said once, the thread lives on
            log.warning("display loader: frame %d cannot be read: %s", i, e)
            self.lumaFailed.emit(i, str(e))
            return False
        if emit and store is self.store:
            self.loaded.emit(i)
        return True

    def _loop(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._stop or self._want is not None or self._ahead is not None
                                  or self._warm or self._thumbs)
                if self._stop:
                    return
                thumb = ahead = False
                if self._want is not None:
                    i, self._want = self._want, None
                elif self._ahead is not None:
                    i, self._ahead, ahead = self._ahead, None, True
                elif self._thumbs:
                    i = next(iter(self._thumbs))
                    del self._thumbs[i]
                    thumb = True
                else:
                    i = self._warm.popleft()
                store = self.store
            if ahead:
                luma = store.luma if store is not None else None
                if luma is not None and 0 <= i < len(luma) and not _luma_in_memory(luma, i):
                    self._fill(luma, i, store, emit=False)
                continue
            if thumb:
                try:
                    if store is not None and self.thumb_maker is not None:
                        sig, small = self.thumb_maker(i)
                        self.thumbReady.emit(i, sig, small)
                except Exception:
                    log.exception("display loader: thumbnail %d", i)
                continue
            luma = store.luma if store is not None else None
            filled = False
            if luma is not None and not _luma_in_memory(luma, i):
                filled = True
                # a frame whose luma is not in memory: its chunk read from disk here, or decoded
                # by a seek when the background scan has not stored it yet (the GUI shows
                # "reading" until `loaded`; it never reads the disk itself), then the next chunk
                # too, for playback, unless another frame was asked for meanwhile
                if not self._fill(luma, i, store):
                    continue
                from app.core.reels.lumastore import CHUNK
                nxt = (i // CHUNK + 1) * CHUNK
                if nxt < len(luma) and not _luma_in_memory(luma, nxt) and self._want is None:
                    self._fill(luma, nxt, store, emit=False)
            if store is None or luma is None:
                continue
            if store.cached_rgb(i) is not None or store.sig_of(i) is None:
                if not filled and store is self.store:
                    # the window asked because the frame's luma was not in memory; another read
                    # (a thumbnail's, the next chunk's) brought it in meanwhile: the window shows
                    # it on `loaded` only, and said "reading it from the source..." until then
                    self.loaded.emit(i)
                continue
            try:
                if store.rgb(i) is not None:
                    self.loaded.emit(i)
            except Exception:      # a frame that cannot be read stays grey; never kill the thread
                log.exception("display loader: frame %d", i)


def _luma_ready(luma, i: int) -> bool:
    """Frame i's luma is read without decoding (always, for an in-memory LumaCache)."""
    ready = getattr(luma, "ready", None)
    return True if ready is None else ready(i)


def _luma_in_memory(luma, i: int) -> bool:
    """Frame i's luma is read without a disk read or a decode: what the GUI thread may read
    itself (always, for an in-memory LumaCache)."""
    mem = getattr(luma, "in_memory", None)
    return True if mem is None else mem(i)


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
        self.worker.cancel_open()     # and the background scan at its next frame (progress saved)
        scan = self.worker._scan_thread
        if scan is not None:
            scan.join(timeout_ms / 1000.0)
        self.thread.quit()
        if not self.thread.wait(timeout_ms):
            log.warning("propagation thread did not stop within %d ms", timeout_ms)
