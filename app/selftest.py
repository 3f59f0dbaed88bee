"""`hueshot --smoke-test OUTDIR`: the installed app checks itself end to end through the editor.

Used by the frozen build's test (tests/packaging) and worth running on a fresh install: it
proves the app finds its Qt plugins, style sheet, bundled sample, weights and FFmpeg codecs.
Steps, all through the real main window as a user drives it (no dialogs are shown modally):
open the bundled sample project, let the editor propagate it, mark frames 1-8 with the I/O
keys, export them to H.264 with the `quality` method (RefineNet's weights) and to a PNG
sequence as previewed, then decode both and check their size, frame count and colour.
Prints one line per check and writes OUTDIR/smoke.json; exit 0 only when all pass.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "sample" / "sample.hueshot"
FRAMES = 8                    # frames exported (I on frame 1, O on frame 8)


class SmokeFailed(Exception):
    pass


def _saturation(rgb) -> float:
    """Mean channel spread: 0 for grey pixels."""
    return float((rgb.max(axis=2).astype(int) - rgb.min(axis=2)).mean())


def run(out_dir: str, timeout: float = 300.0) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ["HUESHOT_RECOVERY_DIR"] = str(out / "recovery")
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QMessageBox

    from app.gui.main import _style, start_window

    report: dict = {"checks": []}

    def check(name: str, ok: bool, detail: str = "") -> None:
        report["checks"].append({"check": name, "ok": bool(ok), "detail": detail})
        print(f"smoke: {'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
        if not ok:
            raise SmokeFailed(f"{name}: {detail}")

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from app.gui import qtlog
    qtlog.install(app)       # the offscreen plugin's propagateSizeHints note only
    app.setApplicationName("Hueshot")
    app.setStyle("Fusion")
    qss = _style()
    app.setStyleSheet(qss)
    settings = QSettings(str(out / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("device", "cpu")

    def pump_until(cond, what: str) -> None:
        end = time.monotonic() + timeout
        while not cond():
            if win is not None and win.last_error:      # shown to the user as a message box
                raise SmokeFailed(f"while waiting for {what}: {win.last_error}")
            if time.monotonic() > end:
                raise SmokeFailed(f"timed out after {timeout:.0f} s waiting for {what}")
            app.processEvents()
            time.sleep(0.002)

    t0 = time.monotonic()
    win = None
    try:
        check("style sheet found", len(qss) > 0, f"{len(qss)} characters")
        check("bundled sample found", SAMPLE.is_file(), str(SAMPLE))
        win = start_window(str(SAMPLE), settings=settings)
        win.ask = lambda *a: QMessageBox.StandardButton.Discard   # closing never blocks on a prompt
        pump_until(lambda: win.luma is not None and win.workers.worker.method is not None, "the sample to open")
        n = len(win.luma)
        check("sample opened", n > FRAMES, f"{n} frames, platform {app.platformName()}, "
              f"{win.device_label.text()}")
        pump_until(lambda: not win.propagating() and not win.store.missing(range(n), win.generation),
                   "the editor's propagation of the sample")
        check("propagated in the editor", True, f"{n} frames")

        # I / O marks with real key events on the viewer (frames 1..8 in the UI's numbering)
        # Shortcuts need the active window (on X11 too, where the window manager may be slow
        # or, under Xvfb, absent).
        win.raise_()
        win.activateWindow()
        check("window active", QTest.qWaitForWindowActive(win, 10000), app.platformName())
        win.viewer.setFocus()
        QTest.keyClick(win.viewer, Qt.Key.Key_Home)
        QTest.keyClick(win.viewer, Qt.Key.Key_I)
        for _ in range(FRAMES - 1):
            QTest.keyClick(win.viewer, Qt.Key.Key_Right)
        QTest.keyClick(win.viewer, Qt.Key.Key_O)
        check("in/out marks from the keyboard", win.doc.marks() == (0, FRAMES - 1), str(win.doc.marks()))

        exports = [("h264", "quality", out / "smoke.mp4"), ("png", None, out / "png")]
        for fmt, method, path in exports:
            dlg = win.export_dialog()
            dlg.range.setCurrentIndex(1)                 # in to out marks
            dlg.set_format(fmt)
            dlg.set_method(method)
            dlg.path.setText(str(path))
            check(f"export {fmt} started", dlg.start(), dlg.status.text())
            pump_until(lambda: dlg.result is not None, f"the {fmt} export")
            check(f"export {fmt} finished", dlg.result[0], dlg.result[1])
            dlg.close()

        import av
        with av.open(str(out / "smoke.mp4")) as c:
            s = c.streams.video[0]
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(s)]
            codec = s.codec_context.name
        check("H.264 file", codec == "h264" and len(frames) == FRAMES and frames[0].shape[:2] == (win.info.height, win.info.width),
              f"{codec}, {len(frames)} frames, {frames[0].shape[1]}x{frames[0].shape[0]}")
        sat = min(_saturation(f) for f in frames)
        check("H.264 frames in colour", sat > 4.0, f"least mean saturation {sat:.1f}")
        import cv2
        pngs = sorted((out / "png").glob("*.png"))
        imgs = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in pngs]
        check("PNG sequence", len(pngs) == FRAMES and all(i is not None and i.shape[:2] == frames[0].shape[:2] for i in imgs),
              f"{len(pngs)} files")
        sat = min(_saturation(i) for i in imgs)
        check("PNG frames in colour", sat > 4.0, f"least mean saturation {sat:.1f}")
        ok = True
    except SmokeFailed as e:
        print(f"hueshot: error: smoke test failed: {e}", file=sys.stderr)
        ok = False
    finally:
        if win is not None:
            win.close()
            app.processEvents()
    report.update(ok=ok, seconds=round(time.monotonic() - t0, 2), frozen=bool(getattr(sys, "frozen", False)))
    (out / "smoke.json").write_text(json.dumps(report, indent=1))
    print(f"smoke: {'passed' if ok else 'FAILED'} in {report['seconds']:.1f} s", flush=True)
    return 0 if ok else 1
