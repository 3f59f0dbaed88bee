"""Export round trips: real encodes decoded back (frame count, size, colours, tags, audio)."""
from __future__ import annotations

import os

import av
import cv2
import numpy as np
import pytest

from app.core.export import ExportError, ExportSettings, detect_format, open_encoder
from tests.conftest import encode_clip

W, H = 128, 64
# eight 32x32 patches: primaries, secondaries, a skin tone and a grey
PATCHES = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0),
           (0, 255, 255), (255, 0, 255), (224, 172, 105), (128, 128, 128)]


def patch_frame(shift: int = 0) -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    for k, c in enumerate(PATCHES):
        y, x = divmod((k + shift) % len(PATCHES), 4)
        img[y * 32:(y + 1) * 32, x * 32:(x + 1) * 32] = c
    return img


def patch_centres(img: np.ndarray) -> np.ndarray:
    """Mean colour of the 16x16 centre of every 32x32 patch (away from 4:2:x chroma edges)."""
    out = []
    for y in range(2):
        for x in range(4):
            out.append(img[y * 32 + 8:y * 32 + 24, x * 32 + 8:x * 32 + 24].reshape(-1, 3).mean(0))
    return np.array(out)


def yuv_to_rgb(y, u, v, matrix="709", full=False, bits=8):
    """Reference Y'CbCr -> R'G'B' (0..255 floats), independent of libswscale."""
    s = 2 ** (bits - 8)
    y, u, v = (np.asarray(a, np.float64) / s for a in (y, u, v))
    if full:
        yn, cb, cr = y / 255, (u - 128) / 255, (v - 128) / 255
    else:
        yn, cb, cr = (y - 16) / 219, (u - 128) / 224, (v - 128) / 224
    kr, kb = (0.2126, 0.0722) if matrix == "709" else (0.299, 0.114)
    kg = 1 - kr - kb
    r = yn + 2 * (1 - kr) * cr
    b = yn + 2 * (1 - kb) * cb
    g = (yn - kr * r - kb * b) / kg
    return np.clip(np.stack([r, g, b], -1) * 255, 0, 255)


def planes(frame: av.VideoFrame):
    """Y, U, V planes as arrays, chroma upsampled (nearest) to the luma size."""
    bits = 10 if "10" in frame.format.name else 8
    dt = np.uint16 if bits > 8 else np.uint8
    out = []
    for p in frame.planes:
        a = np.frombuffer(p, dt).reshape(p.height, p.line_size // dt().itemsize)[:, :p.width]
        out.append(cv2.resize(a.astype(np.float32), (frame.width, frame.height), interpolation=cv2.INTER_NEAREST))
    return out, bits


def encode(path, frames, **kw):
    enc = open_encoder(path, W, H, 24, **kw)
    for f in frames:
        enc.write(f)
    return enc.close()


def test_h264_bt709_limited_round_trip(tmp_path):
    src = [patch_frame(i) for i in range(6)]
    out = encode(tmp_path / "c.mp4", src)
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        cc = s.codec_context
        assert (cc.name, cc.pix_fmt, cc.width, cc.height) == ("h264", "yuv420p", W, H)
        # BT.709 primaries/transfer/matrix, tv range, tagged in the stream
        assert (int(cc.color_primaries), int(cc.color_trc), int(cc.colorspace), int(cc.color_range)) == (1, 1, 1, 1)
        decoded = list(c.decode(s))
    assert len(decoded) == 6
    for i, f in enumerate(decoded):
        (y, u, v), bits = planes(f)
        want = patch_centres(src[i])
        got = patch_centres(yuv_to_rgb(y, u, v))
        assert np.abs(got - want).max() < 6, (i, got.round(), want)
        # the tolerance catches a wrong matrix and a wrong range
        assert np.abs(patch_centres(yuv_to_rgb(y, u, v, matrix="601")) - want).max() > 15
        assert np.abs(patch_centres(yuv_to_rgb(y, u, v, full=True)) - want).max() > 15
        # and a tag-aware decoder (libswscale reading the tags) shows the same colours
        assert np.abs(patch_centres(f.to_ndarray(format="rgb24")) - want).max() < 8


def test_prores_hq_round_trip(tmp_path):
    src = [patch_frame(i) for i in range(4)]
    out = encode(tmp_path / "c.mov", src, settings=ExportSettings(format="prores"))
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        cc = s.codec_context
        assert cc.name == "prores" and cc.pix_fmt == "yuv422p10le"
        assert cc.profile in ("HQ", 3) or "HQ" in str(cc.profile)
        assert (int(cc.color_primaries), int(cc.color_trc), int(cc.colorspace), int(cc.color_range)) == (1, 1, 1, 1)
        decoded = list(c.decode(s))
    assert len(decoded) == 4
    for i, f in enumerate(decoded):
        (y, u, v), bits = planes(f)
        assert bits == 10
        got = patch_centres(yuv_to_rgb(y, u, v, bits=10))
        assert np.abs(got - patch_centres(src[i])).max() < 3


def test_ffv1_is_lossless(tmp_path):
    rng = np.random.default_rng(1)
    src = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(3)]
    out = encode(tmp_path / "c.mkv", src, settings=ExportSettings(format="ffv1"))
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "ffv1"
        got = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(got) == 3
    for a, b in zip(src, got):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("sar", [(64, 45), (10, 11), (1, 3)])
