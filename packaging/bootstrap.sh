#!/usr/bin/env bash
# Set up Hueshot on a Debian/Ubuntu machine: the system libraries Qt needs, then a
# virtual environment in .venv with the project installed (editable, with test extras).
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

QT_DEBS="libegl1 libgl1 libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0 \
libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-render-util0 libxcb-image0 \
libxcb-xinerama0 libxcb-randr0 libxcb-xfixes0 libx11-xcb1 xvfb"

if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
    missing=""
    for p in $QT_DEBS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        echo "bootstrap: installing Debian packages:$missing"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
    fi
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.hueshot-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    # torch is pinned in pyproject.toml to the CPU build that lies on this kind of machine.
    .venv/bin/python -m pip install -q -e '.[test]'
    touch "$stamp"
fi
echo "bootstrap: ready ($(.venv/bin/python --version), $(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
