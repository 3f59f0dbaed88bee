"""Child process of `hueshot bench --reel --editor` (app.core.benchmarks.bench_reel): a real MainWindow
(offscreen) opens REEL and shows every frame in turn; prints one JSON line with the frame
count, seconds to open, play rate and peak RSS.

    python -m app.gui.benchmarks.bench_reel_editor REEL WORKDIR
"""
import json, os, resource, sys, time
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QMessageBox
app = QApplication([])
from app.gui.main_window import MainWindow
path, work = sys.argv[1], sys.argv[2]
s = QSettings(os.path.join(work, "settings.ini"), QSettings.Format.IniFormat)
s.setValue("device", "cpu")
w = MainWindow(settings=s)
w.ask = lambda *a: QMessageBox.StandardButton.Discard
w.resize(1200, 800)
w.show()
opened = []
w.shotOpened.connect(lambda: opened.append(time.perf_counter()))
t0 = time.perf_counter()
w.open_path(path)
while not opened:
    app.processEvents()
    time.sleep(0.002)
t_open = opened[0] - t0
t1 = time.perf_counter()
n = w.frame_count()
for i in range(n):            # play every frame through the viewer
    w.seek(i)
    app.processEvents()
t_play = time.perf_counter() - t1
print(json.dumps({"frames": n, "open_s": t_open, "play_fps": n / t_play if t_play > 0 else 0.0,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))
w.close()
w.workers.stop()
