#!/usr/bin/env bash
# Shipped inside the archive beside the `hueshot` executable. Puts `hueshot` on the PATH
# (~/.local/bin) and the desktop entry and icon where Linux desktops look
# (~/.local/share/applications, ~/.local/share/icons/hicolor), for the current user.
# Run it from the unpacked folder: ./install-desktop.sh   (again after moving the folder)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$here/hueshot" ] || { echo "install-desktop: $here/hueshot not found" >&2; exit 1; }
data=${XDG_DATA_HOME:-$HOME/.local/share}
mkdir -p "$HOME/.local/bin" "$data/applications" "$data/icons/hicolor/scalable/apps" "$data/icons/hicolor/256x256/apps"
ln -sfn "$here/hueshot" "$HOME/.local/bin/hueshot"
cp "$here/hueshot.svg" "$data/icons/hicolor/scalable/apps/hueshot.svg"
cp "$here/hueshot-256.png" "$data/icons/hicolor/256x256/apps/hueshot.png"
# Exec with the absolute path: a desktop session's PATH may lack ~/.local/bin.
sed "s|^Exec=hueshot |Exec=\"$here/hueshot\" |" "$here/hueshot.desktop" > "$data/applications/hueshot.desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$data/applications" || true
echo "installed: $HOME/.local/bin/hueshot -> $here/hueshot, $data/applications/hueshot.desktop"