def test_ffv1_mkv_with_a_pixel_aspect_stays_lossless_with_valid_checksums(tmp_path, sar):
    """The aspect is written into the closed file (export.mkv_set_aspect): the frames still
    decode bit-exact, and the Tracks element's CRC-32 (FFmpeg writes one) matches its data."""
    import struct
    import zlib
    from fractions import Fraction
    from app.core.export import _ebml_children, _ebml_element
    rng = np.random.default_rng(2)
    src = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(3)]
    enc = open_encoder(tmp_path / "c.mkv", W, H, settings=ExportSettings(format="ffv1"),
                       sample_aspect_ratio=Fraction(*sar))
    for f in src:
        enc.write(f)
    out = enc.close()
    with av.open(str(out)) as c:
        assert c.streams.video[0].sample_aspect_ratio == Fraction(*sar)
        got = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(got) == 3 and all(np.array_equal(a, b) for a, b in zip(src, got))
    b = out.read_bytes()
    _, _, i, _ = _ebml_element(b, _ebml_element(b, 0)[3])        # the Segment's data
    while _ebml_element(b, i)[0] != 0x1654AE6B:                  # Tracks
        i = _ebml_element(b, i)[3]
    eid, _, d0, d1 = _ebml_element(b, i)
    crc = _ebml_children(b, d0, d1)[0]
    assert crc[0] == 0xBF and struct.unpack("<I", b[crc[2]:crc[3]])[0] == zlib.crc32(b[crc[3]:d1])


@pytest.mark.skipif(os.name != "posix", reason="needs RLIMIT_FSIZE")
def test_ffv1_mkv_aspect_patch_that_fails_part_way_leaves_no_output(tmp_path, monkeypatch):
    """The pixel aspect is written into the closed .mkv in place: a write that fails part way
    (here the file-size limit stops it in the middle of the Tracks element, as a full disk or
    an I/O error can) leaves a half-patched Tracks. It was taken for 'not laid out so' (False,
    'file untouched'), and the broken file was renamed into place as the output."""
    import resource
    import signal
    from fractions import Fraction
    import app.core.export as export
    real = export.mkv_set_aspect

    def patch_with_a_size_limit(path, *a):
        b = open(path, "rb").read()
        _, _, at, _ = export._ebml_element(b, export._ebml_element(b, 0)[3])     # the Segment's data
        while export._ebml_element(b, at)[0] != 0x1654AE6B:                      # Tracks: patched from here
            at = export._ebml_element(b, at)[3]
        old = resource.getrlimit(resource.RLIMIT_FSIZE)
        sig = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (at + 40, old[1]))    # 40 bytes get through
        try:
            return real(path, *a)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, old)
            signal.signal(signal.SIGXFSZ, sig)
    monkeypatch.setattr(export, "mkv_set_aspect", patch_with_a_size_limit)
    enc = open_encoder(tmp_path / "c.mkv", W, H, settings=ExportSettings(format="ffv1"),
                       sample_aspect_ratio=Fraction(64, 45))
    for _ in range(2):
        enc.write(patch_frame())
    with pytest.raises(ExportError, match="write failed|disk full"):
        enc.close()
    assert os.listdir(tmp_path) == []           # no output, no temp file


