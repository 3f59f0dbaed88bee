"""Running the stages of a propagation pass on threads of their own.

Why: with OpenCV's own 2-thread parallelism, DIS optical flow (half of `quality`'s time)
scales only ~1.5x on this 2-core CPU (chain DIS 32.6 ms on one thread, 21.3 on two). Running
independent stages side by side, each on one thread, keeps both cores busy instead: the
chain flow of the next frames (it depends on the luma only) on one thread while the current
frame is re-anchored and refined on another, and the symmetric smoothing of finished frames
on a third.

- `ahead(fn, items, depth)` yields fn(item) in order, computed on one worker thread up to
  `depth` items ahead of the consumer.
- `single_threaded_kernels()` sets OpenCV (and torch on the CPU) to one thread each while any
  pipelined pass or render runs (counted, so overlapping runs restore the settings only when the last
  one ends): their own worker pools would otherwise fight the stage threads for the cores.
The results are the same as those of the sequential pass (tests/models/test_pipeline.py).
"""
from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, TypeVar

import cv2

T = TypeVar("T")
R = TypeVar("R")


def ahead(fn: Callable[[T], R], items: Iterable[T], depth: int = 2,
          name: str = "hueshot-ahead") -> Iterator[tuple[T, R]]:
    """(item, fn(item)) in order; fn runs on one worker thread, at most `depth` items ahead.
    Closing the iterator early waits for the item in progress and drops the rest."""
    ex = ThreadPoolExecutor(1, thread_name_prefix=name)
    queue: deque[tuple[T, Future]] = deque()
    it = iter(items)
    try:
        def top_up():
            while len(queue) < depth:
                try:
                    item = next(it)
                except StopIteration:
                    return
                queue.append((item, ex.submit(fn, item)))
        top_up()
        while queue:
            item, fut = queue.popleft()
            res = fut.result()
            top_up()
            yield item, res
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


class Behind:
    """Runs calls of fn on one worker thread, in order, one call behind the caller: `put(*a)`
    starts fn(*a) and returns the result of the previous call (None for the first);
    `drain()` returns the last one. Used for the temporal smoothing of finished frames while
    the next frame is propagated."""

    def __init__(self, fn: Callable[..., R], name: str = "hueshot-behind"):
        self.fn = fn
        self.ex = ThreadPoolExecutor(1, thread_name_prefix=name)
        self.pending: Future | None = None

    def put(self, *args) -> R | None:
        prev, self.pending = self.pending, self.ex.submit(self.fn, *args)
        return prev.result() if prev is not None else None

    def drain(self) -> R | None:
        prev, self.pending = self.pending, None
        return prev.result() if prev is not None else None

    def close(self) -> None:
        self.ex.shutdown(wait=True, cancel_futures=True)


class LockedLuma:
    """LumaFrames read by one thread at a time (the chain stages of several passes)."""

    def __init__(self, luma):
        self._luma = luma
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._luma)

    def __getitem__(self, index: int):
        with self._lock:
            return self._luma[index]


_lock = threading.Lock()
_users = {"cv2": 0, "torch": 0}
_saved: dict[str, int] = {}


@contextmanager
def single_threaded_kernels(torch: bool = True):
    """OpenCV (and, with `torch`, torch's CPU pool) at one thread while any user is inside;
    each library's count is kept apart so overlapping users (the GUI's preview worker and an
    export) restore it only when the last one leaves. `torch=False` never imports torch."""
    libs = ["cv2", "torch"] if torch else ["cv2"]
    if torch:
        import torch as torch_mod
    with _lock:
        for lib in libs:
            if _users[lib] == 0:
                if lib == "cv2":
                    _saved[lib] = cv2.getNumThreads()
                    cv2.setNumThreads(1)
                else:
                    _saved[lib] = torch_mod.get_num_threads()
                    torch_mod.set_num_threads(1)
            _users[lib] += 1
    try:
        yield
    finally:
        with _lock:
            for lib in libs:
                _users[lib] -= 1
                if _users[lib] == 0 and lib in _saved:
                    n = _saved.pop(lib)
                    if lib == "cv2":
                        cv2.setNumThreads(n)
                    else:
                        torch_mod.set_num_threads(n)
