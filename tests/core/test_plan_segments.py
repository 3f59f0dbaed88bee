"""How a render in segments (--resume, --farm) groups a reel's shots."""
from pathlib import Path

from app.core.render import RenderJob
from app.core.renderfarm.farm_segments import plan_segments


def _plan(shots, n, **kw):
    job = RenderJob(input=Path("reel.mp4"), output=Path("out.mp4"), segment_frames=240, **kw)
    return [(s.start, s.end - 1, s.shot_ranges, s.label) for s in plan_segments(job, shots, n)]


def test_a_long_shot_is_a_segment_of_its_own_and_labels_number_the_reels_shots():
    """Short shots share a segment until it holds 240 frames, but a long shot after short ones
    was put in their segment: a changed key in a 10-frame shot rendered the 300-frame shot after
    it again (and the farm ran them as one task), though the plan says a long shot is a segment
    of its own. And a segment's label numbered the shots from the start of the range, not as
    the reel (the Shots dock, the project) numbers them: a render from frame 10 called the
    reel's shot 2 'shot 1'."""
    shots = [(0, 9), (10, 29), (30, 329), (330, 339), (340, 349)]
    got = _plan(shots, 350)
    assert [(a, b) for a, b, _, _ in got] == [(0, 29), (30, 329), (330, 349)], got
    assert got[0][2] == [(0, 9), (10, 29)] and got[1][2] == [(30, 329)]
    assert [lab for *_, lab in got] == ["shots 1-2 (frames 0..29)", "shot 3 (frames 30..329)",
                                        "shots 4-5 (frames 330..349)"]
    got = _plan(shots, 350, start=10, end=345)
    assert [lab for *_, lab in got] == ["shot 2 (frames 10..29)", "shot 3 (frames 30..329)",
                                        "shots 4-5 (frames 330..344)"], got
    # a segment never splits a shot; the last may be short; 1: a segment per shot
    short = [(k * 12, k * 12 + 11) for k in range(8)]
    assert [(a, b) for a, b, _, _ in _plan(short, 96)] == [(0, 95)]
    job = RenderJob(input=Path("reel.mp4"), output=Path("out.mp4"), segment_frames=1)
    assert [(s.start, s.end - 1) for s in plan_segments(job, short, 96)] == short
