"""Painting tools: the shared tool state, the ab-gamut colour picker, the recent-colour
palette and the reference image used by the eyedropper."""
from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import (QButtonGroup, QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QSlider,
                               QToolButton, QVBoxLayout, QWidget)

from app.gui.qimage import rgb_to_qimage

TOOLS = ("brush", "eraser", "point", "eyedropper")
# "I" is Mark In (editors' I/O marks), so the eyedropper is Alt+I.
TOOL_KEYS = {"brush": "B", "eraser": "E", "point": "P", "eyedropper": "Alt+I"}
TOOL_TIPS = {"brush": "Paint a colour hint (wheel: size)",
             "eraser": "Erase hints under the brush",
             "point": "A single point hint",
             "eyedropper": "Pick a colour from the frame or the reference image"}
REFERENCE_L = 60.0          # lightness a picked colour is stored at (when its chroma fits there)


def _out_of_gamut(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sRGB float 0..1, mask of Lab colours outside the sRGB gamut). OpenCV's Lab2RGB saturates
    silently, so the test is the round trip: a colour that does not come back was clipped.
    Two conversions: cheap enough for the picker's 128 x 128 plane on the GUI thread (the
    gamut-fitting compose took over a second for it)."""
    lab = np.ascontiguousarray(lab, np.float32)
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    back = cv2.cvtColor(np.ascontiguousarray(np.clip(rgb, 0, 1)), cv2.COLOR_RGB2Lab)
    return np.clip(rgb, 0, 1), np.abs(back - lab).max(-1) > 1.0


def lab_to_rgb8(L: float, a: float, b: float) -> tuple[int, int, int] | None:
    """sRGB of a Lab colour, None when it is outside the sRGB gamut."""
    rgb, out = _out_of_gamut(np.array([[[L, a, b], [L, a, b]]], np.float32))
    if out[0, 0]:
        return None
    return tuple(int(round(float(c) * 255)) for c in rgb[0, 0])


def rgb_to_lab(rgb) -> tuple[float, float, float]:
    lab = cv2.cvtColor(np.array([[rgb[:3]]], np.float32) / 255.0, cv2.COLOR_RGB2Lab)[0, 0]
    return float(lab[0]), float(lab[1]), float(lab[2])


def color_for_ab(a: float, b: float, near_L: float) -> tuple[int, int, int]:
    """The colour stored for chroma (a, b): only a hint's chroma is painted (each pixel keeps its
    own lightness), so it is kept at the lightness nearest REFERENCE_L where (a, b) is in
    gamut, never at the (maybe very dark) lightness it was picked at: a neutral picked over a
    dark pixel is a mid grey, not #090909. Falls back to the pick lightness, clipped."""
    for d in range(0, 50, 2):
        for L in (REFERENCE_L - d, REFERENCE_L + d):
            if 2 <= L <= 98:
                got = lab_to_rgb8(L, a, b)
                if got is not None:
                    return got
    return painted_at(lab_to_rgb8(near_L, 0, 0) or (128, 128, 128), near_L)


def painted_at(color, L: float) -> tuple[int, int, int]:
    """How a hint colour looks painted on a pixel of lightness L: its chroma at that L, scaled
    towards grey until it fits the gamut, as compose_rgb does (the pixel keeps its lightness);
    a dozen 2-pixel conversions, not compose_rgb's table set-up (150 ms a call on the GUI thread)."""
    _l, a, b = rgb_to_lab(color)
    got = lab_to_rgb8(L, a, b)
    if got is not None:
        return got
    lo, hi = 0.0, 1.0
    for _ in range(10):
        mid = (lo + hi) / 2
        if lab_to_rgb8(L, a * mid, b * mid) is None:
            hi = mid
        else:
            lo = mid
    return lab_to_rgb8(L, a * lo, b * lo) or lab_to_rgb8(L, 0.0, 0.0) or (0, 0, 0)


