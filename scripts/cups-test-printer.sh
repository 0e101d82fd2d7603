#!/usr/bin/env bash
# CUPS for the printing tests: the print spooler with Debian's virtual PDF printer (cups-pdf).
#
#   scripts/cups-test-printer.sh start   # install CUPS and cups-pdf if missing (root), start cupsd if not running
#   scripts/cups-test-printer.sh stop    # stop cupsd if this script started it
#
# The tests (tests/report/test_spooler.py) add and remove their own queues with lpadmin; without CUPS they
# skip with the reason, unless KETACHART_REQUIRE_CUPS=1 (CI), where they fail.
set -euo pipefail
STATE="${TMPDIR:-/tmp}/ketachart-cups-$(id -u)"
PKGS="cups cups-client printer-driver-cups-pdf"

running() { LANG=C lpstat -r 2>/dev/null | grep -q "is running"; }

start() {
  local missing=()
  for pkg in $PKGS; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
      echo "cups-test-printer: missing ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
      return 1
    fi
    echo "cups-test-printer: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || true
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if running; then
    echo "cups-test-printer: cupsd is already running" >&2
    return 0
  fi
  [ "$(id -u)" = 0 ] || { echo "cups-test-printer: cupsd is not running and I am not root to start it" >&2; return 1; }
  mkdir -p "$STATE" /run/cups
  # cupsd in the foreground under setsid, so this script knows its pid (no systemd in CI containers).
  setsid /usr/sbin/cupsd -f >/dev/null 2>&1 < /dev/null &
  echo $! > "$STATE/pid"
  for _ in $(seq 1 100); do
    running && { echo "cups-test-printer: cupsd started (pid $(cat "$STATE/pid"))" >&2; return 0; }
    sleep 0.1
  done
  echo "cups-test-printer: cupsd did not start" >&2
  return 1
}

stop() {
  if [ -f "$STATE/pid" ]; then
    kill "$(cat "$STATE/pid")" 2>/dev/null || true
    rm -rf "$STATE"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
