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
TOOL_KEYS = {"brush": "B", "eraser": "E", "point": "P", "eyedropper": "I"}


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
    lab = np.dstack([np.full_like(aa, L), aa, bb])
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    out = (rgb < -0.002).any(-1) | (rgb > 1.002).any(-1)
    rgb = np.clip(rgb, 0, 1)
    rgb[out] *= 0.25
    return (rgb * 255 + 0.5).astype(np.uint8)


class AbGamutPicker(QWidget):
    """ab chroma plane at the luma under the cursor: a click picks a colour that is reachable
    at that lightness (what the propagated result will actually show)."""

    picked = Signal(tuple)
    EXTENT = 110.0

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(150, 150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._L = 60.0
        self._cache: dict[int, QImage] = {}
        self._ab: tuple[float, float] | None = None
        self.setToolTip("ab chroma at the lightness under the cursor; click to pick")

    def sizeHint(self):
        return QSize(180, 180)

    def heightForWidth(self, w):
        return w

    def set_luma(self, L: float) -> None:
        L = float(np.clip(L, 2, 98))
        if abs(L - self._L) >= 1.0:
            self._L = L
            self.update()

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
            img = rgb_to_qimage(_gamut_image(float(key), 128, self.EXTENT))
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
        lab = np.array([[[self._L, a, b]]], np.float32)
        rgb = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)[0, 0], 0, 1)
        self._ab = (float(a), float(b))
        self.update()
        self.picked.emit(tuple(int(round(c * 255)) for c in rgb))


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
    def __init__(self, parent=None):
        super().__init__(parent)
        self.color = (0, 0, 0)
        self.setFixedSize(44, 28)

    def set_color(self, c):
        self.color = tuple(c)
        self.setToolTip("#%02x%02x%02x" % self.color)
        self.update()

    def paintEvent(self, _):
        p = QPainter(self)
        p.setPen(QPen(QColor(20, 20, 20)))
        p.setBrush(QColor(*self.color))
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
            b.setToolTip(f"{name.capitalize()} ({TOOL_KEYS[name]})")
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
        lay.addWidget(QLabel("Recent colours"))
        self.palette = Palette()
        lay.addWidget(self.palette)
        lay.addWidget(QLabel("Reference"))
        self.reference = ReferenceView()
        lay.addWidget(self.reference, 1)

        self.gamut.picked.connect(state.set_color)
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

    def _on_color(self, c) -> None:
        self.swatch.set_color(c)
        self.color_label.setText("#%02x%02x%02x" % tuple(c))
        self.gamut.set_color(c)
