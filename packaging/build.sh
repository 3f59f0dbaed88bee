#!/usr/bin/env bash
# Build the installable app from a checkout: dist/hueshot/ (one-folder PyInstaller build,
# the `hueshot` executable beside its _internal/ folder) and the archive
# dist/hueshot-VERSION-linux-x86_64.tar.zst, then print both sizes.
#
#   bash packaging/build.sh            # sets up .venv first when it is missing (bootstrap.sh)
#   HUESHOT_NO_ARCHIVE=1 bash ...      # the folder only (a quicker rebuild while testing)
#
# PyInstaller comes from the `package` extra (pinned in pyproject.toml) and goes into .venv
# only: it is no dependency of the app itself. The build runs under nice: it is CPU-heavy.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

[ -x .venv/bin/python ] || bash packaging/bootstrap.sh
PY=.venv/bin/python
if ! "$PY" -c 'import PyInstaller' 2>/dev/null; then
    echo "build: installing PyInstaller (the package extra) into .venv"
    "$PY" -m pip install -q -e '.[package]'
fi
VERSION=$("$PY" -c 'from importlib.metadata import version; print(version("hueshot"))')
ARCH=$(uname -m)
NAME="hueshot-$VERSION-linux-$ARCH"

t0=$(date +%s)
rm -rf dist/hueshot
nice -n 10 "$PY" -m PyInstaller --noconfirm --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/hueshot.spec
t1=$(date +%s)

# PyInstaller links the Qt libraries it first found into the top folder; the ones the spec
# left out leave dangling links behind.
find dist/hueshot -xtype l -delete

# Beside the executable: the desktop entry, the icon and the script that installs both.
cp packaging/hueshot.desktop packaging/install-desktop.sh dist/hueshot/
cp resources/icons/hueshot.svg resources/icons/hueshot-256.png dist/hueshot/
chmod +x dist/hueshot/install-desktop.sh

# The frozen app must start, find its metadata and answer; a broken freeze stops here.
got=$(dist/hueshot/hueshot --version)
[ "$got" = "hueshot $VERSION" ] || { echo "build: dist/hueshot/hueshot --version gave '$got'" >&2; exit 1; }

if [ -z "${HUESHOT_NO_ARCHIVE:-}" ]; then
    rm -f dist/hueshot-*-linux-*.tar.*
    # zstd -10 with a 128 MiB window: close to xz -6 in size (torch's CPU library is most
    # of it) at a fraction of the time, and it unpacks in seconds (`tar --zstd -xf`).
    tar -C dist --transform "s,^hueshot,$NAME," -cf - hueshot | nice -n 10 zstd -q -T0 -10 --long=27 -o "dist/$NAME.tar.zst.part"
    mv "dist/$NAME.tar.zst.part" "dist/$NAME.tar.zst"
fi
t2=$(date +%s)

mib() { du -sm "$1" | cut -f1; }
echo "build: dist/hueshot/ $(mib dist/hueshot) MiB ($(find dist/hueshot -type f | wc -l) files), PyInstaller $((t1 - t0)) s"
if [ -z "${HUESHOT_NO_ARCHIVE:-}" ]; then
    echo "build: dist/$NAME.tar.zst $(mib "dist/$NAME.tar.zst") MiB, archive $((t2 - t1)) s"
fi
echo "build: done in $((t2 - t0)) s ($ROOT/dist)"
