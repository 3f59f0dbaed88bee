"""One validation layer for everything read from outside: hint files, projects, CLI values,
export settings and the frame size of an input.

Each check refuses a bad value with one line that names the file (or option), the field and
the allowed range, before any frame is read. Callers turn ``ValidationError`` into their own
exit code or dialog; nothing here knows about argparse or Qt.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

# Propagation needs a few pyramid levels: below 64 lines OpenCV's DIS flow fails, or on
# some wide frames crashes the process (measured: 160x32 and 200x48 crash, 64 lines never).
MIN_PROXY_HEIGHT = 64
MIN_WIDTH = 32
MAX_PROXY_HEIGHT = 4320
MAX_JSON_DEPTH = 64            # hint and project files are a few levels deep
MAX_JSON_BYTES = 256 * 2**20
COORD_RANGE = (-1.0, 2.0)      # fractions of width/height; a stroke may run off the frame
RADIUS_RANGE = (0.0, 1.0)      # fraction of the frame height, > 0
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                "slower", "veryslow", "placebo")
CRF_RANGE = (0, 51)
MAX_FRAME = 10_000_000         # frame indices (about 116 hours at 24 fps)
# still images read as frames of a folder or as keys (app.core.media re-exports it); here, where
# the editor's GUI thread can look at a name without importing PyAV (~90 ms at its first open)
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}


class ValidationError(ValueError):
    """A value read from a file, option or setting is out of range; one line, says which."""


def _where(source, field: str) -> str:
    return f"{source}: {field}" if source else field


# ------------------------------------------------------------------------------ scalars
def is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def check_int(v, source, field: str, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        v = int(v)
    if not is_int(v):
        raise ValidationError(f"{_where(source, field)} must be an integer{_range_text(lo, hi)}, "
                              f"got {_show(v)}")
    v = int(v)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValidationError(f"{_where(source, field)} is {v}; allowed{_range_text(lo, hi, ':')}")
    return v


def check_number(v, source, field: str, lo: float | None = None, hi: float | None = None,
                 lo_open: bool = False) -> float:
    if not is_number(v):
        raise ValidationError(f"{_where(source, field)} must be a number, got {_show(v)}")
    x = float(v)
    if not math.isfinite(x):
        raise ValidationError(f"{_where(source, field)} is {x}; it must be a finite number"
                              f"{_range_text(lo, hi, ',', lo_open)}")
    if (lo is not None and (x <= lo if lo_open else x < lo)) or (hi is not None and x > hi):
        raise ValidationError(f"{_where(source, field)} is {x:g}; allowed{_range_text(lo, hi, ':', lo_open)}")
    return x


def _range_text(lo, hi, lead: str = "", lo_open: bool = False) -> str:
    """" 0..51", ": >= 0", ", 0.0 < value <= 1.0" ... (``lead`` is what comes before the space)."""
    if lo is None and hi is None:
        return ""
    if lo is not None and hi is not None:
        text = f"{lo} < value <= {hi}" if lo_open else f"{lo}..{hi}"
    elif lo is not None:
        text = f"{'>' if lo_open else '>='} {lo}"
    else:
        text = f"<= {hi}"
    return f"{lead} {text}"


def _show(v) -> str:
    text = json.dumps(v) if isinstance(v, (str, list, dict, bool)) or v is None else repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


# --------------------------------------------------------------------------------- JSON
def read_json(path: str | os.PathLike, what: str = "file"):
    """Parse a JSON file; any problem is one ValidationError line naming the file."""
    p = Path(path)
    if not p.exists():
        raise ValidationError(f"{p}: no such {what}")
    if p.is_dir():
        raise ValidationError(f"{p}: is a folder, not a {what}")
    try:
        size = p.stat().st_size
        if size > MAX_JSON_BYTES:
            raise ValidationError(f"{p}: {what} is {size / 2**20:.0f} MB; at most "
                                  f"{MAX_JSON_BYTES // 2**20} MB is read")
        raw = p.read_bytes()
    except OSError as exc:
        raise ValidationError(f"{p}: cannot read the {what} ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"{p}: {what} is not UTF-8 JSON text") from None
    depth = _max_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ValidationError(f"{p}: {what} nests more than {MAX_JSON_DEPTH} levels deep "
                              f"(at most {MAX_JSON_DEPTH} are allowed)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{p}: {what} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                              f"{exc.msg})") from None
    except RecursionError:  # pragma: no cover - _max_depth refuses these first
        raise ValidationError(f"{p}: {what} nests too deeply") from None


def _max_depth(text: str) -> int:
    """Bracket nesting depth outside strings (so json.loads never recurses past the limit)."""
    depth = top = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > top:
                top = depth
                if top > MAX_JSON_DEPTH:
                    return top
        elif ch in "]}":
            depth -= 1
    return top


# ------------------------------------------------------------------------------ strokes
def check_stroke(d, source, index: int):
    """A hint stroke dict -> models.base.HintStroke, every field checked."""
    import uuid

    from models.base import HintStroke
    where = f"stroke {index}"
    if not isinstance(d, dict):
        raise ValidationError(f"{_where(source, where)} must be an object, got {_show(d)}")
    if "frame" not in d:
        raise ValidationError(f"{_where(source, where)} lacks the field 'frame'")
    if "points" not in d:
        raise ValidationError(f"{_where(source, where)} lacks the field 'points'")
    frame = check_int(d["frame"], source, f"{where} frame", 0, MAX_FRAME)
    pts = d["points"]
    if not isinstance(pts, list) or not pts:
        raise ValidationError(f"{_where(source, where + ' points')} must be a non-empty list of [x, y], "
                              f"got {_show(pts)}")
    points = []
    lo, hi = COORD_RANGE
    for k, p in enumerate(pts):
        if not isinstance(p, (list, tuple)) or len(p) != 2:
            raise ValidationError(f"{_where(source, f'{where} point {k}')} must be [x, y], got {_show(p)}")
        x = check_number(p[0], source, f"{where} point {k} x", lo, hi)
        y = check_number(p[1], source, f"{where} point {k} y", lo, hi)
        points.append((x, y))
    radius = check_number(d.get("radius", 0.01), source, f"{where} radius (a fraction of the height)",
                          RADIUS_RANGE[0], RADIUS_RANGE[1], lo_open=True)
    color = d.get("color", [0, 0, 0])
    if not isinstance(color, (list, tuple)) or len(color) != 3:
        raise ValidationError(f"{_where(source, where + ' color')} must be three integers 0..255, got {_show(color)}")
    color = tuple(check_int(c, source, f"{where} color", 0, 255) for c in color)
    erase = d.get("erase", False)
    if not isinstance(erase, bool):
        raise ValidationError(f"{_where(source, where + ' erase')} must be true or false, got {_show(erase)}")
    sid = d.get("id")
    if sid is not None and not isinstance(sid, (str, int)):
        raise ValidationError(f"{_where(source, where + ' id')} must be a string, got {_show(sid)}")
    return HintStroke(frame=frame, points=points, radius=radius, color=color, erase=erase,
                      id=str(sid) if sid not in (None, "") else uuid.uuid4().hex[:12])


def check_strokes(data, source) -> list:
    """A hint file's content: a list of strokes or {"strokes": [...]}."""
    if isinstance(data, dict):
        if "strokes" not in data:
            raise ValidationError(f"{source}: hints file must hold a JSON list of strokes "
                                  f"(or an object with \"strokes\")")
        data = data["strokes"]
    if not isinstance(data, list):
        raise ValidationError(f"{source}: hints file must hold a JSON list of strokes, got {_show(data)}")
    return [check_stroke(d, source, i) for i, d in enumerate(data)]


