"""Embedded ICC colour profiles of still images (keyframes, references, frame folders).

A keyframe recoloured in a photo editor often carries its working space's profile: Adobe RGB
(1998) from Photoshop, Display P3 from Apple devices and Resolve stills. Its 8-bit values mean
other colours than the same values in sRGB, which is what the rest of the product assumes (Lab
conversions, the preview, BT.709 output). Read as sRGB, an Adobe RGB green is duller and shifted.
So an image with an RGB profile is converted to sRGB through LittleCMS (Pillow's ImageCms) once,
where it enters (app.core.media.decode_image). Images without a profile are taken as sRGB, as
browsers and most viewers take them. A profile LittleCMS cannot read, or one of another colour
space (a CMYK profile that OpenCV's CMYK JPEG decoder already turned into RGB), is ignored the
same way: viewers show such images as untagged.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np

_TRANSFORMS: dict[bytes, tuple] = {}       # profile digest -> (ImageCms transform, description)
_MAX_CACHED = 16


@dataclass
class ProfileResult:
    rgb: np.ndarray
    profile: str | None = None      # the embedded profile's description when it was applied


def embedded_profile(data: bytes) -> bytes | None:
    """The ICC profile embedded in an encoded PNG, JPEG or TIFF (None if there is none or the
    container is not one Pillow reads). Only the header is parsed, no pixels are decoded."""
    from PIL import Image
    try:
        with Image.open(io.BytesIO(data)) as im:
            icc = im.info.get("icc_profile")
    except Exception:        # noqa: BLE001 - the pixels were decoded by OpenCV already
        return None
    return bytes(icc) if icc else None


def _transform(icc: bytes):
    """(transform to sRGB, the profile's description). An sRGB profile gets one too: the
    conversion is then the identity to within a code, and no list of sRGB profiles' names to
    keep."""
    from PIL import ImageCms
    key = hashlib.sha1(icc).digest()
    if key in _TRANSFORMS:
        return _TRANSFORMS[key]
    src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    desc = (ImageCms.getProfileDescription(src) or "").strip()
    if src.profile.xcolor_space.strip() != "RGB":
        raise ValueError(f"a {src.profile.xcolor_space.strip()} profile ({desc}) on RGB pixels")
    t = ImageCms.buildTransform(src, ImageCms.createProfile("sRGB"), "RGB", "RGB",
                                renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
    out = (t, desc)
    if len(_TRANSFORMS) >= _MAX_CACHED:
        _TRANSFORMS.clear()
    _TRANSFORMS[key] = out
    return out


def to_srgb(rgb: np.ndarray, data: bytes) -> ProfileResult:
    """`rgb` (uint8 HxWx3, decoded from the encoded file `data`) in sRGB: converted from the
    file's embedded RGB profile when it has one."""
    icc = embedded_profile(data)
    if icc is None:
        return ProfileResult(rgb)
    try:
        t, desc = _transform(icc)
    except Exception:      # noqa: BLE001 - LittleCMS's errors are OSError / PyCMSError / ValueError
        return ProfileResult(rgb)
    from PIL import Image, ImageCms
    out = ImageCms.applyTransform(Image.fromarray(np.ascontiguousarray(rgb), "RGB"), t)
    return ProfileResult(np.asarray(out, np.uint8), profile=desc or "embedded profile")
