"""The frozen build (packaging/build.sh -> dist/): it starts with no Python around it, finds
its plugins, weights, codecs and sample, drives the editor end to end, and renders what the
venv renders. Marked `frozen` (not in the default run): CI runs `pytest -m frozen
tests/packaging` right after building.

The app under test is the archive unpacked into a temporary folder (what a user gets, at a
path it was not built at) when the archive exists, else dist/hueshot. Every run of it gets
a scrubbed environment: no venv, no PYTHONPATH, only /usr/bin:/bin on the PATH.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.frozen
REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "dist"


@pytest.fixture(scope="session")
def frozen(tmp_path_factory) -> Path:
    """The frozen `hueshot` executable (from the unpacked archive when there is one)."""
    archives = sorted(DIST.glob("hueshot-*-linux-*.tar.*"))
    if archives:
        dest = tmp_path_factory.mktemp("unpacked")
        comp = "--zstd" if archives[-1].name.endswith(".zst") else "-J"
        subprocess.run(["tar", comp, "-xf", str(archives[-1]), "-C", str(dest)], check=True)
        (top,) = list(dest.iterdir())
        exe = top / "hueshot"
    else:
        exe = DIST / "hueshot" / "hueshot"
    if not exe.is_file():
        pytest.fail(f"no frozen build at {exe}: run `bash packaging/build.sh` first")
    return exe


def clean_env(home: Path, **extra) -> dict:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           "HUESHOT_RECOVERY_DIR": str(home / "recovery"), "XDG_CONFIG_HOME": str(home / "config")}
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):   # set on this kind of host for OpenBLAS' sake
        if k in os.environ:
            env[k] = os.environ[k]
    env.update(extra)
    return env


def run(cmd, home: Path, timeout: float = 600, **extra) -> subprocess.CompletedProcess:
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.run([str(c) for c in cmd], cwd=home, env=clean_env(home, **extra), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_version(frozen, tmp_path):
    from importlib.metadata import version
    r = run([frozen, "--version"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"hueshot {version('hueshot')}"


def test_bad_command_line_is_refused(frozen, tmp_path):
    r = run([frozen, "propagate", "missing.mp4", "-o", "out.mp4", "--key", "x=1.png"], tmp_path)
    assert r.returncode == 2
    assert "frame number 'x' is not an integer" in r.stderr


def _smoke(frozen, home: Path, platform: str, wrapper=()) -> dict:
    r = run([*wrapper, frozen, "--smoke-test", home / "out"], home, QT_QPA_PLATFORM=platform)
    report_file = home / "out" / "smoke.json"
    assert r.returncode == 0, f"smoke test failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    report = json.loads(report_file.read_text())
    assert report["ok"] and report["frozen"]
    assert f"platform {platform}" in r.stdout
    return report


def test_editor_opens_sample_propagates_and_exports_offscreen(frozen, tmp_path):
    """The GUI path: bundled sample -> editor propagation -> I/O keys -> H.264 (quality,
    RefineNet) and PNG exports, both decoded and checked by the app itself."""
    report = _smoke(frozen, tmp_path, "offscreen")
    names = [c["check"] for c in report["checks"]]
    assert {"style sheet found", "sample opened", "export h264 finished", "H.264 frames in colour",
            "PNG sequence", "PNG frames in colour"} <= set(names)


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run not installed (packaging/bootstrap.sh installs it)")
def test_editor_runs_on_x11(frozen, tmp_path):
    """The same under a real X server (Xvfb): the bundled xcb platform plugin loads against
    the system's X libraries the README lists."""
    _smoke(frozen, tmp_path, "xcb", wrapper=("xvfb-run", "-a", "-s", "-screen 0 1280x900x24"))


def _frames(path: Path) -> list[np.ndarray]:
    import av
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]


def _pngs(folder: Path) -> list[np.ndarray]:
    import cv2
    files = sorted(folder.glob("*.png"))
    assert files, f"no PNGs in {folder}"
    return [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in files]


HINTS = [{"frame": 0, "points": [[0.1, 0.5], [0.3, 0.5]], "radius": 0.04, "color": [200, 40, 40]},
         {"frame": 0, "points": [[0.7, 0.2], [0.9, 0.2]], "radius": 0.04, "color": [40, 90, 200]}]


@pytest.mark.parametrize("method,fmt,colour", [("flow", "mp4", "key"), ("quality", "png", "key"),
                                               ("flow", "png", "hints")])
def test_propagate_matches_the_venv(frozen, make_clip, tmp_path, method, fmt, colour):
    """`hueshot propagate` frozen and from the venv on the same generated clip: the same
    frames (from a colour keyframe; or from hint strokes, the geodesic spread on scipy)."""
    clip = make_clip(frames=16, width=192, height=112)
    hints = tmp_path / "hints.json"
    hints.write_text(json.dumps(HINTS))
    source = ["--key", f"0={clip.key_png}"] if colour == "key" else ["--hints", hints]
    outs = {}
    for name, cmd in (("frozen", [frozen]), ("venv", [sys.executable, "-m", "app"])):
        out = tmp_path / f"{name}.mp4" if fmt == "mp4" else tmp_path / f"{name}_png"
        extra = {} if name == "frozen" else {"PYTHONPATH": str(REPO)}
        r = run([*cmd, "propagate", clip.video, "-o", out, *source, "--method", method,
                 "--device", "cpu", "-q"], tmp_path / f"home_{name}", **extra)
        assert r.returncode == 0, f"{name}: {r.stderr[-3000:]}"
        outs[name] = _frames(out) if fmt == "mp4" else _pngs(out)
    assert len(outs["frozen"]) == len(outs["venv"]) == clip.frames
    for i, (a, b) in enumerate(zip(outs["frozen"], outs["venv"])):
        assert a.shape == b.shape
        assert np.array_equal(a, b), f"frame {i}: max difference {np.abs(a.astype(int) - b).max()}"
    sat = np.mean([(f.max(axis=2).astype(int) - f.min(axis=2)).mean() for f in outs["frozen"]])
    assert sat > 5, "the output is grey: propagation did nothing"


