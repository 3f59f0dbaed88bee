"""Keyframes with an embedded ICC profile (a still recoloured in Photoshop in Adobe RGB) enter
the product in sRGB: decode_image converts them, and a render keyed with one gives the colours
the same key saved as sRGB gives."""
from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image, ImageCms

from app.cli import EXIT_OK, main
from app.core.media import decode_image
from tests.core.icc_profiles import adobe_rgb_1998

PATCHES = [(40, 180, 60), (200, 60, 40), (50, 80, 200), (230, 200, 40), (128, 128, 128)]


def _patch_image(w=100, h=20) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    for i, c in enumerate(PATCHES):
        img[:, i * (w // len(PATCHES)):(i + 1) * (w // len(PATCHES))] = c
    return img


def _to_adobe(rgb: np.ndarray) -> np.ndarray:
    t = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.ImageCmsProfile(io.BytesIO(adobe_rgb_1998())),
                                "RGB", "RGB", renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
    return np.asarray(ImageCms.applyTransform(Image.fromarray(rgb), t))


def _centres(img: np.ndarray) -> np.ndarray:
    w = img.shape[1] // len(PATCHES)
    return np.array([img[img.shape[0] // 2, i * w + w // 2] for i in range(len(PATCHES))], np.int32)


def test_adobe_rgb_png_and_jpeg_decode_to_their_srgb_colours(tmp_path):
    srgb = _patch_image()
    adobe = _to_adobe(srgb)
    # the file's values are other numbers than the sRGB ones: read as sRGB, the green is far off
    assert np.abs(_centres(adobe) - _centres(srgb)).max() > 40
    for ext, kw, tol in ((".png", {}, 2), (".jpg", {"quality": 98, "subsampling": 0}, 4),
                         (".tif", {}, 2)):
        path = tmp_path / f"key{ext}"
        Image.fromarray(adobe).save(path, icc_profile=adobe_rgb_1998(), **kw)
        got, _ = decode_image(path)
        assert np.abs(_centres(got) - _centres(srgb)).max() <= tol, (ext, _centres(got), _centres(srgb))


def test_images_without_a_usable_profile_are_taken_as_srgb(tmp_path):
    srgb = _patch_image()
    plain = tmp_path / "plain.png"
    Image.fromarray(srgb).save(plain)
    assert np.array_equal(decode_image(plain)[0], srgb)          # untagged: exactly as stored
    tagged = tmp_path / "srgb.png"
    Image.fromarray(srgb).save(tagged, icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    assert np.abs(decode_image(tagged)[0].astype(int) - srgb).max() <= 1
    broken = tmp_path / "broken.png"
    Image.fromarray(srgb).save(broken, icc_profile=b"not a profile" * 20)
    assert np.array_equal(decode_image(broken)[0], srgb)        # ignored, as viewers do


def test_render_keyed_with_an_adobe_rgb_still_gives_the_srgb_keys_colours(make_clip, tmp_path, capsys):
    clip = make_clip(frames=4)
    key_srgb = cv2.cvtColor(cv2.imread(str(clip.key_png)), cv2.COLOR_BGR2RGB)
    adobe_key = tmp_path / "key_adobe.png"
    Image.fromarray(_to_adobe(key_srgb)).save(adobe_key, icc_profile=adobe_rgb_1998())
    untagged = tmp_path / "key_adobe_untagged.png"       # the same values with the profile left out
    Image.fromarray(_to_adobe(key_srgb)).save(untagged)
    out = {}
    for name, key in (("srgb", clip.key_png), ("adobe", adobe_key), ("untagged", untagged)):
        o = tmp_path / name
        assert main(["propagate", str(clip.video), "-o", str(o), "--key", f"0={key}", "--method", "flow",
                     "--end", "2", "-q"]) == EXIT_OK, capsys.readouterr().err
        out[name] = cv2.imread(str(o / "00001.png")).astype(np.int32)
    # the same colours to within the 8-bit round trip through Adobe RGB (a few dark saturated
    # pixels move most); the file's values read as sRGB put the colours far off
    d = np.abs(out["srgb"] - out["adobe"])
    assert d.mean() < 1.0 and np.percentile(d, 99) <= 6, (d.mean(), np.percentile(d, 99))
    off = np.abs(out["srgb"] - out["untagged"]).mean()
    assert off > 4 * max(d.mean(), 0.5), off
