"""Qt's messages, and the one that is not ours.

Qt's offscreen platform plugin (tests, `hueshot --smoke-test`, `hueshot bench --gui`) does not
implement QPlatformWindow::propagateSizeHints, so Qt's base class prints
"This plugin does not support propagateSizeHints()" every time a top-level window's size
constraints change (a window or dialog with a layout). It is a limitation of that plugin, not a
fault of the editor: on a real display (xcb, checked under Xvfb by
tests/gui/test_qt_messages.py) nothing is printed. `install()` drops exactly that message,
and only on the offscreen platform; every other message goes to stderr as Qt prints it.
"""
from __future__ import annotations

import re
import sys

OFFSCREEN_NOTE = "This plugin does not support propagateSizeHints()"
OFFSCREEN_NOTE_RE = "^" + re.escape(OFFSCREEN_NOTE) + "$"      # for pytest-qt's qt_log_ignore


def platform_note(msg: str, platform: str) -> bool:
    """The offscreen plugin's own note (on that platform only, and that exact text)."""
    return platform == "offscreen" and msg.strip() == OFFSCREEN_NOTE


def install(app) -> None:
    """On the offscreen platform, drop the plugin's note; pass everything else on. Nothing is
    installed on other platforms (Qt's own handler keeps printing as before)."""
    platform = app.platformName()
    if platform != "offscreen":
        return
    from PySide6.QtCore import qInstallMessageHandler
    previous = None

    def handler(kind, context, msg):
        if platform_note(msg, platform):
            return
        if previous is not None:
            previous(kind, context, msg)
        else:                       # what Qt's default handler prints (its default pattern)
            cat = getattr(context, "category", None)
            prefix = f"{cat}: " if cat and cat != "default" else ""
            print(prefix + msg, file=sys.stderr, flush=True)
    previous = qInstallMessageHandler(handler)
