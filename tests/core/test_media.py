"""Media reading on real encoded files: every container/codec we claim, frame folders, bad input."""
from __future__ import annotations

from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from app.core.media import (CorruptMediaError, LumaCache, MediaError, open_media, proxy_size,
                            read_image_rgb)


def _frame(i: int, w: int, h: int) -> np.ndarray:
    """A frame whose content identifies its index: a bright bar at x = 8*i over a gradient."""
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.linspace(30, 220, w, dtype=np.uint8)[None, :]
    img[..., 1] = np.linspace(40, 200, h, dtype=np.uint8)[:, None]
    img[..., 2] = 90
    x = (8 * i) % (w - 8)
    img[:, x:x + 8] = 255
    return img


def _bar_position(rgb: np.ndarray) -> int:
    col = rgb.astype(np.int32).sum(axis=(0, 2))
    return int(np.argmax(np.convolve(col, np.ones(8), mode="valid")))


def _encode(path, codec, n=24, w=160, h=96, pix_fmt="yuv420p", rate=24, pts=None, options=None):
    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        if options:
            s.options = options
        if pts is not None:
            s.codec_context.time_base = Fraction(1, 1000)
        for i in range(n):
            f = av.VideoFrame.from_ndarray(_frame(i, w, h), format="rgb24").reformat(format=pix_fmt)
            if pts is not None:
                f.pts, f.time_base = pts[i], Fraction(1, 1000)
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


CASES = [
    ("h264.mp4", "libx264", "yuv420p"),
    ("hevc.mkv", "libx265", "yuv420p"),
    ("prores.mov", "prores_ks", "yuv422p10le"),
    ("ffv1.mkv", "ffv1", "yuv420p"),
    ("mjpeg.avi", "mjpeg", "yuvj420p"),
    ("vp9.webm", "libvpx-vp9", "yuv420p"),
]


@pytest.mark.parametrize("name,codec,pix_fmt", CASES)
def test_open_and_random_access(tmp_path, name, codec, pix_fmt):
    path = _encode(tmp_path / name, codec, pix_fmt=pix_fmt)
    src = open_media(path)
    assert (src.info.width, src.info.height, src.info.frame_count) == (160, 96, 24)
    assert abs(src.info.fps - 24) < 0.01
    seq = [rgb for _, rgb in src.iter_rgb()]
    assert len(seq) == 24
    for i, rgb in enumerate(seq):  # the content is the frame we wrote
        assert abs(_bar_position(rgb) - (8 * i) % 152) <= 1
    for i in (17, 3, 4, 23, 0, 12):  # frame-accurate by index, out of order
        assert np.array_equal(src.read_rgb(i), seq[i]), i
    src.close()


def test_variable_frame_rate(tmp_path):
    pts = [0, 40, 80, 200, 240, 400, 440, 480, 520, 700]
    path = _encode(tmp_path / "vfr.mkv", "libx264", n=10, pts=pts, rate=25)
    src = open_media(path)
    assert src.info.frame_count == 10
    assert src.info.variable_frame_rate
    assert src.info.timestamps[3] == pytest.approx(0.2, abs=1e-3)
    assert abs(_bar_position(src.read_rgb(5)) - 40) <= 1


