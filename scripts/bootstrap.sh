#!/usr/bin/env bash
# Make a working .venv on a fresh machine: system libraries Qt needs, a Python that is safe with
# PySide6, and the project installed with its test extra. Idempotent: a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."

QT_LIBS="libegl1 libgl1 libglib2.0-0 libfontconfig1 libxkbcommon0 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 \
libxcb-image0 libxcb-keysyms1 libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 libxcb-randr0 \
libxcb-xinerama0 libxcb-xfixes0 libx11-xcb1"
# poppler-utils: pdftotext/pdftoppm for the report tests; fonts so printed pages have real glyphs;
# libpq5: the PostgreSQL client library the Linux bundle uses for sync (build.spec);
# binutils and icu-devtools: strip and trim the bundle's libraries (build.spec, packaging/icu_trim.py).
TOOLS="poppler-utils fonts-dejavu-core libpq5 binutils icu-devtools"

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for pkg in $QT_LIBS $TOOLS; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "bootstrap: installing system packages: ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >/dev/null
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "bootstrap: these system packages are missing: ${missing[*]}" >&2
      echo "bootstrap: install them with: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    fi
  fi
elif [ "$(uname -s)" = Linux ]; then
  echo "bootstrap: not a Debian system; make sure Qt 6's runtime libraries (EGL, GL, fontconfig, xkbcommon," >&2
  echo "bootstrap: dbus, xcb-cursor) and poppler's pdftotext/pdftoppm are installed." >&2
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.ketachart-installed
# requirements/constraints.txt locks every third-party version (scripts/lock-deps.sh regenerates it).
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements/constraints.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c requirements/constraints.txt -e ".[test]"
  touch "$stamp"
fi