def colourless_strokes(strokes) -> list[int]:
    """Indices of painting strokes without colour (r = g = b): they can only make grey."""
    return [i for i, s in enumerate(strokes) if not s.erase and not s.has_colour]


def is_grey_image(rgb: np.ndarray, tol: int = 2) -> bool:
    """True when an RGB image carries no colour (every pixel r = g = b within ``tol``)."""
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] < 3:
        return True
    a = a[..., :3].astype(np.int16)
    return int(np.abs(a[..., 0] - a[..., 1]).max()) <= tol and int(np.abs(a[..., 0] - a[..., 2]).max()) <= tol


# ------------------------------------------------------------------------------ project
def check_project_fields(data: dict, source) -> dict:
    """The typed fields of a project's JSON (format version 1); returns them normalised."""
    out: dict[str, Any] = {}
    src = data.get("source")
    if src is not None:
        if not isinstance(src, dict):
            raise ValidationError(f"{_where(source, 'source')} must be an object "
                                  f"{{\"path\": ..., \"relative\": ...}}, got {_show(src)}")
        for k in ("path", "relative"):
            if src.get(k) is not None and not isinstance(src[k], str):
                raise ValidationError(f"{_where(source, 'source.' + k)} must be a string, got {_show(src[k])}")
        if not src.get("path") and not src.get("relative"):
            raise ValidationError(f"{_where(source, 'source')} names no file (needs \"path\" or \"relative\")")
    out["source"] = src
    out["proxy_height"] = check_proxy_height(data.get("proxy_height", 480), source, "proxy_height")
    method = data.get("method")
    if method is not None and not isinstance(method, str):
        raise ValidationError(f"{_where(source, 'method')} must be a string, got {_show(method)}")
    out["method"] = method
    out["hint_method"] = check_hint_method(data.get("hint_method"), _where(source, "hint_method"))
    rng = data.get("range")
    out["in"] = out["out"] = None
    if rng is not None:
        if not isinstance(rng, dict):
            raise ValidationError(f"{_where(source, 'range')} must be an object {{\"in\": A, \"out\": B}} "
                                  f"or null, got {_show(rng)}")
        a = None if rng.get("in") is None else check_int(rng["in"], source, "range.in", 0, MAX_FRAME)
        b = None if rng.get("out") is None else check_int(rng["out"], source, "range.out", 0, MAX_FRAME)
        if a is not None and b is not None and b < a:
            raise ValidationError(f"{_where(source, 'range')}: out {b} is before in {a}")
        out["in"], out["out"] = a, b
    keys = data.get("keyframes", [])
    if not isinstance(keys, list):
        raise ValidationError(f"{_where(source, 'keyframes')} must be a list, got {_show(keys)}")
    out["keyframes"] = []
    for i, k in enumerate(keys):
        if not isinstance(k, dict):
            raise ValidationError(f"{_where(source, f'keyframes[{i}]')} must be an object, got {_show(k)}")
        f = check_int(k.get("frame"), source, f"keyframes[{i}].frame", 0, MAX_FRAME)
        first = next((j for j, (g, _) in enumerate(out["keyframes"]) if g == f), None)
        if first is not None:
            # the later image silently replaced the earlier one (as `--key N=` given twice is refused)
            raise ValidationError(f"{_where(source, f'keyframes[{i}].frame')} is {f}, and keyframes[{first}] "
                                  f"is frame {f} too: one image per frame; remove one of them")
        img = k.get("image")
        if not isinstance(img, str) or not img or "/" in img or "\\" in img or img in (".", ".."):
            raise ValidationError(f"{_where(source, f'keyframes[{i}].image')} must be a file name in the "
                                  f"layers folder, got {_show(img)}")
        out["keyframes"].append((f, img))
    strokes = data.get("strokes", [])
    if not isinstance(strokes, list):
        raise ValidationError(f"{_where(source, 'strokes')} must be a list, got {_show(strokes)}")
    out["strokes"] = [check_stroke(d, source, i) for i, d in enumerate(strokes)]
    settings = data.get("settings")
    if settings is not None and not isinstance(settings, dict):
        raise ValidationError(f"{_where(source, 'settings')} must be an object, got {_show(settings)}")
    out["settings"] = dict(settings or {})
    layers = data.get("layers")
    if layers is not None and (not isinstance(layers, str) or not layers):
        raise ValidationError(f"{_where(source, 'layers')} must be a folder name, got {_show(layers)}")
    out["layers"] = layers
    return out


