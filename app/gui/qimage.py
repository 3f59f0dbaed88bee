"""numpy <-> QImage helpers (the only place that knows QImage's memory layout)."""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


# Images are handed to the painter as RGB32, the raster engine's own format: an RGB888 or
# Grayscale8 image is converted again on every paint, and scaled smoothly that cost 8 / 3.9 ms
# a paint of an 854x480 frame at ~1070x600 here, against 2.2 ms for RGB32 (converting once,
# when the frame is shown, costs ~0.3 ms).
PAINT_FORMAT = QImage.Format.Format_RGB32


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """uint8 HxWx3 -> QImage (RGB32) that owns its pixels (the array may be reused by its producer)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).convertToFormat(PAINT_FORMAT)


def gray_to_qimage(gray: np.ndarray) -> QImage:
    """uint8 HxW -> QImage (RGB32, R = G = B) that owns its pixels."""
    gray = np.ascontiguousarray(gray, dtype=np.uint8)
    h, w = gray.shape[:2]
    return QImage(gray.data, w, h, w, QImage.Format.Format_Grayscale8).convertToFormat(PAINT_FORMAT)


def qimage_to_rgb(img: QImage) -> np.ndarray:
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : 3 * w].reshape(h, w, 3).copy()
