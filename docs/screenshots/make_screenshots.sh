#!/bin/sh
# Regenerate the chair-screen screenshots: ./docs/screenshots/make_screenshots.sh (headless, ~3 min).
set -e
cd "$(dirname "$0")/../.."
OUT=docs/screenshots
KC=".venv/bin/ketachart"
export QT_QPA_PLATFORM=offscreen
SPEED=${SPEED:-240}
shot() { # name size extra-args...
  name=$1; size=$2; shift 2
  dir=$(mktemp -d)
  KETACHART_DATA_DIR=$dir $KC --demo --speed "$SPEED" --autoplay --size "$size" --screenshot "$OUT/$name.png" "$@" 2>/dev/null
  rm -rf "$dir"
}
for size in 1280x800 1920x1080; do
  suffix=$([ "$size" = 1920x1080 ] && echo "-1080p" || echo "")
  shot "patients$suffix" "$size" --shot-screen patients
  shot "presession$suffix" "$size" --shot-screen presession
  shot "session-5min$suffix" "$size" --at 5
  shot "session-40min$suffix" "$size" --at 40
  shot "session-115min$suffix" "$size" --at 115
  shot "discharge$suffix" "$size" --shot-screen discharge
done
shot "session-40min-light" 1280x800 --at 40 --theme light
