"""Preferences: compute device and propagation method, kept in QSettings.

The device actually in use is shown in the status bar (the worker reports it after it
resolved the preference); an unavailable choice is reported, never silently replaced.
"""
from __future__ import annotations

import sys
import threading

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox


class _Devices(QObject):
    """The devices torch finds, listed on a thread of their own (found: emitted from it,
    delivered on the GUI thread)."""
    found = Signal(list)

    def probe(self) -> None:
        from app.gui.worker import import_torch
        try:
            import_torch()
            from models.device import available_devices
            names = available_devices()
        except Exception:             # torch broken here: the dialog keeps what it shows
            return
        try:
            self.found.emit(names)
        except RuntimeError:          # the dialog closed meanwhile
            pass


class PreferencesDialog(QDialog):
    def __init__(self, parent, settings: QSettings):
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.settings = settings
        from models.registry import DEFAULT_METHOD, available_methods
        form = QFormLayout(self)
        self.device = QComboBox()
        self._saved_device = settings.value("device", "auto")
        if "torch" in sys.modules:
            from models.device import available_devices
            self._fill_devices(available_devices())
        else:
            # listing the devices imports torch: ~1.1 s with the GUI thread stopped when the
            # dialog was opened before any shot (the editor imports torch only once a file
            # opens); the list is filled in when a thread has it
            self._fill_devices(["cpu"])
            self._devices = _Devices(self)
            self._devices.found.connect(self._fill_devices)
            threading.Thread(target=self._devices.probe, name="hueshot-devices", daemon=True).start()
        form.addRow("Compute device", self.device)
        form.addRow("", QLabel("auto = CUDA, then Apple MPS, else CPU.\n"
                               "A device that is not available is reported, not replaced."))
        self.method = QComboBox()
        self.method.addItems(available_methods())
        self.method.setCurrentText(settings.value("method", "") or DEFAULT_METHOD)
        form.addRow("Propagation method", self.method)
        self.proxy = QSpinBox()
        self.proxy.setRange(144, 1080)
        self.proxy.setSingleStep(8)
        self.proxy.setValue(int(settings.value("proxy_height", 480)))
        form.addRow("Proxy height (next open)", self.proxy)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _fill_devices(self, names: list) -> None:
        """"auto" and the devices found; the choice shown (the saved one at first) is kept,
        listed even when absent now."""
        cur = self.device.currentText() if self.device.count() else self._saved_device
        self.device.clear()
        self.device.addItems(["auto"] + list(names))
        if self.device.findText(cur) < 0:
            self.device.addItem(cur)          # keep a saved choice visible even if absent now
        self.device.setCurrentText(cur)

    def accept(self):
        self.settings.setValue("device", self.device.currentText())
        self.settings.setValue("method", self.method.currentText())
        self.settings.setValue("proxy_height", self.proxy.value())
        super().accept()
