"""A keyframe's PNG layer is encoded on a background thread when the key is set, so a save or
an autosave (on the editor's GUI thread) only writes bytes: encoding a 1080p key took 0.3-0.4 s
of frozen window there."""
import threading

import cv2
import numpy as np

import app.core.project as project_mod
from app.core.project import Project, layers_dir_for


def _key(seed: int, h: int = 270, w: int = 480) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.resize(rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)


def test_saving_a_new_keyframe_does_not_encode_its_png_on_the_saving_thread(tmp_path, monkeypatch):
    threads = []
    real = cv2.imencode

    def counted(*a, **kw):          # the real encoder, and the thread it ran on
        threads.append(threading.current_thread())
        return real(*a, **kw)
    monkeypatch.setattr(project_mod.cv2, "imencode", counted)
    doc = Project()
    keys = {3: _key(1), 40: _key(2)}
    for f, img in keys.items():
        doc.set_keyframe(f, img)
    doc.remove_keyframe(40)            # removed before the save: never written
    doc.set_keyframe(12, keys[40])
    path = doc.save(tmp_path / "p.hueshot")
    me = threading.current_thread()
    assert threads and all(t is not me for t in threads), [t.name for t in threads]
    back = Project.load(path)
    assert sorted(back.keyframes) == [3, 12]
    assert np.array_equal(back.keyframe(3), keys[3])
    assert np.array_equal(back.keyframe(12), keys[40])
    assert len(list(layers_dir_for(path).glob("key_*.png"))) == 2


def test_a_replaced_keyframe_saves_its_new_image(tmp_path):
    doc = Project()
    doc.set_keyframe(5, _key(3))
    doc.set_keyframe(5, _key(4))       # replaced at once: the first encode is not what is saved
    path = doc.save(tmp_path / "r.hueshot")
    assert np.array_equal(Project.load(path).keyframe(5), _key(4))


def test_keys_set_again_and_again_do_not_queue_encodes_a_save_waits_for(tmp_path, monkeypatch):
    """Undo / redo of a key import sets the same keys again and again. The encoder is one
    thread working in order and a save waits for the encodes of the keys it writes: encodes of
    images replaced since then stayed queued in front of them, so Ctrl+S froze the editor for
    all of them (ten undo / redo of four 1080p keys: 40 encodes, 8.7 s instead of 1 s). A
    replaced or removed key's encode that has not started is cancelled."""
    done = []
    real = project_mod._encode_png

    def counted(img):                  # the real encoder, counted
        done.append(img.shape)
        return real(img)
    monkeypatch.setattr(project_mod, "_encode_png", counted)
    doc = Project()
    doc.set_keyframe(0, _key(9))
    doc.save(tmp_path / "warm.hueshot")      # the encoder thread exists
    done.clear()
    gate = threading.Event()
    project_mod._PNG_POOL.submit(gate.wait)  # the encoder is busy while the keys are set
    a, b = _key(5), _key(6)
    try:
        for cycle in range(6):               # undo / redo of a four-key import
            for f in (10, 20, 30, 40):
                doc.set_keyframe(f, a if cycle % 2 else b)
        doc.set_keyframe(50, b)
        doc.remove_keyframe(50)              # removed: never encoded
    finally:
        gate.set()
    path = doc.save(tmp_path / "p.hueshot")
    assert len(done) == 4, f"{len(done)} encodes for 4 keys"
    back = Project.load(path)
    assert sorted(back.keyframes) == [0, 10, 20, 30, 40]
    assert all(np.array_equal(back.keyframe(f), a) for f in (10, 20, 30, 40))