# ------------------------------------------------------------------ system libraries
def _elf_files(root: Path):
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            with open(p, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    yield p


def _needed(elf: Path) -> list[str]:
    out = subprocess.run(["readelf", "-dW", str(elf)], capture_output=True, text=True).stdout
    return re.findall(r"\(NEEDED\).*\[(.+?)\]", out)


def system_packages(root: Path) -> tuple[set[str], list[str]]:
    """Debian packages of the shared libraries that the build's own binaries link to and do
    not carry (their own dependencies come with them through apt), and the libraries found
    nowhere."""
    bundled = {p.name for p in root.rglob("*")}
    libs, missing = set(), []
    for elf in _elf_files(root):
        # the dynamic loader is libc6's; ldd lists it without "=>"
        wanted = [n for n in _needed(elf) if n not in bundled and not n.startswith("ld-linux")]
        if not wanted:
            continue
        found = dict(re.findall(r"^\s*(\S+) => (\S+)", subprocess.run(["ldd", str(elf)], capture_output=True,
                                                                         text=True).stdout, re.M))
        for name in wanted:
            if found.get(name, "not") == "not":
                missing.append(f"{elf.relative_to(root)}: {name}")
            else:
                libs.add(str(Path(found[name]).resolve()))
    pkgs = set()
    for lib in sorted(libs):
        r = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True)
        if r.returncode != 0:   # merged /usr: dpkg knows /lib/... for /usr/lib/...
            r = subprocess.run(["dpkg", "-S", lib.replace("/usr/lib/", "/lib/", 1)], capture_output=True, text=True)
        assert r.returncode == 0, f"{lib} belongs to no Debian package"
        pkgs.add(r.stdout.split(":", 1)[0].strip())
    return pkgs | {"libc6"}, missing


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs a Debian system (dpkg) to name packages")
def test_system_libraries_are_the_ones_the_readme_names(frozen):
    """Every library the build does not bundle comes from a package in
    packaging/runtime-debs.txt, and the README's Install section names each of them."""
    pkgs, missing = system_packages(frozen.parent)
    named = {line.split("#")[0].strip() for line in (REPO / "packaging" / "runtime-debs.txt").read_text().splitlines()}
    named.discard("")
    extra = {p for p in named if p.startswith("xvfb")}          # for the tests, not the app
    assert not missing, "unresolved libraries (install these packages?):\n" + "\n".join(missing)
    assert pkgs <= named, f"the build needs packages packaging/runtime-debs.txt does not name: {sorted(pkgs - named)}"
    assert named - extra <= pkgs, f"runtime-debs.txt names packages nothing needs: {sorted(named - extra - pkgs)}"
    readme = (REPO / "README.md").read_text()
    install = readme[readme.index("## Install"):]
    install = install[:install.find("\n## ", 1)]
    assert all(p in install for p in named), [p for p in named if p not in install]


def test_build_left_out_what_the_app_does_not_use(frozen):
    root = frozen.parent
    files = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    assert not [f for f in files if "/tests/" in f or f.startswith("_internal/torch/test/")]
    assert not [f for f in files if re.search(r"libcu(da|dnn|blas)|libnccl|libnvrtc", f)]
    plugins = {f.split("plugins/", 1)[1] for f in files if "/Qt/plugins/" in f}
    assert {"platforms/libqoffscreen.so", "platforms/libqxcb.so"} <= plugins
    assert not [p for p in plugins if p.startswith(("qmltooling", "sqldrivers", "wayland", "designer"))]
    assert not [f for f in files if re.search(r"libQt6(Qml|Quick|Pdf|WebEngine|Network)\b", f)]
    assert "_internal/models/weights/refinenet.pt" in files
    assert "_internal/resources/sample/sample.hueshot" in files


def test_desktop_install_puts_a_working_hueshot_on_the_path(frozen, tmp_path):
    """install-desktop.sh from the archive: the command on the PATH runs the frozen app and
    the desktop entry's Exec and Icon resolve."""
    home = tmp_path / "home"
    home.mkdir()
    r = run(["bash", frozen.parent / "install-desktop.sh"], home)
    assert r.returncode == 0, r.stderr
    link = home / ".local" / "bin" / "hueshot"
    assert link.resolve() == frozen.resolve()
    r = run([link, "--version"], home)
    assert r.returncode == 0 and r.stdout.startswith("hueshot "), r.stderr
    entry = (home / ".local" / "share" / "applications" / "hueshot.desktop").read_text()
    exe = re.search(r'^Exec="([^"]+)" %f$', entry, re.M)
    assert exe and Path(exe.group(1)).resolve() == frozen.resolve()
    assert re.search(r"^Icon=hueshot$", entry, re.M)
    assert (home / ".local/share/icons/hicolor/scalable/apps/hueshot.svg").read_text().startswith("<svg")
    assert (home / ".local/share/icons/hicolor/256x256/apps/hueshot.png").read_bytes()[:4] == b"\x89PNG"
