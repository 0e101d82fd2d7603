#!/usr/bin/env bash
# CI (as root): install the built .deb on this machine as a clinic's IT person would, prove the installed copy
# works, then remove it again.
#   1. apt installs it with its dependencies; `ketachart` is on PATH and runs its selftest.
#   2. One chart per chair: two nurse logins in the ketachart group open the same default chart
#      (/var/lib/ketachart/chart.db), and a login outside the group is refused with a one-line message.
set -euo pipefail
cd "$(dirname "$0")/../.."
deb="$(ls -t dist/ketachart_*.deb | head -1)"
[ "$(id -u)" = 0 ] || { echo "deb-test: needs root (installs a package)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive QT_QPA_PLATFORM=offscreen KETACHART_KEYRING=off
preexisting_chart_dir=0
[ -e /var/lib/ketachart ] && preexisting_chart_dir=1
users=(ci-nurse-a ci-nurse-b ci-outsider)

cleanup() {
  apt-get purge -y -qq ketachart >/dev/null 2>&1 || true
  for u in "${users[@]}"; do id "$u" >/dev/null 2>&1 && userdel -r "$u" >/dev/null 2>&1 || true; done
  if [ "$preexisting_chart_dir" = 0 ]; then
    rm -rf /var/lib/ketachart  # only the throwaway chart this test made (the package itself never deletes it)
    getent group ketachart >/dev/null && groupdel ketachart || true
  fi
}
trap cleanup EXIT

echo "deb-test: installing $deb"
apt-get install -y -qq "./$deb" >/dev/null
[ "$(command -v ketachart)" = /usr/bin/ketachart ] || { echo "deb-test: ketachart is not on PATH" >&2; exit 1; }
[ "$(readlink -f /usr/bin/ketachart)" = /opt/ketachart/ketachart ]
test -f /usr/share/applications/ketachart.desktop
test -f /usr/share/icons/hicolor/256x256/apps/ketachart.png
ketachart --version
[ "$(stat -c '%a %G' /var/lib/ketachart)" = "2770 ketachart" ] || { echo "deb-test: /var/lib/ketachart is $(stat -c '%a %G' /var/lib/ketachart)" >&2; exit 1; }

work="$(mktemp -d)"
chmod 755 "$work"
echo "deb-test: selftest of the installed copy"
/usr/bin/ketachart selftest --db "$work/selftest.db"
rm -rf "$work"

if [ "$preexisting_chart_dir" = 0 ]; then
  echo "deb-test: one chart per chair (two nurse logins, one outsider)"
  for u in "${users[@]}"; do useradd --create-home --shell /bin/sh "$u"; done
  usermod -aG ketachart ci-nurse-a
  usermod -aG ketachart ci-nurse-b
  runuser -u ci-nurse-a -- ketachart selftest                    # creates /var/lib/ketachart/chart.db
  runuser -u ci-nurse-b -- ketachart selftest                    # opens the same chart, not a new one
  [ "$(stat -c '%G' /var/lib/ketachart/chart.db)" = ketachart ]
  set +e
  out="$(runuser -u ci-outsider -- ketachart selftest 2>&1)"; code=$?
  set -e
  if [ "$code" != 2 ] || ! grep -q "ketachart' group" <<<"$out" || grep -q Traceback <<<"$out"; then
    echo "deb-test: a login outside the group should get a one-line message and exit 2; got $code: $out" >&2
    exit 1
  fi
  echo "deb-test: outsider refused: $out"
else
  echo "deb-test: /var/lib/ketachart existed before; the shared-chart check is skipped to leave it untouched"
fi
echo "deb-test: ok"
