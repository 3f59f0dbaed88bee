"""One frame-numbering convention for everything the editor shows.

Frames are numbered from 0, as the project file, the command line (`--start/--end`) and the
timeline ruler number them (the source's own frame index), and each number is shown with its
timecode beside it, as NLEs show both: the source's own timecode where the file carries one
(MediaInfo.timecode, drop-frame as the source), else counted from 00:00:00:00 non-drop-frame
(the frame rate rounded: 23.976 fps counts 24 frames a second, 29.97 counts 30).
"""
from __future__ import annotations


def timecode(i: int, fps: float, start: str | None = None) -> str:
    """HH:MM:SS:FF of frame i: counted from the source's own start timecode when it has one
    (MediaInfo.timecode, drop-frame kept: HH:MM:SS;FF), else from 00:00:00:00."""
    if start:
        from app.core.timecode import TimecodeError, shift_timecode
        try:
            return shift_timecode(start, max(0, int(i)), fps or 24.0)
        except TimecodeError:      # validated where it was read; counted from 0 if not
            pass
    nominal = max(1, int(round(fps or 24.0)))
    i = max(0, int(i))
    ff = i % nominal
    secs = i // nominal
    return f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}:{ff:02d}"


def frame_text(i: int, fps: float | None = None) -> str:
    """'frame 12 (00:00:00:12)': what undo texts, ranges and messages say."""
    return f"frame {int(i)}" + (f" ({timecode(i, fps)})" if fps else "")
