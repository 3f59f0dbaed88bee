"""Chroma cache: memory bound, LRU order, disk tier, generation keys, corrupt entries."""
from __future__ import annotations

import numpy as np

from app.core.cache import ChromaCache, settings_key

H, W = 48, 64
FRAME_BYTES = H * W * 2 * 2 + H * W   # float16 ab + uint8 confidence


def ab(i):
    return np.full((H, W, 2), float(i), np.float32)


def test_memory_bound_and_lru():
    cache = ChromaCache(max_bytes=3 * FRAME_BYTES)
    for i in range(10):
        cache.put(i, ab(i), np.full((H, W), 0.5, np.float32))
        assert cache.nbytes <= 3 * FRAME_BYTES
    assert len(cache) == 3 and cache.get(0) is None
    a, c = cache.get(7)                      # touch 7: it becomes most recent
    assert a.dtype == np.float32 and np.allclose(a, 7) and abs(float(c.mean()) - 0.5) < 0.01
    cache.put(10, ab(10))
    assert cache.get(8) is None and cache.get(7) is not None
    cache.put(11, np.zeros((2000, 2000, 2), np.float32))   # larger than the bound: not held
    assert cache.nbytes <= 3 * FRAME_BYTES


def test_keys_separate_generations():
    cache = ChromaCache()
    k1, k2 = settings_key("gen", 1), settings_key("gen", 2)
    cache.put(0, ab(1), key=k1)
    assert cache.get(0, key=k2) is None and cache.get(0, key=k1) is not None
    cache.invalidate(key=k1)
    assert cache.get(0, key=k1) is None


def test_disk_tier(tmp_path):
    cache = ChromaCache(max_bytes=2 * FRAME_BYTES, disk_dir=tmp_path / "cache")
    for i in range(6):
        cache.put(i, ab(i), key="g1")
    assert cache.nbytes <= 2 * FRAME_BYTES
    a, _ = cache.get(0, key="g1")              # evicted from memory, served from disk
    assert np.allclose(a, 0) and cache.disk_hits == 1
    assert cache.frames("g1") == set(range(6))
    # a new cache over the same folder (reopened project) sees the entries
    again = ChromaCache(disk_dir=tmp_path / "cache")
    assert np.allclose(again.get(5, key="g1")[0], 5)
    cache.put(0, ab(9), key="g2")
    cache.prune(keep="g2")
    assert cache.frames("g1") == set() and cache.frames("g2") == {0}
    # a corrupt entry is dropped, not returned
    p = next((tmp_path / "cache").rglob("*.npz"))
    p.write_bytes(b"garbage")
    fresh = ChromaCache(disk_dir=tmp_path / "cache")
    assert fresh.get(0, key="g2") is None and not p.exists()


def test_disk_bound(tmp_path):
    cache = ChromaCache(max_bytes=0, disk_dir=tmp_path / "c", disk_max_bytes=30_000)
    rng = np.random.default_rng(0)
    for i in range(10):
        cache.put(i, rng.normal(0, 30, (H, W, 2)).astype(np.float32), key="k")
    assert cache.disk_bytes() <= 30_000 and len(cache) == 0


def test_a_full_disk_tier_is_not_walked_on_every_write(tmp_path):
    """Once the budget was reached the running total stayed above it and a trim stopped just
    under it, so that every later write walked and stat'ed the whole folder (the editor's 8 GB
    tier: ~4000 files a frame). A trim now leaves room for the next writes."""
    frame = 15_858                                   # one entry of H x W on disk
    cache = ChromaCache(max_bytes=0, disk_dir=tmp_path / "c", disk_max_bytes=20 * frame)
    rng = np.random.default_rng(0)
    walks = []
    trim = cache._trim_disk

    def counted():
        walks.append(1)
        trim()
    cache._trim_disk = counted
    for i in range(60):
        cache.put(i, rng.normal(0, 30, (H, W, 2)).astype(np.float32), key="k")
        assert cache.disk_bytes() <= 20 * frame
    assert cache._disk_total == cache.disk_bytes()
    assert len(walks) <= 10, len(walks)             # was 40: one per write past the budget
    assert len(cache.frames("k")) >= 10              # the newest entries are kept


def test_pop_for_reorder_buffer(tmp_path):
    cache = ChromaCache(max_bytes=FRAME_BYTES, disk_dir=tmp_path)
    cache.put(3, ab(3))
    cache.put(4, ab(4))
    assert np.allclose(cache.pop(3)[0], 3) and (("", 3) in cache) is False


def test_spill_on_evict(tmp_path):
    cache = ChromaCache(max_bytes=2 * FRAME_BYTES, disk_dir=tmp_path, spill_on_evict=True)
    for i in range(5):
        cache.put(i, ab(i), persist=False)       # memory only while it fits
    assert cache.nbytes <= 2 * FRAME_BYTES and len(list(tmp_path.rglob("*.npz"))) == 3
    for i in range(5):                           # nothing lost
        assert np.allclose(cache.pop(i)[0], i)
    assert not list(tmp_path.rglob("*.npz"))


def test_frames_held_lists_what_membership_finds(tmp_path):
    """frames_held(key): the frames `(key, frame) in cache` finds, in memory, on disk and in a
    read-only folder, from folder listings; a half-written temp file is not a frame."""
    old = ChromaCache(max_bytes=0, disk_dir=tmp_path / "old")
    for i in (3, 40):
        old.put(i, ab(i), key="k")
    cache = ChromaCache(max_bytes=2 * FRAME_BYTES, disk_dir=tmp_path / "disk", read_dirs=[tmp_path / "old"])
    cache.put(5, ab(5), key="k", persist=False)          # memory only
    cache.put(7, ab(7), key="k")                         # memory and disk
    cache.put(9, ab(9), key="other")
    cache.put(11, ab(11), key="k")                       # pushes 5 out of memory: gone
    (cache._disk_key_dir("k") / ".000012.abcd1234.tmp").write_bytes(b"half")
    held = cache.frames_held("k")
    assert held == {f for f in range(60) if ("k", f) in cache} == {3, 7, 11, 40}
    assert cache.frames_held("other") == {9} and cache.frames_held("none") == set()
