"""SMPTE timecode: parsing, validation and shifting by a number of frames.

A source's start timecode (a QuickTime tmcd track, an MXF or Matroska "timecode" tag) names
its first frame; an output that starts at source frame N carries the source's timecode
shifted by N frames, so an editor can conform the colourised shot back into the edit.

Timecode counts frames at a whole "nominal" rate: round(fps), so 23.976 counts 24 a second,
29.97 counts 30 and 59.94 counts 60. Non-drop-frame timecode (``HH:MM:SS:FF``) labels frames
in plain sequence. Drop-frame timecode (``HH:MM:SS;FF``, SMPTE 12M, for the NTSC rates
30000/1001 and 60000/1001) keeps the label close to wall-clock time by skipping the labels
``;00`` and ``;01`` (``;00``..``;03`` at 59.94) at the start of every minute except every
tenth: no frame is dropped, only its number. Timecode wraps at 24 hours.

Pure functions, no FFmpeg: FFmpeg (the mov muxer's tmcd track) only copies the string.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# HH:MM:SS:FF, or drop-frame with ';' (or '.', FFmpeg's other drop-frame spelling) before the
# frames; some writers use ';' between every field of a drop-frame timecode
_TC = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.])(\d{2,3})$")
_TC_ALL_SEMI = re.compile(r"^(\d{1,2});(\d{2});(\d{2});(\d{2,3})$")


class TimecodeError(ValueError):
    """A timecode that cannot be used: the message says why."""


@dataclass(frozen=True)
class Timecode:
    """A position as a frame count from 00:00:00:00 at a nominal rate."""

    frame: int          # frames since 00:00:00:00 (0 <= frame < frames_per_day)
    rate: int           # nominal (whole) frames a second: 24, 25, 30, 50, 60, ...
    drop: bool = False  # SMPTE drop-frame labelling

    def __str__(self) -> str:
        return format_timecode(self.frame, self.rate, self.drop)

    def shifted(self, frames: int) -> "Timecode":
        return Timecode((self.frame + int(frames)) % frames_per_day(self.rate, self.drop), self.rate, self.drop)


def nominal_rate(fps: float) -> int:
    """The whole frame rate timecode counts at: 23.976 -> 24, 29.97 -> 30, 59.94 -> 60."""
    if not fps or fps <= 0:
        raise TimecodeError(f"no frame rate ({fps!r}) to count timecode at")
    return max(1, int(round(float(fps))))


def _drop_per_minute(rate: int) -> int:
    """Labels skipped at each minute that is not a tenth: 2 at 30, 4 at 60."""
    return rate // 15


def frames_per_day(rate: int, drop: bool = False) -> int:
    if drop:
        return rate * 86400 - _drop_per_minute(rate) * 9 * 144      # 144 ten-minute blocks a day
    return rate * 86400


def parse_timecode(text: str, fps: float) -> Timecode:
    """``text`` at a source of ``fps`` frames a second; TimecodeError naming the problem when it
    is not a timecode, its frames are not below the rate, or it names a drop-frame label that
    does not exist (``00:01:00;00``)."""
    s = str(text).strip()
    m = _TC.match(s)
    if m:
        hh, mm, ss, sep, ff = m.groups()
        drop = sep != ":"
    else:
        m = _TC_ALL_SEMI.match(s)
        if not m:
            raise TimecodeError(f"{text!r} is not a timecode (HH:MM:SS:FF, or HH:MM:SS;FF for drop-frame)")
        hh, mm, ss, ff = m.groups()
        drop = True
    hh, mm, ss, ff = int(hh), int(mm), int(ss), int(ff)
    rate = nominal_rate(fps)
    if hh >= 24 or mm >= 60 or ss >= 60:
        raise TimecodeError(f"{text!r} is not a timecode (hours 0..23, minutes and seconds 0..59)")
    if ff >= rate:
        raise TimecodeError(f"{text!r}: frame {ff} is not below the frame rate ({rate} at {float(fps):.3f} fps)")
    if drop:
        if rate % 30:
            raise TimecodeError(f"{text!r} is drop-frame timecode, which exists only at 29.97 or 59.94 fps "
                                f"(this source runs at {float(fps):.3f} fps)")
        d = _drop_per_minute(rate)
        if ss == 0 and mm % 10 and ff < d:
            raise TimecodeError(f"{text!r} does not exist in drop-frame timecode (frames ;00..;{d - 1:02d} "
                                f"are skipped at the start of every minute but each tenth)")
    minutes = hh * 60 + mm
    frame = (hh * 3600 + mm * 60 + ss) * rate + ff
    if drop:
        frame -= _drop_per_minute(rate) * (minutes - minutes // 10)
    return Timecode(frame, rate, drop)


def format_timecode(frame: int, rate: int, drop: bool = False) -> str:
    """The label of frame number ``frame`` (wrapped to a day) at nominal ``rate``."""
    frame %= frames_per_day(rate, drop)
    if drop:
        d = _drop_per_minute(rate)
        per_10min = rate * 600 - d * 9
        per_min = rate * 60 - d
        tens, rem = divmod(frame, per_10min)
        # the first minute of each ten keeps all its labels; each later one skips d
        frame += d * 9 * tens + (d * ((rem - d) // per_min) if rem >= d else 0)
    ff = frame % rate
    secs = frame // rate
    sep = ";" if drop else ":"
    return f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}{sep}{ff:02d}"


def shift_timecode(text: str, frames: int, fps: float) -> str:
    """``text`` moved on by ``frames`` frames (drop-frame kept as it is, wrapped at 24 h)."""
    return str(parse_timecode(text, fps).shifted(frames))