# --------------------------------------------------------------------- sizes, settings
def check_proxy_height(h, source="", field: str = "proxy height") -> int:
    return check_int(h, source, field, MIN_PROXY_HEIGHT, MAX_PROXY_HEIGHT)


def check_frame_size(path, width: int, height: int, proxy_height: int) -> None:
    """Refuse inputs too small to propagate (before any frame is read)."""
    from app.core.media import proxy_size
    if width < MIN_WIDTH or height < MIN_PROXY_HEIGHT:
        raise ValidationError(f"{path}: frames are {width}x{height}; Hueshot needs frames at least "
                              f"{MIN_WIDTH}x{MIN_PROXY_HEIGHT} (width x height)")
    pw, ph = proxy_size(width, height, proxy_height)
    if pw < MIN_WIDTH or ph < MIN_PROXY_HEIGHT:
        raise ValidationError(f"{path}: proxy height {proxy_height} makes {width}x{height} frames "
                              f"{pw}x{ph}; the proxy must be at least {MIN_WIDTH}x{MIN_PROXY_HEIGHT} "
                              f"(raise the proxy height)")


def check_hint_method(name, where: str = "hint method"):
    """None or the name of a hint method (models.hinting.hints.HINT_METHODS). The default
    method's own name is returned as None: the same pixels, so the same cache keys."""
    if name is None:
        return None
    from models.hinting.hints import DEFAULT_HINT_METHOD, HINT_METHODS
    if not isinstance(name, str) or name not in HINT_METHODS:
        raise ValidationError(f"{where} must be one of {', '.join(HINT_METHODS)}, got {_show(name)}")
    return None if name == DEFAULT_HINT_METHOD else name