class ToolState(QObject):
    """Current tool, brush radius (fraction of frame height) and colour; widgets observe it."""

    toolChanged = Signal(str)
    radiusChanged = Signal(float)
    colorChanged = Signal(tuple)

    MIN_R, MAX_R = 0.004, 0.25

    def __init__(self):
        super().__init__()
        self.tool = "brush"
        self.radius = 0.03
        self.color: tuple[int, int, int] = (200, 60, 40)

    def set_tool(self, tool: str) -> None:
        if tool != self.tool:
            self.tool = tool
            self.toolChanged.emit(tool)

    def set_radius(self, r: float) -> None:
        r = float(min(self.MAX_R, max(self.MIN_R, r)))
        if r != self.radius:
            self.radius = r
            self.radiusChanged.emit(r)

    def grow(self, steps: float) -> None:
        """Multiplicative steps feel even at every size (wheel notches, [ and ])."""
        self.set_radius(self.radius * (1.15 ** steps))

    def set_color(self, color) -> None:
        color = tuple(int(c) for c in color[:3])
        if color != self.color:
            self.color = color
            self.colorChanged.emit(color)


def _gamut_image(L: float, size: int, extent: float) -> np.ndarray:
    """RGB picture of the ab plane at lightness L; colours outside sRGB are darkened."""
    a = np.linspace(-extent, extent, size, dtype=np.float32)
    b = np.linspace(extent, -extent, size, dtype=np.float32)   # +b (yellow) at the top
    aa, bb = np.meshgrid(a, b)
    rgb, out = _out_of_gamut(np.dstack([np.full_like(aa, L), aa, bb]))
    rgb[out] *= 0.25
    return (rgb * 255 + 0.5).astype(np.uint8)


_PLANES: dict[int, np.ndarray] = {}       # lightness step -> picker plane, shared by every window
_PLANES_STARTED = False


def _start_planes(extent: float) -> None:
    global _PLANES_STARTED
    if _PLANES_STARTED:
        return
    _PLANES_STARTED = True
    import threading

    def fill():
        for key in sorted(range(2, 100, 2), key=lambda k: abs(k - 60)):
            _PLANES[key] = _gamut_image(float(key), 128, extent)
    threading.Thread(target=fill, name="hueshot-gamut", daemon=True).start()