@pytest.mark.parametrize("fmt,ext", [("png", ".png"), ("tiff", ".tif")])
def test_image_sequences(tmp_path, fmt, ext):
    rng = np.random.default_rng(2)
    src = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(3)]
    out = encode(tmp_path / "frames", src, settings=ExportSettings(format=fmt))
    names = sorted(os.listdir(out))
    assert names == [f"{i:05d}{ext}" for i in range(3)]
    for i, n in enumerate(names):
        img = cv2.cvtColor(cv2.imread(str(out / n)), cv2.COLOR_BGR2RGB)
        assert img.shape == (H, W, 3) and np.array_equal(img, src[i])
    # re-export over a previous sequence replaces it; a folder with other files is refused
    out = encode(tmp_path / "frames", src[:2], settings=ExportSettings(format=fmt))
    assert len(os.listdir(out)) == 2
    (tmp_path / "frames" / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        open_encoder(tmp_path / "frames", W, H, settings=ExportSettings(format=fmt))
    assert not [p for p in os.listdir(tmp_path) if ".partial" in p]


def _audio_info(path):
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return None
        a = c.streams.audio[0]
        packets = [p for p in c.demux(a) if p.size]
        dur = sum(float(p.duration * a.time_base) for p in packets)
        return a.codec_context.name, len(packets), dur


@pytest.mark.parametrize("out_name", ["o.mp4", "o.mkv", "o.mov"])
def test_audio_passthrough(tmp_path, scene, out_name):
    src = encode_clip(tmp_path / "a.mp4", [scene.gray(i) for i in range(24)], audio_seconds=1.0)
    src_codec, src_packets, src_dur = _audio_info(src)
    enc = open_encoder(tmp_path / out_name, scene.width, scene.height, 24, audio_source=src)
    for i in range(24):
        enc.write(scene.rgb(i))
    enc.close()
    codec, npk, dur = _audio_info(tmp_path / out_name)
    assert codec == src_codec == "aac"
    assert npk >= src_packets - 1 and abs(dur - src_dur) < 0.05   # remuxed, not dropped
    with av.open(str(tmp_path / out_name)) as c:
        assert c.streams.video[0].frames in (0, 24) and len(list(c.decode(video=0))) == 24


def test_audio_trimmed_to_range_and_pcm_transcoded(tmp_path, scene):
    src = encode_clip(tmp_path / "a.mkv", [scene.gray(i) for i in range(48)], audio_seconds=2.0,
                      audio_codec="pcm_s16le")
    enc = open_encoder(tmp_path / "o.mp4", scene.width, scene.height, 24, audio_source=src,
                       start_time=0.5, end_time=1.5)   # mp4 cannot carry PCM: AAC
    for i in range(24):
        enc.write(scene.rgb(i))
    enc.close()
    codec, npk, dur = _audio_info(tmp_path / "o.mp4")
    assert codec == "aac"
    assert 0.9 < dur < 1.15


def test_abort_leaves_nothing(tmp_path):
    enc = open_encoder(tmp_path / "c.mp4", W, H, 24)
    enc.write(patch_frame())
    enc.abort()
    assert os.listdir(tmp_path) == []


def test_bad_outputs(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        open_encoder(tmp_path / "nope" / "c.mp4", W, H)
    with pytest.raises(ExportError, match="unsupported output extension"):
        detect_format(tmp_path / "c.xyz")
    with pytest.raises(ExportError, match="ProRes is written to .mov"):
        detect_format(tmp_path / "c.mp4", "prores")
    with pytest.raises(ExportError, match="frame is"):
        enc = open_encoder(tmp_path / "c.mkv", W, H)
        enc.write(np.zeros((H + 2, W, 3), np.uint8))
    enc.abort()
    assert detect_format(tmp_path / "out") == "png"
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.geteuid() != 0:  # root ignores permissions
            with pytest.raises(ExportError, match="not writable"):
                open_encoder(ro / "c.mp4", W, H)
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("name", ["c.mp4", "seq"])
def test_disk_full(small_fs, name):
    rng = np.random.default_rng(3)
    enc = open_encoder(small_fs / name, 320, 240, 24, ExportSettings(crf=0))
    with pytest.raises(ExportError, match="disk full"):
        for _ in range(60):   # incompressible frames overflow 256 KiB quickly
            enc.write(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8))
        enc.close()
    assert os.listdir(small_fs) == []   # no half-written file left behind


def test_odd_size_h264_is_cropped_to_even(tmp_path):
    enc = open_encoder(tmp_path / "odd.mp4", 65, 33, 24)
    enc.write(np.full((33, 65, 3), 90, np.uint8))
    enc.close()
    with av.open(str(tmp_path / "odd.mp4")) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.width, cc.height) == (64, 32)
