"""A real ICC v2 matrix/TRC profile built byte by byte, for tests: no profile file is shipped or
downloaded, and Pillow's ImageCms can only create sRGB, Lab and XYZ profiles itself.

The profile is Adobe RGB (1998)-compatible: its D50-adapted colorants and its 563/256 gamma are
the published ones, so LittleCMS converts with it as with Adobe's own file."""
from __future__ import annotations

import struct


def _s15(v: float) -> bytes:
    return struct.pack(">i", int(round(v * 65536)))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + b"\0" * 4 + _s15(x) + _s15(y) + _s15(z)


def _curve(gamma: float) -> bytes:
    return b"curv" + b"\0" * 4 + struct.pack(">I", 1) + struct.pack(">H", int(round(gamma * 256))) + b"\0\0"


def _desc(text: str) -> bytes:
    a = text.encode("ascii") + b"\0"
    body = b"desc" + b"\0" * 4 + struct.pack(">I", len(a)) + a
    body += struct.pack(">II", 0, 0)               # no Unicode description
    body += struct.pack(">HB", 0, 0) + b"\0" * 67  # no ScriptCode description
    return body


def _text(text: str) -> bytes:
    return b"text" + b"\0" * 4 + text.encode("ascii") + b"\0"


def matrix_profile(description: str, red, green, blue, gamma: float) -> bytes:
    """An RGB display profile (ICC v2.1) from D50 colorants and one gamma for all channels."""
    tags = [(b"desc", _desc(description)), (b"cprt", _text("No copyright, test data")),
            (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
            (b"rXYZ", _xyz(*red)), (b"gXYZ", _xyz(*green)), (b"bXYZ", _xyz(*blue)),
            (b"rTRC", _curve(gamma)), (b"gTRC", _curve(gamma)), (b"bTRC", _curve(gamma))]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        while (offset + len(data)) % 4:
            data += b"\0"
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = struct.pack(">I", size) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"mntr" + b"RGB " + b"XYZ "
    header += struct.pack(">6H", 2026, 12, 7, 0, 0, 0) + b"acsp" + b"\0" * 4 + struct.pack(">I", 0)
    header += b"\0" * 8 + b"\0" * 8 + struct.pack(">I", 0)          # maker, model, attributes, intent
    header += _s15(0.9642) + _s15(1.0) + _s15(0.8249) + b"\0" * 4 + b"\0" * 16 + b"\0" * 28
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def adobe_rgb_1998() -> bytes:
    return matrix_profile("Adobe RGB (1998) compatible, test", (0.60974, 0.31111, 0.01947),
                          (0.20528, 0.62567, 0.06087), (0.14919, 0.06322, 0.74457), 563 / 256)
