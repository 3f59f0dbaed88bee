"""Pipelined propagation passes (models.propagate.pipeline): same output as the sequential pass, stages
stopped cleanly, and the kernel thread settings restored."""
import threading

import cv2
import numpy as np
import pytest
import torch

from models.base import ListLuma
from models.propagate.flow_prop import FlowPropagator
from models.propagate.pipeline import Behind, ahead, single_threaded_kernels


def _moving_shot(n=12, h=64, w=96, seed=5):
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.uniform(10, 90, (h + n, w + 3 * n)).astype(np.float32), (0, 0), 2.0)
    L = [np.ascontiguousarray(base[t // 2:t // 2 + h, 3 * t:3 * t + w]) for t in range(n)]
    key = np.dstack([(L[0] - 50) * 0.8, (50 - L[0]) * 0.5]).astype(np.float32)
    return L, key


def _run(prop, L, keys, **kw):
    return {fr.index: (fr.ab, fr.confidence) for fr in prop.run(ListLuma(L), keys, **kw)}


@pytest.mark.parametrize("smooth", [0, 3])
def test_pipelined_pass_gives_the_sequential_output(smooth):
    L, key = _moving_shot()
    keys = {0: key, 8: np.ascontiguousarray(key[:, ::-1])}
    kw = dict(smooth_iters=smooth, chain_scale=1.0, key_scale=1.0, reanchor_every=1)
    seq = _run(FlowPropagator(pipeline=False, **kw), L, keys)
    pipe = _run(FlowPropagator(pipeline=True, **kw), L, keys)
    assert sorted(seq) == sorted(pipe) == list(range(len(L)))
    for t in seq:
        assert np.abs(seq[t][0] - pipe[t][0]).max() < 1e-3, t
        assert np.abs(seq[t][1] - pipe[t][1]).max() < 1e-4, t


def test_pipelined_run_with_focus_yields_every_frame_once():
    L, key = _moving_shot(n=14)
    keys = {0: key, 7: key, 13: key}
    out = [fr.index for fr in FlowPropagator(smooth_iters=2, pipeline=True).run(ListLuma(L), keys, focus=9)]
    assert sorted(out) == list(range(14))
    assert out[0] == 7                                  # the keyframe nearest the focus first


def test_stopping_a_pipelined_run_ends_its_threads_and_restores_thread_settings():
    L, key = _moving_shot(n=16)
    cv_before, torch_before = cv2.getNumThreads(), torch.get_num_threads()
    threads_before = threading.active_count()
    seen = []
    gen = FlowPropagator(smooth_iters=2, pipeline=True).run(ListLuma(L), {0: key}, should_stop=lambda: len(seen) >= 4)
    for fr in gen:
        seen.append(fr.index)
        if len(seen) == 1:
            assert cv2.getNumThreads() == 1            # single-threaded kernels while it runs
    assert 4 <= len(seen) < 16
    assert (cv2.getNumThreads(), torch.get_num_threads()) == (cv_before, torch_before)
    assert threading.active_count() == threads_before

    # Abandoned part way (closed by the caller): the same.
    gen = FlowPropagator(smooth_iters=2, pipeline=True).run(ListLuma(L), {0: key})
    next(gen), next(gen)
    gen.close()
    assert (cv2.getNumThreads(), torch.get_num_threads()) == (cv_before, torch_before)
    assert threading.active_count() == threads_before


def test_ahead_keeps_order_and_bounds_its_lead():
    started = []

    def slow_square(x):
        started.append(x)
        return x * x

    got = []
    for x, y in ahead(slow_square, range(10), depth=2):
        got.append((x, y))
        assert len(started) <= x + 3                  # never more than `depth` ahead (+ the current)
    assert got == [(x, x * x) for x in range(10)]


def test_ahead_passes_on_a_worker_error():
    def fail_at_3(x):
        if x == 3:
            raise ValueError("bad frame 3")
        return x

    with pytest.raises(ValueError, match="bad frame 3"):
        list(ahead(fail_at_3, range(6)))


def test_behind_returns_each_result_one_call_late_in_order():
    b = Behind(lambda x: [x, x])
    try:
        assert b.put(1) is None
        assert b.put(2) == [1, 1]
        assert b.put(3) == [2, 2]
        assert b.drain() == [3, 3]
        assert b.drain() is None
    finally:
        b.close()


def test_single_threaded_kernels_nest_and_restore():
    before = (cv2.getNumThreads(), torch.get_num_threads())
    with single_threaded_kernels():
        with single_threaded_kernels():
            assert (cv2.getNumThreads(), torch.get_num_threads()) == (1, 1)
        assert cv2.getNumThreads() == 1                # the outer run is still going
    assert (cv2.getNumThreads(), torch.get_num_threads()) == before


def test_opencv_only_users_interleave_with_torch_users():
    """A render (OpenCV only) and the preview's pipelined pass (OpenCV and torch) that start and
    end in either order restore both libraries' thread counts only when the last user leaves."""
    before = (cv2.getNumThreads(), torch.get_num_threads())
    render = single_threaded_kernels(torch=False)
    render.__enter__()
    assert cv2.getNumThreads() == 1 and torch.get_num_threads() == before[1]   # torch untouched
    preview = single_threaded_kernels()
    preview.__enter__()
    assert (cv2.getNumThreads(), torch.get_num_threads()) == (1, 1)
    render.__exit__(None, None, None)             # the render ends first
    assert (cv2.getNumThreads(), torch.get_num_threads()) == (1, 1)
    preview.__exit__(None, None, None)
    assert (cv2.getNumThreads(), torch.get_num_threads()) == before