def check_export_settings(settings, source: str = "export") -> None:
    """CRF, preset and PNG compression, before an encoder is opened (x264 would report them
    in its own words only at the first frame)."""
    check_int(settings.crf, "", f"{source} crf (H.264 quality)", *CRF_RANGE)
    if settings.preset not in X264_PRESETS:
        raise ValidationError(f"{source} preset {settings.preset!r} is not an x264 preset "
                              f"(one of {', '.join(X264_PRESETS)})")
    check_int(settings.png_compression, "", f"{source} png compression", 0, 9)


# ------------------------------------------------------------------------ output paths
def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _inside(child: Path, folder: Path) -> bool:
    c, f = os.path.realpath(child), os.path.realpath(folder)
    return c == f or c.startswith(f.rstrip(os.sep) + os.sep)


def check_output_not_input(output, inputs, sequence: bool) -> None:
    """Refuse an output that would replace (or, for a frame folder, contain) an input.

    ``inputs``: (label, path) pairs (the video or frame folder, keyframe images, the hint
    file, the project and its layers folder). A sequence output replaces its whole folder.
    """
    out = Path(output)
    for label, p in inputs:
        if p is None:
            continue
        p = Path(p)
        if not p.exists():
            continue
        if out.exists() and _same(out, p):
            raise ValidationError(f"{out}: the output is the {label} itself; choose another output "
                                  f"(the {label} is left as it is)")
        if sequence and _inside(p, out):
            raise ValidationError(f"{out}: the output folder holds the {label} {p}; a frame sequence "
                                  f"replaces its whole folder, so choose another output")
        if not out.exists() and os.path.realpath(out) == os.path.realpath(p):
            raise ValidationError(f"{out}: the output is the {label} itself; choose another output")


def warn(msg: str) -> None:
    """A warning for a value that is allowed but almost surely not what was meant (the CLI
    prints the ``app`` loggers' warnings as ``hueshot: warning: ...``)."""
    import logging
    logging.getLogger("app.warnings").warning(msg)
