"""The frame viewer: shows the current frame (colour, grey source, or a before/after wipe),
zoom and pan, the hint overlay and the brush; turns mouse drags into whole strokes.

Produce and paint at separate rates: `show()` stores the newest image and repaints at once
when the last paint is more than a display frame (16 ms) old (an edited frame is on screen
without waiting for a timer tick); otherwise the display timer repaints on its next tick, so
the viewer paints at most ~60 times a second however fast frames arrive.
"""
from __future__ import annotations

import functools
import time

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QWidget

from app.gui.qimage import qimage_to_rgb
from app.gui.tools import ToolState

VIEWS = ("color", "gray", "split")


@functools.lru_cache(maxsize=512)
def _overlay_rgb(color: tuple[int, int, int]) -> tuple[int, int, int]:
    import cv2
    lab = cv2.cvtColor(np.array([[color]], np.float32) / 255.0, cv2.COLOR_RGB2Lab)[0, 0]
    L = float(np.clip(lab[0], 55.0, 75.0))
    rgb = cv2.cvtColor(np.array([[[L, lab[1], lab[2]]]], np.float32), cv2.COLOR_Lab2RGB)[0, 0]
    c = np.clip(rgb * 255 + 0.5, 0, 255).astype(int)
    return int(c[0]), int(c[1]), int(c[2])


