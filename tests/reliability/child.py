"""Child process of the reliability loops (tests/reliability/runner.py).

    child.py cancel CLIP KEY OUT N METHOD   render(job, should_stop=...) True from call N on;
                                            prints CANCELLED or DONE <frames>, exit 0
    child.py save PROJECT                   save PROJECT again and again until killed
    child.py break2 FOLDER KEY OUT N        render a frame folder whose frame N is overwritten
                                            with noise once the luma pass is done (the input
                                            fails in the second decode pass); prints the error
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


def break_in_second_pass(folder, key, out, n):
    from app.core.media import MediaError
    from app.core.render import RenderJob, render
    frames = sorted(Path(folder).iterdir())
    calls = [0]

    def should_stop():          # once per frame in the luma pass, then once per frame
        calls[0] += 1
        if calls[0] == len(frames) + 1:
            frames[n].write_bytes(b"\x89PNG broken on purpose")
        return False
    try:
        render(RenderJob(input=Path(folder), output=Path(out), keys={0: Path(key)}, method="flow"),
               should_stop=should_stop)
    except MediaError as exc:
        print(f"ERROR {exc}")
        return 0
    print("DONE")
    return 0


if __name__ == "__main__":
    cmd, *rest = sys.argv[1:]
    if cmd == "cancel":
        sys.exit(cancel(rest[0], rest[1], rest[2], int(rest[3]), rest[4]))
    if cmd == "save":
        sys.exit(save(rest[0]))
    if cmd == "break2":
        sys.exit(break_in_second_pass(rest[0], rest[1], rest[2], int(rest[3])))
    sys.exit(f"unknown command {cmd}")
