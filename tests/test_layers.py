"""The dependency rule (docs/ARCHITECTURE.md): models/ and app/core/ import no Qt, so the CLI, the
benchmarks and farm workers run them headless."""
import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_models_and_core_import_no_qt_and_no_gui():
    bad = []
    for folder in ("models", "app/core"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for name in _imports(path):
                top = name.split(".")[0]
                if top in ("PySide6", "shiboken6", "pyqtgraph", "superqt") or name.startswith("app.gui"):
                    bad.append(f"{path.relative_to(REPO)}: {name}")
    assert not bad, "Qt or app.gui imported below the GUI layer:\n" + "\n".join(bad)


def test_no_qt_code_hidden_in_strings_below_the_gui_layer():
    # Qt code run from a string (python -c) is Qt in app/core all the same: it goes in app/gui.
    bad = [str(p.relative_to(REPO)) for folder in ("models", "app/core")
           for p in sorted((REPO / folder).rglob("*.py")) if "PySide6" in p.read_text(encoding="utf-8")]
    assert not bad, bad