class Viewer(QWidget):
    strokeFinished = Signal(int, list, float, bool)   # frame it was painted on, normalised points, radius, erase
    colorSampled = Signal(tuple)                   # eyedropper result (sRGB)
    lumaUnderCursor = Signal(float)                # for the ab-gamut picker
    viewChanged = Signal(str)
    zoomChanged = Signal(float)                    # percent of the image's own pixels (100 = 1:1)

    def __init__(self, tools: ToolState, parent=None):
        super().__init__(parent)
        self.tools = tools
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(320, 200)
        self.setCursor(Qt.CursorShape.BlankCursor)
        self.color_img: QImage | None = None
        self.gray_img: QImage | None = None
        self._luma: np.ndarray | None = None     # float L of the shown frame, for the picker
        self.view = "color"
        self.wipe = 0.5
        self.show_hints = True
        self.strokes: list = []                  # HintStroke-like objects on the shown frame
        self.frame = -1                          # index of the frame shown (-1: none)
        self.zoom = 1.0                          # 1.0 = fit to widget
        self.pixel_aspect = 1.0                  # the source's pixel width over height (PAL SD 16:15...)
        self.pan = QPointF(0, 0)                 # offset of the image centre, widget pixels
        self.message: str | None = None          # centred text while there is no image (loading...)
        self.guide: str | None = None            # a hint banner at the bottom (what to do next)
        self.colour_coming = False               # the frame shown has colour, being read (state_tag)
        self.painted_frames = 0                  # counted for the GUI benchmark
        self.on_painted = None                   # optional hook(bench): called after a paint
        self._live: list[tuple[float, float]] = []
        self._drag: str | None = None            # "paint", "pan", "wipe"
        self._stroke_frame = -1                  # the frame a stroke being painted is on
        self._held: tuple | None = None          # a show() that came during a stroke (applied on release)
        self._last = QPointF()
        self._cursor = QPointF(-100, -100)
        self._dirty = False
        self._last_paint = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(16)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        tools.radiusChanged.connect(lambda _r: self.update())
        tools.toolChanged.connect(lambda _t: self.update())

    # ---- content -------------------------------------------------------------------
    def show(self, color: QImage | None, gray: QImage | None, luma: np.ndarray | None, strokes=None,
             frame: int = -1):
        """Queue frame `frame` for display; painted on the next timer tick. While a stroke is
        being painted the frame under it stays: the newest frame shown in the meantime is held
        and comes on screen when the button is released (a stroke lands on the frame it was
        painted over, MainWindow._on_stroke). No image at all (another shot opens) drops the
        stroke being painted instead."""
        if self._drag == "paint":
            if (color or gray) is not None:
                self._held = (color, gray, luma, strokes, frame)
                return
            self._drag, self._live = None, []
        self._held = None
        size_changed = ((color or gray) is None) != ((self.color_img or self.gray_img) is None)
        self.color_img, self.gray_img, self._luma = color, gray, luma
        self.frame = int(frame) if (color or gray) is not None else -1
        if size_changed:
            self.zoomChanged.emit(self.zoom_percent())
        if strokes is not None:
            self.strokes = strokes
        if time.perf_counter() - self._last_paint >= 0.016:
            self._dirty = False
            self.update()
        else:
            self._dirty = True

    def set_message(self, text: str | None) -> None:
        self.message = text
        self.update()

    def set_guide(self, text: str | None) -> None:
        if text != self.guide:
            self.guide = text
            self.update()

    def has_image(self) -> bool:
        return (self.color_img or self.gray_img) is not None

    def zoom_percent(self) -> float:
        iw, _ih = self._img_size()
        return 100.0 * self.image_rect().width() / max(1, iw)

    def resizeEvent(self, e):
        super().resizeEvent(e)
        self.zoomChanged.emit(self.zoom_percent())

    def set_strokes(self, strokes) -> None:
        self.strokes = list(strokes)
        self.update()

    def set_view(self, view: str) -> None:
        if view in VIEWS and view != self.view:
            self.view = view
            self.viewChanged.emit(view)
            self.update()

    def set_show_hints(self, on: bool) -> None:
        self.show_hints = bool(on)
        self.update()

    def reset_zoom(self) -> None:
        self.zoom, self.pan = 1.0, QPointF(0, 0)
        self.zoomChanged.emit(self.zoom_percent())
        self.update()

    def _tick(self) -> None:
        if self._dirty:
            self._dirty = False
            self.update()

    def current_rgb(self) -> np.ndarray | None:
        img = self.color_img if self.color_img is not None else self.gray_img
        return None if img is None else qimage_to_rgb(img)

    # ---- geometry ------------------------------------------------------------------
    def _img_size(self) -> tuple[float, int]:
        """The image's size as shown: its width scaled by the source's pixel aspect, so a PAL
        or HDV frame has its display aspect (strokes are normalised to the image, unchanged)."""
        img = self.color_img or self.gray_img
        return (img.width() * self.pixel_aspect, img.height()) if img is not None else (16, 9)

    def set_pixel_aspect(self, aspect: float) -> None:
        aspect = float(aspect) if aspect and aspect > 0 else 1.0
        if aspect != self.pixel_aspect:
            self.pixel_aspect = aspect
            self.zoomChanged.emit(self.zoom_percent())
            self.update()

    def image_rect(self) -> QRectF:
        iw, ih = self._img_size()
        fit = min(self.width() / iw, self.height() / ih)
        s = fit * self.zoom
        w, h = iw * s, ih * s
        c = QPointF(self.width() / 2, self.height() / 2) + self.pan
        return QRectF(c.x() - w / 2, c.y() - h / 2, w, h)

    def to_norm(self, p: QPointF) -> tuple[float, float]:
        r = self.image_rect()
        return ((p.x() - r.left()) / r.width(), (p.y() - r.top()) / r.height())

    def from_norm(self, x: float, y: float) -> QPointF:
        r = self.image_rect()
        return QPointF(r.left() + x * r.width(), r.top() + y * r.height())

    def _wipe_x(self) -> float:
        r = self.image_rect()
        return r.left() + self.wipe * r.width()

    # ---- painting ------------------------------------------------------------------
    def paintEvent(self, _):
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(24, 24, 26))
        r = self.image_rect()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.zoom < 2.0)
        color = self.color_img or self.gray_img
        gray = self.gray_img or self.color_img
        if color is None:
            p.setPen(QColor(140, 140, 140))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.message or
                       "Open a video, a folder of frames or a project\n"
                       "(File > Open, Ctrl+O; File > Open Folder of Frames, Ctrl+Shift+O; or drop it here)")
            p.end()
            return
        if self.view == "gray":
            p.drawImage(r, gray)
        elif self.view == "split":
            x = self._wipe_x()
            iw = gray.width()
            cut = max(0.0, min(1.0, self.wipe))
            left = QRectF(r.left(), r.top(), r.width() * cut, r.height())
            right = QRectF(x, r.top(), r.width() * (1 - cut), r.height())
            p.drawImage(left, gray, QRectF(0, 0, iw * cut, gray.height()))
            p.drawImage(right, color, QRectF(iw * cut, 0, iw * (1 - cut), color.height()))
            p.setPen(QPen(QColor(255, 255, 255, 220), 2))
            p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
            p.setBrush(QColor(255, 255, 255, 220))
            p.drawEllipse(QPointF(x, r.center().y()), 6, 6)
            p.setPen(QColor(255, 255, 255))
            p.drawText(QRectF(r.left() + 8, r.top() + 6, 120, 20), "before")
            p.drawText(QRectF(r.right() - 128, r.top() + 6, 120, 20), Qt.AlignmentFlag.AlignRight, "after")
        else:
            p.drawImage(r, color)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.show_hints:
            for s in self.strokes:
                self._draw_stroke(p, s.points, s.radius, s.color, s.erase, 110)
        if self._live:
            self._draw_stroke(p, self._live, self.tools.radius, self.tools.color,
                              self.tools.tool == "eraser", 160)
        self._draw_cursor(p)
        self._draw_labels(p, r)
        p.end()
        self._last_paint = time.perf_counter()
        self.painted_frames += 1
        if self.on_painted is not None:
            self.on_painted()

    def _draw_labels(self, p: QPainter, r: QRectF) -> None:
        """Which view this is (the grey source looks like 'no colour'), and the guide banner."""
        def tag(text, x, y, align=Qt.AlignmentFlag.AlignLeft):
            fm = p.fontMetrics()
            w, h = fm.horizontalAdvance(text) + 12, fm.height() + 6
            box = QRectF(x if align == Qt.AlignmentFlag.AlignLeft else x - w, y, w, h)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(0, 0, 0, 150))
            p.drawRoundedRect(box, 4, 4)
            p.setPen(QColor(235, 235, 235))
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        top = max(0.0, r.top()) + 6
        state = self.state_tag()
        if state:
            tag(state, max(0.0, r.left()) + 6, top)
        if self.guide:
            fm = p.fontMetrics()
            y = min(self.height(), r.bottom()) - fm.height() - 14
            tag(self.guide, self.width() / 2 + (fm.horizontalAdvance(self.guide) + 12) / 2, y,
                Qt.AlignmentFlag.AlignRight)

    def state_tag(self) -> str | None:
        """The tag at the frame's top left: which view this is, or why there is no colour. A
        frame whose colour is being read from the cache (colour_coming, set by the window) said
        'No colour on this frame yet' while the frame label said 'propagated'."""
        if self.view == "gray":
            return "Grey source (2) · press 1 for colour"
        if self.color_img is None and self.gray_img is not None:
            return "Reading this frame's colour…" if self.colour_coming else "No colour on this frame yet"
        return None

    @staticmethod
    def overlay_color(color, alpha: int) -> QColor:
        """How a hint is drawn over the frame: its chroma at a lightness that shows on any
        frame (L 55-75), so a colour picked over a dark pixel is not a black band; a neutral
        hint (no chroma: 'make this grey') is drawn mid grey and outlined (see _draw_stroke)."""
        return QColor(*_overlay_rgb(tuple(int(v) for v in color[:3])), alpha)

    @staticmethod
    def is_neutral(color) -> bool:
        c = np.asarray(color[:3], int)
        return int(c.max() - c.min()) <= 6

    def _draw_stroke(self, p: QPainter, points, radius, color, erase, alpha) -> None:
        r = self.image_rect()
        width = max(1.0, 2 * radius * r.height())
        c = QColor(40, 40, 40, alpha) if erase else self.overlay_color(color, alpha)
        pen = QPen(c, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        if len(points) == 1:
            p.setPen(Qt.PenStyle.NoPen if not (erase or self.is_neutral(color)) else
                     QPen(QColor(255, 255, 255, 150), 1, Qt.PenStyle.DashLine))
            p.setBrush(c)
            p.drawEllipse(self.from_norm(*points[0]), width / 2, width / 2)
            return
        path = QPainterPath(self.from_norm(*points[0]))
        for pt in points[1:]:
            path.lineTo(self.from_norm(*pt))
        p.drawPath(path)
        if erase or self.is_neutral(color):
            # a dashed outline tells eraser strokes apart from dark colour, and shows where a
            # neutral ('make this grey') hint lies on a grey frame
            p.setPen(QPen(QColor(255, 255, 255, 150), 1, Qt.PenStyle.DashLine))
            p.drawPath(path)

    def _draw_cursor(self, p: QPainter) -> None:
        if not self.rect().contains(self._cursor.toPoint()):
            return
        tool = self.tools.tool
        c = self._cursor
        p.setBrush(Qt.BrushStyle.NoBrush)
        if tool in ("brush", "eraser", "point"):
            rad = max(2.0, self.tools.radius * self.image_rect().height())
            for col, w in ((QColor(0, 0, 0, 160), 3), (QColor(255, 255, 255, 230), 1)):
                p.setPen(QPen(col, w))
                p.drawEllipse(c, rad, rad)
        for col, w in ((QColor(0, 0, 0, 160), 3), (QColor(255, 255, 255, 230), 1)):
            p.setPen(QPen(col, w))
            p.drawLine(c + QPointF(-5, 0), c + QPointF(5, 0))
            p.drawLine(c + QPointF(0, -5), c + QPointF(0, 5))

    # ---- input ---------------------------------------------------------------------
    def wheelEvent(self, e):
        steps = e.angleDelta().y() / 120.0
        if e.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier):
            # Zoom about the cursor so the point under it stays put.
            old = self.image_rect()
            pos = e.position()
            nx, ny = (pos.x() - old.left()) / old.width(), (pos.y() - old.top()) / old.height()
            self.zoom = float(np.clip(self.zoom * (1.25 ** steps), 0.25, 32.0))
            new = self.image_rect()
            self.pan += pos - QPointF(new.left() + nx * new.width(), new.top() + ny * new.height())
            self.zoomChanged.emit(self.zoom_percent())
            self.update()
        else:
            self.tools.grow(steps)
        e.accept()

    def mousePressEvent(self, e):
        self._last = e.position()
        btn = e.button()
        if btn in (Qt.MouseButton.MiddleButton, Qt.MouseButton.RightButton):
            self._drag = "pan"
            return
        if btn != Qt.MouseButton.LeftButton or (self.color_img is None and self.gray_img is None):
            return
        if self.view == "split" and abs(e.position().x() - self._wipe_x()) < 8:
            self._drag = "wipe"
            return
        tool = self.tools.tool
        if tool == "eyedropper":
            self._sample(e.position())
            return
        self._drag = "paint"
        self._stroke_frame = self.frame
        self._live = [self._clamp(self.to_norm(e.position()))]
        self.update()

    def mouseMoveEvent(self, e):
        pos = e.position()
        self._cursor = pos
        if self._drag == "pan":
            self.pan += pos - self._last
        elif self._drag == "wipe":
            r = self.image_rect()
            self.wipe = float(np.clip((pos.x() - r.left()) / r.width(), 0, 1))
        elif self._drag == "paint" and self.tools.tool != "point":
            pt = self._clamp(self.to_norm(pos))
            last = self._live[-1]
            # Skip sub-pixel jitter: keeps strokes small in the project file.
            if abs(pt[0] - last[0]) + abs(pt[1] - last[1]) > 0.002:
                self._live.append(pt)
        self._last = pos
        self._emit_luma(pos)
        self.update()

    def mouseReleaseEvent(self, e):
        painted = self._drag == "paint" and self._live
        pts, self._live = self._live, []
        self._drag = None
        held, self._held = self._held, None
        if held is not None:              # the frame asked for during the stroke comes on screen
            self.show(*held)
        if painted:                       # after it: an edit of the frame shown updates its strokes
            tool = self.tools.tool
            self.strokeFinished.emit(self._stroke_frame, pts[:1] if tool == "point" else pts,
                                     self.tools.radius, tool == "eraser")
        self.update()

    def leaveEvent(self, _):
        self._cursor = QPointF(-100, -100)
        self.update()

    @staticmethod
    def _clamp(pt):
        return (float(min(1.0, max(0.0, pt[0]))), float(min(1.0, max(0.0, pt[1]))))

    def _pixel(self, pos: QPointF):
        img = self.color_img or self.gray_img
        if img is None:
            return None
        x, y = self.to_norm(pos)
        if not (0 <= x < 1 and 0 <= y < 1):
            return None
        return int(x * img.width()), int(y * img.height())

    def _emit_luma(self, pos: QPointF) -> None:
        px = self._pixel(pos)
        if px is not None and self._luma is not None:
            h, w = self._luma.shape
            self.lumaUnderCursor.emit(float(self._luma[min(px[1], h - 1), min(px[0], w - 1)]))

    def _sample(self, pos: QPointF) -> None:
        px = self._pixel(pos)
        img = self.color_img if self.view != "gray" else self.gray_img
        if px is None or img is None:
            return
        acc = np.zeros(3)
        n = 0
        for dy in (-1, 0, 1):       # 3x3 average: grain should not decide the colour
            for dx in (-1, 0, 1):
                x, y = px[0] + dx, px[1] + dy
                if 0 <= x < img.width() and 0 <= y < img.height():
                    c = img.pixelColor(x, y)
                    acc += (c.red(), c.green(), c.blue())
                    n += 1
        self.colorSampled.emit(tuple(int(v) for v in (acc / n).round()))