def test_colour_tags_reported(tmp_path):
    path = tmp_path / "tagged.mp4"
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        cc = s.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 1, 1, 1, 1
        for i in range(3):
            for p in s.encode(av.VideoFrame.from_ndarray(_frame(i, 64, 64), format="rgb24").reformat(format="yuv420p")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    info = open_media(path).info
    assert (info.color_primaries, info.color_trc, info.colorspace, info.color_range) == ("bt709", "bt709", "bt709", "tv")


@pytest.mark.parametrize("ext,depth", [(".png", 8), (".png", 16), (".jpg", 8), (".tif", 8), (".tif", 16)])
def test_frame_folder(tmp_path, ext, depth):
    for i in range(6):
        img = cv2.cvtColor(_frame(i, 120, 80), cv2.COLOR_RGB2BGR)
        if depth == 16:
            img = img.astype(np.uint16) * 257
        cv2.imwrite(str(tmp_path / f"f{i:03d}{ext}"), img)
    src = open_media(tmp_path)
    assert (src.info.kind, src.info.frame_count, src.info.width, src.info.height) == ("frames", 6, 120, 80)
    assert src.info.bit_depth == depth
    assert abs(_bar_position(src.read_rgb(4)) - 32) <= 1
    assert len(list(src.iter_rgb(2))) == 4


def test_luma_cache_proxy_and_colour_input(tmp_path):
    path = _encode(tmp_path / "big.mp4", "libx264", n=5, w=640, h=360)
    src = open_media(path)
    assert proxy_size(640, 360, 180) == (320, 180)
    assert proxy_size(640, 360, 480) == (640, 360)  # never upscales
    cache = LumaCache.build(src, proxy_height=180, start=1, end=4)
    assert len(cache) == 3 and cache.size == (320, 180)
    L = cache[0]
    assert L.dtype == np.float32 and L.shape == (180, 320) and 0 <= L.min() and L.max() <= 100
    # a colour frame becomes its lightness: the white bar is the brightest thing
    assert L[:, 4:8].mean() > L[:, 100:120].mean()


def test_missing_file(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        open_media(tmp_path / "nope.mp4")


def test_not_a_video(tmp_path):
    p = tmp_path / "notes.mp4"
    p.write_text("this is not a video\n" * 50)
    with pytest.raises(MediaError, match="not a video"):
        open_media(p)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.mov"
    p.write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        open_media(p)


def test_zero_frames(tmp_path):
    p = tmp_path / "zero.mkv"
    with av.open(str(p), "w") as out:
        s = out.add_stream("ffv1", rate=24)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
    with pytest.raises(MediaError, match="zero"):
        open_media(p)


def test_audio_only_is_not_a_video(tmp_path):
    p = tmp_path / "audio.mka"
    with av.open(str(p), "w") as out:
        s = out.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 48000
        for p_ in s.encode(frame):
            out.mux(p_)
        for p_ in s.encode():
            out.mux(p_)
    with pytest.raises(MediaError, match="no video stream"):
        open_media(p)


def test_truncated_stream_says_where_it_broke(tmp_path):
    path = _encode(tmp_path / "full.mkv", "ffv1", n=30, w=160, h=96)
    data = path.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 2 // 3])
    src = open_media(cut)
    cache = LumaCache.build(src, proxy_height=96)
    assert 5 < len(cache) < 30  # the readable part is kept
    assert isinstance(cache.error, CorruptMediaError)  # and we say where it broke
    assert cache.error.frame_index == len(cache)
    assert "cut.mkv" in str(cache.error) and f"frame {len(cache)}" in str(cache.error)


def test_truncated_mp4_without_index(tmp_path):
    path = _encode(tmp_path / "full.mp4", "libx264", n=30)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(MediaError, match="cut.mp4.*truncated"):
        open_media(cut)


def test_index_out_of_range(tmp_path):
    src = open_media(_encode(tmp_path / "a.mp4", "libx264", n=5))
    with pytest.raises(MediaError, match="out of range"):
        src.read_rgb(5)
    with pytest.raises(MediaError, match="out of range"):
        LumaCache.build(src, start=7)


def test_single_image_and_bad_keyframe_image(tmp_path):
    img = tmp_path / "key.png"
    cv2.imwrite(str(img), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(MediaError, match="single image"):
        open_media(img)
    assert read_image_rgb(img).shape == (8, 8, 3)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG garbage")
    with pytest.raises(MediaError, match="unreadable"):
        read_image_rgb(bad)


def test_header_cut_short(tmp_path):
    path = _encode(tmp_path / "full.mkv", "ffv1", n=3)
    cut = tmp_path / "head.mkv"
    cut.write_bytes(path.read_bytes()[:200])
    with pytest.raises(MediaError, match="head.mkv.*(truncated|zero)"):
        open_media(cut)


def test_grey_frames_take_the_y_path_and_match_true_lightness(tmp_path):
    """Grey video: the luma pass reads Y' alone (chroma at 128) and is at least as close to the
    lightness of the true grey values as the RGB path (swscale's YUV -> RGB, then Lab); a colour
    frame in the same file takes the RGB path and equals proxy_luma_u8 of its decoded RGB."""
    from app.core.media import _is_neutral, proxy_luma_u8
    from models.color import rgb_to_luma
    w, h = 320, 180
    ramp = np.repeat(np.linspace(20, 235, w, dtype=np.float32)[None, :], h, axis=0)
    grey = np.repeat(ramp.astype(np.uint8)[..., None], 3, axis=2)
    colour = _frame(1, w, h)
    path = tmp_path / "mixed.mkv"
    with av.open(str(path), "w") as out:     # lossless, so the test sees the swscale path only
        st = out.add_stream("ffv1", rate=24)
        st.width, st.height, st.pix_fmt = w, h, "yuv444p"
        for i, rgb in enumerate([grey, colour]):
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv444p")
            f.pts, f.time_base = i, Fraction(1, 24)
            for p in st.encode(f):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    src = open_media(path)
    frames = list(src.iter_frames(0, 2))
    assert _is_neutral(frames[0][1]) and not _is_neutral(frames[1][1])
    lumas = dict(src.iter_proxy_luma(0, 2, (w, h)))
    truth = rgb_to_luma(grey) * LumaCache.SCALE
    err = np.abs(lumas[0].astype(np.float32) - truth)
    old = np.abs(proxy_luma_u8(src.read_rgb(0), (w, h)).astype(np.float32) - truth)
    assert err.max() <= 1.5 and err.mean() <= old.mean() + 0.05, (err.max(), err.mean(), old.mean())
    assert np.array_equal(lumas[1], proxy_luma_u8(src.read_rgb(1), (w, h)))
    # grey with chroma noise (a film scan) still reads as grey; a small coloured patch does not flip it
    frame = frames[0][1]
    noisy = frame.reformat(format="yuv444p")
    rng = np.random.default_rng(3)
    for p in noisy.planes[1:3]:
        a = np.frombuffer(memoryview(p), np.uint8).reshape(p.height, p.line_size)[:, :p.width]
        a[:] = np.clip(128 + rng.normal(0, 2, a.shape), 0, 255).astype(np.uint8)
    assert _is_neutral(noisy)
    for p in noisy.planes[1:3]:     # 20 % of the frame strongly coloured: colour
        np.frombuffer(memoryview(p), np.uint8).reshape(p.height, p.line_size)[: p.height // 5, :p.width] = 200
    assert not _is_neutral(noisy)
    # the scaled proxy (the render's) of the grey frame: a smooth ramp stays within a code
    small = dict(src.iter_proxy_luma(0, 1, (160, 90)))[0]
    want = cv2.resize(truth.astype(np.float32), (160, 90), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(np.float32) - want).max() <= 1.5


def test_one_swscale_context_gives_each_frames_own_conversion(tmp_path):
    """app.core.media.convert reuses one reformatter across frames and settings (the luma pass,
    display reads, encoders): the pixels equal PyAV's per-frame to_ndarray."""
    from av.video.reformatter import VideoReformatter
    from app.core.media import convert
    path = _encode(tmp_path / "c.mp4", "libx264", n=6, w=320, h=180)
    rf = VideoReformatter()
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            for kw in (dict(format="rgb24"), dict(format="gray", width=160, height=90, interpolation="AREA"),
                       dict(format="rgb24", width=160, height=90, interpolation="AREA")):
                assert np.array_equal(convert(frame, rf, **kw), frame.to_ndarray(**kw)), kw


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """The JPEG with an EXIF segment saying how to turn it for display (as phones write them)."""
    import struct
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    exif = b"Exif\x00\x00" + b"MM\x00\x2a" + struct.pack(">I", 8) + ifd
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + jpeg[2:]


def test_keyframe_images_of_every_kind_read_as_shown_or_refused(tmp_path):
    """Keyframe images a user may bring: a float TIFF (0..1) was read as black (and the render
    warned 'no colour'), an int32 TIFF was an internal error, a JPEG turned by its EXIF
    orientation was used unturned (upside down) and a truncated JPEG was used with its missing
    rows grey. Now: read as an image viewer shows them, or refused naming the file and why."""
    rgb = _frame(3, 160, 96)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(tmp_path / "f.tif"), bgr.astype(np.float32) / 255.0)
    got = read_image_rgb(tmp_path / "f.tif")
    assert got.dtype == np.uint8 and np.abs(got.astype(int) - rgb).max() <= 1
    assert cv2.imwrite(str(tmp_path / "i.tif"), bgr.astype(np.int32))
    with pytest.raises(MediaError, match=r"i\.tif: int32 samples are not supported"):
        read_image_rgb(tmp_path / "i.tif")
    assert cv2.imwrite(str(tmp_path / "hdr.tif"), bgr.astype(np.float32))           # 0..255 floats
    with pytest.raises(MediaError, match=r"hdr\.tif: float samples run to 2\d\d; float images are read as 0\.\.1"):
        read_image_rgb(tmp_path / "hdr.tif")
    # stored upside down, EXIF orientation 3: turn by 180 degrees to show
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(bgr[::-1, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 98])
    (tmp_path / "turned.jpg").write_bytes(_with_exif_orientation(buf.tobytes(), 3))
    got = read_image_rgb(tmp_path / "turned.jpg")
    assert np.abs(got.astype(int) - rgb).mean() < 3
    # stored on its side (orientation 6: turn 90 degrees clockwise): the shown size is the input's
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(np.rot90(bgr)), [cv2.IMWRITE_JPEG_QUALITY, 98])
    (tmp_path / "side.jpg").write_bytes(_with_exif_orientation(buf.tobytes(), 6))
    assert np.abs(read_image_rgb(tmp_path / "side.jpg").astype(int) - rgb).mean() < 3
    ok, buf = cv2.imencode(".jpg", bgr)
    (tmp_path / "cut.jpg").write_bytes(buf.tobytes()[: len(buf) // 2])
    with pytest.raises(MediaError, match=r"cut\.jpg: JPEG data is cut short \(the file is truncated\)"):
        read_image_rgb(tmp_path / "cut.jpg")
    # a frame folder with a truncated JPEG frame breaks there, as a truncated video does
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(4):
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(_frame(i, 160, 96), cv2.COLOR_RGB2BGR))
        (folder / f"{i:03d}.jpg").write_bytes(buf.tobytes()[: len(buf) // 2] if i == 2 else buf.tobytes())
    with open_media(folder) as src:
        with pytest.raises(CorruptMediaError, match=r"at frame 2 \(002\.jpg is broken: JPEG data is cut short"):
            list(src.iter_rgb())


def test_an_image_whose_header_promises_too_many_pixels(tmp_path):
    """A PNG whose header says 40000x40000 (a decompression bomb, or a broken header) as a
    keyframe or a frame: refused naming the file (OpenCV's assertion was an internal error)."""
    import struct
    import zlib

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b""))
    (tmp_path / "huge.png").write_bytes(png)
    with pytest.raises(MediaError, match=r"huge\.png: the image is too large to read"):
        read_image_rgb(tmp_path / "huge.png")
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "00000.png").write_bytes(png)
    with pytest.raises(MediaError, match=r"00000\.png is broken: the image is too large"):
        open_media(folder)


def test_transport_stream_cut_inside_a_packet_is_truncated(tmp_path):
    """MPEG-TS flags no packet corrupt when the file stops mid-way: a .ts cut at 60 % used to
    give its last frame half decoded and no error; the frame it was carrying is now the break."""
    path = _encode(tmp_path / "full.ts", "libx264", n=48)
    full = open_media(path)
    assert full.info.broken is None and full.info.frame_count == 48     # a whole stream is whole
    data = path.read_bytes()
    cut = tmp_path / "cut.ts"
    size = len(data) * 3 // 5
    cut.write_bytes(data[: size - (size % 188) + 112])                  # ends inside a TS packet
    src = open_media(cut)
    assert src.info.broken and "transport-stream packet" in src.info.broken
    cache = LumaCache.build(src, proxy_height=96)
    assert 5 < len(cache) < 48
    assert isinstance(cache.error, CorruptMediaError) and cache.error.frame_index == len(cache)
    aligned = tmp_path / "aligned.ts"                                   # whole packets: not flagged here
    aligned.write_bytes(data[: size - (size % 188)])
    assert "transport-stream" not in (open_media(aligned).info.broken or "")
