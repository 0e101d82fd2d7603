#!/usr/bin/env bash
# Build a Debian package from the PyInstaller bundle with Debian's own tools (dpkg-deb, dpkg -S, ldd).
#
#   packaging/deb/build.sh [BUNDLE_DIR [OUT_DIR [VERSION]]]     (defaults: dist/ketachart dist <bundle --version>)
#
# Installs the bundle under /opt/ketachart, `ketachart` on PATH (/usr/bin symlink), the desktop entry and
# the icon; postinst creates the ketachart group and the machine-wide chart folder /var/lib/ketachart.
# Depends: the system libraries the bundle leaves out on purpose (build.spec: X11/xcb, GL, glib, fontconfig
# ...), found by resolving every bundled ELF file's needs with ldd and `dpkg -S`, so they are right for the
# Debian release the bundle was built on.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bundle="$(cd "${1:-$root/dist/ketachart}" && pwd)"
out="${2:-$root/dist}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
version="${3:-$("$bundle/ketachart" --version | awk '{print $2}')}"
arch="$(dpkg --print-architecture)"
deb_version="${version//+/~}-1"

for tool in dpkg-deb dpkg; do
  command -v "$tool" >/dev/null || { echo "deb: $tool is missing (Debian's dpkg package)" >&2; exit 1; }
done

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
pkg="$stage/ketachart"
mkdir -p "$pkg/DEBIAN" "$pkg/opt" "$pkg/usr/bin" "$pkg/usr/share/applications" "$pkg/usr/share/doc/ketachart"
cp -a "$bundle" "$pkg/opt/ketachart"
ln -s /opt/ketachart/ketachart "$pkg/usr/bin/ketachart"
install -m 644 "$root/resources/ketachart.desktop" "$pkg/usr/share/applications/ketachart.desktop"
for png in "$root"/resources/icons/ketachart-*.png; do
  size="$(basename "$png" .png)"; size="${size#ketachart-}"
  install -D -m 644 "$png" "$pkg/usr/share/icons/hicolor/${size}x${size}/apps/ketachart.png"
done
install -D -m 644 "$root/resources/icons/ketachart.svg" "$pkg/usr/share/icons/hicolor/scalable/apps/ketachart.svg"
install -m 644 "$here/README.Debian" "$pkg/usr/share/doc/ketachart/README.Debian"
printf 'KetaChart %s\nProprietary; see the vendor agreement.\n' "$version" > "$pkg/usr/share/doc/ketachart/copyright"
for script in postinst postrm; do
  install -m 755 "$here/$script" "$pkg/DEBIAN/$script"
done

# Depends: which installed Debian package provides each library the bundle needs but does not carry.
depends="$(
  find "$pkg/opt/ketachart" -type f \( -name '*.so*' -o -name ketachart \) -print0 |
    { xargs -0 -r -n 50 ldd 2>/dev/null || true; } |
    awk -v pkg="$pkg/" '/=> \// && index($3, pkg) != 1 {print $3}' | sort -u |
    while read -r lib; do dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null || true; done |
    cut -d: -f1 | sed 's/,.*//' | sort -u | paste -sd, | sed 's/,/, /g'
)"
[ -n "$depends" ] || depends="libc6"
installed_kb="$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)"

sed -e "s/@VERSION@/$deb_version/" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/$depends/" -e "s/@SIZE@/$installed_kb/" \
  "$here/control.in" > "$pkg/DEBIAN/control"

deb="$out/ketachart_${deb_version}_${arch}.deb"
# zstd: as small as xz within a few percent here and many times faster to build (2-core CI).
dpkg-deb --root-owner-group -Zzstd --build "$pkg" "$deb" >/dev/null
echo "deb: $deb ($(du -h "$deb" | cut -f1), installs $((installed_kb / 1024)) MB)"
