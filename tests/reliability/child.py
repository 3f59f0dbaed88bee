"""Child process of the reliability loops (tests/reliability/runner.py).

    child.py cancel CLIP KEY OUT N METHOD   render(job, should_stop=...) True from call N on;
                                            prints CANCELLED or DONE <frames>, exit 0
    child.py save PROJECT                   save PROJECT again and again until killed
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def cancel(clip, key, out, n, method):
    from app.core.render import RenderCancelled, RenderJob, render
    calls = [0]

    def should_stop():
        calls[0] += 1
        return calls[0] >= n
    try:
        res = render(RenderJob(input=Path(clip), output=Path(out), keys={0: Path(key)}, method=method),
                     should_stop=should_stop)
    except RenderCancelled:
        print("CANCELLED")
        return 0
    print(f"DONE {res.frames}")
    return 0


def save(project):
    import numpy as np

    from app.core.project import Project
    doc = Project.load(project)
    rng = np.random.default_rng()
    print("saving", flush=True)
    shape = next(iter(doc.keyframes.values())).shape
    i = 0
    while True:
        i += 1
        doc.set_keyframe(i % 7, rng.integers(0, 256, shape, dtype=np.uint8))
        doc.set_setting("counter", i)
        doc.save()


if __name__ == "__main__":
    cmd, *rest = sys.argv[1:]
    if cmd == "cancel":
        sys.exit(cancel(rest[0], rest[1], rest[2], int(rest[3]), rest[4]))
    if cmd == "save":
        sys.exit(save(rest[0]))
    sys.exit(f"unknown command {cmd}")
