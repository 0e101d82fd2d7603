#!/usr/bin/env bash
# A private, throw-away PostgreSQL cluster for the sync tests and benchmarks.
#
#   scripts/pg-test-cluster.sh start     # install PostgreSQL if needed, initdb, start; prints the superuser URL
#   scripts/pg-test-cluster.sh url       # print the superuser URL of the running cluster (exit 1 if not running)
#   scripts/pg-test-cluster.sh restart   # pg_ctl restart (the fault tests use it); prints the URL
#   scripts/pg-test-cluster.sh stop      # stop the server and delete its directory
#
# The cluster lives in $KETACHART_PG_DIR (default: $TMPDIR/ketachart-pg-<uid>), listens on 127.0.0.1 only,
# on a free port, with password (scram) authentication over TCP. The superuser password is random and kept
# in that directory (mode 0600). Run as root, the server runs as the `postgres` user; otherwise as yourself.
# Durability is switched off (fsync=off): this cluster holds test data only.
set -euo pipefail

DIR="${KETACHART_PG_DIR:-${TMPDIR:-/tmp}/ketachart-pg-$(id -u)}"
DATA="$DIR/data"
STATE="$DIR/state"

find_bindir() {
    if [[ -n "${PG_BINDIR:-}" && -x "$PG_BINDIR/initdb" ]]; then echo "$PG_BINDIR"; return 0; fi
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$d/initdb" ]]; then echo "$d"; return 0; fi
    done
    if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return 0; fi
    return 1
}

install_postgres() {
    if [[ "$(id -u)" != 0 ]]; then
        echo "pg-test-cluster: PostgreSQL (initdb) is not installed and I am not root to install it" >&2
        return 1
    fi
    echo "pg-test-cluster: installing PostgreSQL ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || true
    apt-get install -y --no-install-recommends postgresql >&2
}

as_owner() {
    # Run a command as the cluster owner: postgres when we are root, else ourselves.
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    local py
    for py in python3 python; do
        if command -v "$py" >/dev/null 2>&1; then
            "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
            return 0
        fi
    done
    echo $((20000 + RANDOM % 20000))
}

print_url() {
    [[ -f "$STATE" ]] || { echo "pg-test-cluster: not started (no $STATE)" >&2; return 1; }
    # shellcheck disable=SC1090
    source "$STATE"
    echo "postgresql://postgres:${PASSWORD}@127.0.0.1:${PORT}/postgres"
}

running() {
    [[ -f "$STATE" ]] || return 1
    # shellcheck disable=SC1090
    source "$STATE"
    as_owner "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

wait_ready() {
    # shellcheck disable=SC1090
    source "$STATE"
    local i
    for i in $(seq 1 100); do
        if "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then return 0; fi
        sleep 0.1
    done
    echo "pg-test-cluster: server did not become ready; log: $DIR/server.log" >&2
    return 1
}

start() {
    if running; then print_url; return 0; fi
    local bindir
    if ! bindir="$(find_bindir)"; then
        install_postgres
        bindir="$(find_bindir)" || { echo "pg-test-cluster: initdb still not found after install" >&2; return 1; }
    fi
    if [[ "$(id -u)" == 0 ]] && ! id postgres >/dev/null 2>&1; then
        echo "pg-test-cluster: running as root but there is no postgres user to run the server" >&2
        return 1
    fi
    rm -rf "$DIR"
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    local password port
    password="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    port="$(free_port)"
    printf 'PORT=%s\nPASSWORD=%s\nBINDIR=%s\n' "$port" "$password" "$bindir" > "$STATE"
    printf '%s\n' "$password" > "$DIR/pwfile"
    chmod 600 "$STATE" "$DIR/pwfile"
    if [[ "$(id -u)" == 0 ]]; then chown -R postgres "$DIR"; fi
    as_owner "$bindir/initdb" -D "$DATA" -U postgres --pwfile="$DIR/pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
        || as_owner "$bindir/initdb" -D "$DATA" -U postgres --pwfile="$DIR/pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 --locale=C >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; return 1; }
    rm -f "$DIR/pwfile"
    cat >> "$DATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$DIR'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 128MB
max_wal_size = 2GB
EOF
    as_owner "$bindir/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 start >/dev/null \
        || { tail -20 "$DIR/server.log" >&2; return 1; }
    wait_ready
    print_url
}

restart() {
    running || { echo "pg-test-cluster: not running" >&2; return 1; }
    as_owner "$BINDIR/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 -m fast restart >/dev/null
    wait_ready
    print_url
}

stop() {
    if [[ -f "$STATE" ]]; then
        # shellcheck disable=SC1090
        source "$STATE"
        as_owner "$BINDIR/pg_ctl" -D "$DATA" -w -m fast stop >/dev/null 2>&1 || true
    fi
    rm -rf "$DIR"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    restart) restart ;;
    url) running && print_url || { echo "pg-test-cluster: not running" >&2; exit 1; } ;;
    *) echo "usage: $0 start|stop|restart|url" >&2; exit 64 ;;
esac
