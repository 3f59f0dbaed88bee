"""The `hueshot bench` protocols (see app.cli.cmd_bench)."""
from __future__ import annotations

import os
from pathlib import Path


def check_report_target(argv: list[str]) -> str | None:
    """``--json PATH`` of any benchmark, checked before it runs: the report is written only at
    the end, and a path that cannot take it (a folder, a file where a folder should be, a
    folder that cannot be written) failed only after minutes of work. Missing folders on
    the way are fine (they are made). The problem as one line, or None."""
    for i, a in enumerate(argv):
        if a == "--json":
            if i + 1 >= len(argv):
                return None                    # argparse says the value is missing
            text = argv[i + 1]
        elif a.startswith("--json="):
            text = a[len("--json="):]
        else:
            continue
        if not text.strip():
            return "--json is empty; give a file name for the report"
        p = Path(text)
        if p.is_dir():
            return f"--json {text}: is a folder; give a file name for the report"
        up = p.absolute().parent
        while not up.exists() and up != up.parent:
            up = up.parent
        if not up.is_dir():
            return f"--json {text}: {up} is not a folder"
        if not os.access(up, os.W_OK | os.X_OK):
            return f"--json {text}: folder {up} is not writable"
    return None