class AbGamutPicker(QWidget):
    """ab chroma plane at the luma under the cursor: a click picks a colour that is reachable
    at that lightness (what the propagated result will actually show)."""

    picked = Signal(tuple)
    lightnessChanged = Signal(float)
    EXTENT = 110.0

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(150, 150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._L = 60.0
        self._cache: dict[int, QImage] = {}
        # The planes of every lightness step, made on a thread of their own at start (33 ms
        # each on the loaded host: a hover over a new lightness must not stall the GUI thread).
        self._planes = _PLANES
        _start_planes(self.EXTENT)
        self._ab: tuple[float, float] | None = None
        self.setToolTip("Colours at the lightness under the cursor on the frame (a hint keeps each "
                        "pixel's own lightness): what you pick is what gets painted there. Click to pick")

    def sizeHint(self):
        return QSize(180, 180)

    def heightForWidth(self, w):
        return w

    def set_luma(self, L: float) -> None:
        L = float(np.clip(L, 2, 98))
        if abs(L - self._L) >= 1.0:
            self._L = L
            self.lightnessChanged.emit(L)
            self.update()

    @property
    def lightness(self) -> float:
        return self._L

    def set_color(self, rgb) -> None:
        lab = cv2.cvtColor(np.array([[rgb]], np.float32) / 255.0, cv2.COLOR_RGB2Lab)[0, 0]
        self._ab = (float(lab[1]), float(lab[2]))
        self.update()

    def _square(self) -> QRectF:
        s = min(self.width(), self.height()) - 4
        return QRectF((self.width() - s) / 2, (self.height() - s) / 2, s, s)

    def paintEvent(self, _):
        key = int(round(self._L / 2.0)) * 2          # 2-L steps: cheap, smooth enough
        img = self._cache.get(key)
        if img is None:
            plane = self._planes.get(key)
            img = rgb_to_qimage(plane if plane is not None else _gamut_image(float(key), 128, self.EXTENT))
            self._cache[key] = img
        p = QPainter(self)
        r = self._square()
        p.drawImage(r, img)
        p.setPen(QPen(QColor(255, 255, 255, 60)))
        p.drawLine(QPointF(r.center().x(), r.top()), QPointF(r.center().x(), r.bottom()))
        p.drawLine(QPointF(r.left(), r.center().y()), QPointF(r.right(), r.center().y()))
        if self._ab is not None:
            x = r.left() + (self._ab[0] / self.EXTENT + 1) / 2 * r.width()
            y = r.top() + (1 - (self._ab[1] / self.EXTENT + 1) / 2) * r.height()
            p.setPen(QPen(Qt.GlobalColor.white, 2))
            p.drawEllipse(QPointF(x, y), 5, 5)
        p.setPen(QColor(220, 220, 220))
        p.drawText(r.adjusted(4, 2, 0, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, f"L {self._L:.0f}")
        p.end()

    def mousePressEvent(self, e):
        self._pick(e.position())

    def mouseMoveEvent(self, e):
        if e.buttons():
            self._pick(e.position())

    def _pick(self, pos: QPointF) -> None:
        r = self._square()
        a = ((pos.x() - r.left()) / r.width() * 2 - 1) * self.EXTENT
        b = ((1 - (pos.y() - r.top()) / r.height()) * 2 - 1) * self.EXTENT
        if lab_to_rgb8(self._L, a, b) is None:
            return        # outside the gamut at this lightness (the darkened area): not paintable here
        self._ab = (float(a), float(b))
        self.update()
        self.picked.emit(color_for_ab(a, b, self._L))


class Palette(QWidget):
    """Recent colours, newest first; a click makes one current again."""

    picked = Signal(tuple)
    MAX = 16

    def __init__(self, parent=None):
        super().__init__(parent)
        self.colors: list[tuple[int, int, int]] = []
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(3)
        # packed from the left: the grid spread two recent colours across the whole dock width
        self._grid.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)

    def add(self, color) -> None:
        color = tuple(int(c) for c in color[:3])
        if color in self.colors:
            self.colors.remove(color)
        self.colors.insert(0, color)
        del self.colors[self.MAX:]
        self._rebuild()

    def _rebuild(self) -> None:
        while self._grid.count():
            w = self._grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        for i, c in enumerate(self.colors):
            b = QToolButton()
            b.setFixedSize(22, 22)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setStyleSheet(f"QToolButton {{ background: rgb{c}; border: 1px solid #222; border-radius: 3px; }}")
            b.setToolTip("#%02x%02x%02x" % c)
            b.clicked.connect(lambda _=False, c=c: self.picked.emit(c))
            self._grid.addWidget(b, i // 8, i % 8)


class Swatch(QWidget):
    """The current colour as it will be painted: its chroma at the picker's lightness (the
    lightness under the cursor on the frame), the same lightness the picker square shows."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.color = (0, 0, 0)
        self.L = 60.0
        self.shown = (0, 0, 0)
        self.setFixedSize(44, 28)

    def set_color(self, c):
        self.color = tuple(c)
        self._refresh()

    def set_lightness(self, L: float) -> None:
        self.L = float(L)
        self._refresh()

    def _refresh(self) -> None:
        self.shown = painted_at(self.color, self.L)
        self.setToolTip("#%02x%02x%02x" % self.color + f", shown as painted at L {self.L:.0f}")
        self.update()

    def paintEvent(self, _):
        p = QPainter(self)
        p.setPen(QPen(QColor(20, 20, 20)))
        p.setBrush(QColor(*self.shown))
        p.drawRoundedRect(self.rect().adjusted(0, 0, -1, -1), 4, 4)
        p.end()


class ReferenceView(QWidget):
    """A colour reference image opened beside the shot; clicking it samples a colour."""

    sampled = Signal(tuple)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rgb: np.ndarray | None = None
        self._img: QImage | None = None
        self.setMinimumHeight(120)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Reference image: click to pick a colour")

    def set_image(self, rgb: np.ndarray | None) -> None:
        self.rgb = rgb
        self._img = rgb_to_qimage(rgb) if rgb is not None else None
        self.update()

    def _rect(self) -> QRectF:
        if self._img is None:
            return QRectF()
        s = min(self.width() / self._img.width(), self.height() / self._img.height())
        w, h = self._img.width() * s, self._img.height() * s
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, _):
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(30, 30, 32))
        if self._img is None:
            p.setPen(QColor(130, 130, 130))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No reference image\n(File > Open Reference Image)")
        else:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            p.drawImage(self._rect(), self._img)
        p.end()

    def mousePressEvent(self, e):
        if self.rgb is None:
            return
        r = self._rect()
        if not r.contains(e.position()):
            return
        x = int((e.position().x() - r.left()) / r.width() * self.rgb.shape[1])
        y = int((e.position().y() - r.top()) / r.height() * self.rgb.shape[0])
        y, x = min(y, self.rgb.shape[0] - 1), min(x, self.rgb.shape[1] - 1)
        # Average a small patch so film grain does not decide the colour.
        patch = self.rgb[max(0, y - 2): y + 3, max(0, x - 2): x + 3].reshape(-1, 3)
        self.sampled.emit(tuple(int(v) for v in patch.mean(0).round()))


class ToolPanel(QWidget):
    """Dock contents: tool buttons, brush size, current colour, gamut picker, palette."""

    def __init__(self, state: ToolState, parent=None):
        super().__init__(parent)
        self.state = state
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        row = QHBoxLayout()
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QToolButton] = {}
        for name in TOOLS:
            b = QToolButton()
            b.setText(name.capitalize())
            b.setCheckable(True)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setToolTip(f"{TOOL_TIPS[name]} ({TOOL_KEYS[name]})")
            b.setObjectName(f"tool_{name}")
            self.group.addButton(b)
            self.buttons[name] = b
            b.clicked.connect(lambda _=False, n=name: state.set_tool(n))
            row.addWidget(b)
        lay.addLayout(row)

        size_row = QHBoxLayout()
        size_row.addWidget(QLabel("Size"))
        self.size = QSlider(Qt.Orientation.Horizontal)
        self.size.setRange(1, 100)
        self.size.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.size.valueChanged.connect(self._slider_moved)
        self.size.setToolTip("Brush size, % of the frame height (mouse wheel over the frame, [ and ])")
        size_row.addWidget(self.size)
        self.size_label = QLabel()
        self.size_label.setMinimumWidth(42)
        size_row.addWidget(self.size_label)
        lay.addLayout(size_row)

        col_row = QHBoxLayout()
        self.swatch = Swatch()
        col_row.addWidget(self.swatch)
        self.color_label = QLabel()
        col_row.addWidget(self.color_label, 1)
        lay.addLayout(col_row)

        self.gamut = AbGamutPicker()
        lay.addWidget(self.gamut)
        lay.addWidget(QLabel("Recent colours (saved with the project)"))
        self.palette = Palette()
        lay.addWidget(self.palette)
        lay.addWidget(QLabel("Reference"))
        self.reference = ReferenceView()
        lay.addWidget(self.reference, 1)

        self.gamut.picked.connect(state.set_color)
        self.gamut.lightnessChanged.connect(self._on_lightness)
        self.palette.picked.connect(state.set_color)
        self.reference.sampled.connect(state.set_color)
        state.toolChanged.connect(self._on_tool)
        state.radiusChanged.connect(self._on_radius)
        state.colorChanged.connect(self._on_color)
        self._on_tool(state.tool)
        self._on_radius(state.radius)
        self._on_color(state.color)

    def _slider_moved(self, v: int) -> None:
        # Slider is logarithmic between MIN_R and MAX_R.
        lo, hi = np.log(ToolState.MIN_R), np.log(ToolState.MAX_R)
        self.state.set_radius(float(np.exp(lo + (hi - lo) * (v - 1) / 99)))

    def _on_tool(self, t: str) -> None:
        self.buttons[t].setChecked(True)

    def _on_radius(self, r: float) -> None:
        lo, hi = np.log(ToolState.MIN_R), np.log(ToolState.MAX_R)
        self.size.blockSignals(True)
        self.size.setValue(int(round(1 + 99 * (np.log(r) - lo) / (hi - lo))))
        self.size.blockSignals(False)
        self.size_label.setText(f"{r * 100:.1f}%")

    def _on_lightness(self, L: float) -> None:
        self.swatch.set_lightness(L)
        self._label()

    def _label(self) -> None:
        c = self.state.color
        self.color_label.setText("#%02x%02x%02x" % tuple(c) + f"  (as painted at L {self.gamut.lightness:.0f})")

    def _on_color(self, c) -> None:
        self.swatch.set_lightness(self.gamut.lightness)
        self.swatch.set_color(c)
        self.gamut.set_color(c)
        self._label()
