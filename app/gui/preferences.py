"""Preferences: compute device and propagation method, kept in QSettings.

The device actually in use is shown in the status bar (the worker reports it after it
resolved the preference); an unavailable choice is reported, never silently replaced.
"""
from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox


class PreferencesDialog(QDialog):
    def __init__(self, parent, settings: QSettings):
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.settings = settings
        from models.device import available_devices
        from models.registry import DEFAULT_METHOD, available_methods
        form = QFormLayout(self)
        self.device = QComboBox()
        self.device.addItems(["auto"] + available_devices())
        cur = settings.value("device", "auto")
        if self.device.findText(cur) < 0:
            self.device.addItem(cur)          # keep a saved choice visible even if absent now
        self.device.setCurrentText(cur)
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

    def accept(self):
        self.settings.setValue("device", self.device.currentText())
        self.settings.setValue("method", self.method.currentText())
        self.settings.setValue("proxy_height", self.proxy.value())
        super().accept()
