"""Help > Keyboard Shortcuts: every shortcut of the editor, read from its menus when the
dialog opens (so actions other modules add are listed too), with a filter box."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHeaderView, QLineEdit,
                               QTableWidget, QTableWidgetItem, QVBoxLayout)


class ShortcutsDialog(QDialog):
    def __init__(self, parent, rows: list[tuple[str, str, str]]):
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        self.setModal(False)
        self.rows = rows
        lay = QVBoxLayout(self)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter: type an action or a key…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._filter)
        lay.addWidget(self.filter)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Menu", "Action", "Keys"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = QTableWidgetItem(text)
                if c == 2:
                    f = item.font()
                    f.setBold(True)
                    item.setFont(f)
                self.table.setItem(r, c, item)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        lay.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        lay.addWidget(buttons)
        self.resize(620, 640)
        self.filter.setFocus(Qt.FocusReason.OtherFocusReason)

    def _filter(self, text: str) -> None:
        t = text.lower().strip()
        for r, row in enumerate(self.rows):
            self.table.setRowHidden(r, bool(t) and not any(t in x.lower() for x in row))

    def visible_rows(self) -> list[tuple[str, str, str]]:
        return [row for r, row in enumerate(self.rows) if not self.table.isRowHidden(r)]
