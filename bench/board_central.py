"""A big central for ``bench board``: a year of a 20-chair clinic, built in SQL with generate_series.

``build(conn, sessions)`` writes, as the database owner, ``sessions`` finished historical sessions (2,000
readings each: 5,000 sessions = 10 million readings) spread over 20 chairs, their patients, events and
acknowledged alerts, then one open session per chair with 30 minutes of 1 Hz HR and SpO2, BP every 15 min and
a heartbeat. Row ids are time-ordered like the chairs' UUIDv7 (appends at the right of each B-tree), and each
chair's device_seq is unique across tables, as on a real central. The database is kept (cached) between runs
when the server is persistent (``KETACHART_BENCH_CENTRAL``); ``central_meta`` holds the size it was built for.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

CHAIRS = 20
READINGS_PER_SESSION = 2000
LIVE_MINUTES = 30
T0 = "2025-01-06 08:00:00+00"


def _id(prefix_hex: str, expr: str) -> str:
    """A UUID-shaped, time-ordered id: ``0000000p-0000-7000-8000-<12 hex of expr>``."""
    return f"format('0000000{prefix_hex}-0000-7000-8000-%s', lpad(to_hex({expr}), 12, '0'))"


COMMON = "author, effective_at, recorded_at, late_entry, row_hash"


BULK_INDEXES = {  # dropped during the bulk load and built once afterwards (what a restore would do)
    "vital_readings_txid": "(txid)",
    "vital_readings_device_seq": "(device_id, device_seq)",
    "board_vitals_session_param_time": "(session_id, parameter, effective_at) INCLUDE (value, flags)",
}


def build(conn, sessions: int, now: datetime | None = None) -> dict:
    """Fill an initialised, empty central. Returns what was written. The caller re-runs ``central init``
    afterwards (it re-creates the board's notification triggers, dropped here for the bulk load)."""
    now = now or datetime.now(timezone.utc)
    live_start = now - timedelta(minutes=LIVE_MINUTES)
    cur = conn.cursor()
    cur.execute("SET maintenance_work_mem = '1GB'")
    cur.execute("SELECT tgrelid::regclass::text FROM pg_trigger WHERE tgname = 'board_notify'")
    for (table,) in cur.fetchall():
        cur.execute(f"DROP TRIGGER board_notify ON {table}")
    for name in BULK_INDEXES:
        cur.execute(f"DROP INDEX IF EXISTS ketachart.{name}")
    n, t0 = sessions, f"'{T0}'::timestamptz"
    dev = f"'bench-chair-' || lpad((({{g}}) % {CHAIRS})::text, 2, '0')"
    # Historical sessions: session g on chair g % 20, day g / 20 (a working day each), patient g.
    cur.execute(f"""
        INSERT INTO ketachart.patients (id, device_id, device_seq, {COMMON}, patient_id, mrn, family_name, given_name,
                                        birth_date, sex, weight_kg)
        SELECT {_id('1', 'g')}, {dev.format(g='g')}, 1000000 + g, 'bench', ts, ts, false, 'x', 'pat-' || g,
               'MRN' || g, 'Family' || g, 'Given', '1980-01-01', 'female', 70
        FROM generate_series(0, {n} - 1) g, LATERAL (SELECT {t0}::timestamptz + (g / {CHAIRS}) * interval '1 day' AS ts) t
    """)
    cur.execute(f"""
        INSERT INTO ketachart.sessions (id, device_id, device_seq, {COMMON}, patient_id, route, chair, policy_version)
        SELECT {_id('2', 'g')}, {dev.format(g='g')}, 2000000 + g, 'bench', ts, ts, false, 'x', 'pat-' || g, 'IV',
               'Chair ' || (g % {CHAIRS} + 1), 1
        FROM generate_series(0, {n} - 1) g, LATERAL (SELECT {t0}::timestamptz + (g / {CHAIRS}) * interval '1 day' AS ts) t
    """)
    cur.execute(f"""
        INSERT INTO ketachart.session_events (id, device_id, device_seq, {COMMON}, session_id, event)
        SELECT {_id('3', 'g * 5 + e')}, {dev.format(g='g')}, 3000000 + g * 5 + e, 'bench',
               ts + e * interval '10 min', ts + e * interval '10 min', false, 'x', {_id('2', 'g')},
               (ARRAY['check-in', 'start-infusion', 'stop-infusion', 'discharge'])[e + 1]
        FROM generate_series(0, {n} - 1) g, generate_series(0, 3) e,
             LATERAL (SELECT {t0}::timestamptz + (g / {CHAIRS}) * interval '1 day' AS ts) t
    """)
    cur.execute(f"""
        INSERT INTO ketachart.alerts (id, device_id, device_seq, {COMMON}, session_id, rule, severity, message, policy_version)
        SELECT {_id('4', 'g')}, {dev.format(g='g')}, 4000000 + g, 'bench', ts, ts, false, 'x', {_id('2', 'g')},
               'hr-high', 'high', 'HR above 120', 1
        FROM generate_series(0, {n} - 1) g, LATERAL (SELECT {t0}::timestamptz + (g / {CHAIRS}) * interval '1 day' AS ts) t
    """)
    cur.execute(f"""
        INSERT INTO ketachart.alert_acks (id, device_id, device_seq, {COMMON}, alert_id, action)
        SELECT {_id('5', 'g')}, {dev.format(g='g')}, 5000000 + g, 'bench', ts, ts, false, 'x', {_id('4', 'g')}, 'checked'
        FROM generate_series(0, {n} - 1) g, LATERAL (SELECT {t0}::timestamptz + (g / {CHAIRS}) * interval '1 day' AS ts) t
    """)
    # The readings: READINGS_PER_SESSION per session, HR and SpO2 alternating, one pair a second.
    cur.execute(f"""
        INSERT INTO ketachart.vital_readings (id, device_id, device_seq, {COMMON}, session_id, parameter, value, unit,
                                              source, flags)
        SELECT {_id('6', 'r')}, {dev.format(g='r / ' + str(READINGS_PER_SESSION))}, 10000000 + r, 'bench', ts, ts, false,
               'x', {_id('2', 'r / ' + str(READINGS_PER_SESSION))},
               CASE WHEN r % 2 = 0 THEN 'HR' ELSE 'SPO2' END,
               CASE WHEN r % 2 = 0 THEN 70 + r % 11 ELSE 97 + r % 3 END,
               CASE WHEN r % 2 = 0 THEN '/min' ELSE '%' END, 'device:bench', ''
        FROM generate_series(0, {n}::bigint * {READINGS_PER_SESSION} - 1) r,
             LATERAL (SELECT {t0}::timestamptz + ((r / {READINGS_PER_SESSION}) / {CHAIRS}) * interval '1 day'
                             + interval '15 min' + ((r % {READINGS_PER_SESSION}) / 2) * interval '1 second' AS ts) t
    """)
    # Today: one open session per chair, 30 minutes into its infusion.
    start, n = f"'{live_start.isoformat()}'::timestamptz", CHAIRS
    cur.execute(f"""
        INSERT INTO ketachart.patients (id, device_id, device_seq, {COMMON}, patient_id, mrn, family_name, given_name,
                                        birth_date, sex, weight_kg)
        SELECT {_id('a', 'c')}, {dev.format(g='c')}, 90000000 + c, 'bench', {start}, {start}, false, 'x',
               'live-pat-' || c, 'LIVE' || c, 'Live' || c, 'Patient', '1980-01-01', 'female', 70
        FROM generate_series(0, {n} - 1) c
    """)
    cur.execute(f"""
        INSERT INTO ketachart.sessions (id, device_id, device_seq, {COMMON}, patient_id, route, chair, policy_version)
        SELECT {_id('b', 'c')}, {dev.format(g='c')}, 90000100 + c, 'bench', {start}, {start}, false, 'x',
               'live-pat-' || c, 'IV', 'Chair ' || (c + 1), 1
        FROM generate_series(0, {n} - 1) c
    """)
    cur.execute(f"""
        INSERT INTO ketachart.session_events (id, device_id, device_seq, {COMMON}, session_id, event)
        SELECT {_id('c', 'c * 2 + e')}, {dev.format(g='c')}, 90000200 + c * 2 + e, 'bench', {start}, {start}, false,
               'x', {_id('b', 'c')}, (ARRAY['check-in', 'start-infusion'])[e + 1]
        FROM generate_series(0, {n} - 1) c, generate_series(0, 1) e
    """)
    cur.execute(f"""
        INSERT INTO ketachart.vital_readings (id, device_id, device_seq, {COMMON}, session_id, parameter, value, unit,
                                              source, flags)
        SELECT {_id('d', 'c * 100000 + s * 4 + p')}, {dev.format(g='c')}, 91000000 + c * 100000 + s * 4 + p, 'bench',
               ts, ts, false, 'x', {_id('b', 'c')},
               (ARRAY['HR', 'SPO2', 'NIBP_SYS', 'NIBP_DIA'])[p + 1],
               (ARRAY[72 + s % 9, 97 + s % 3, 128, 80])[p + 1], '', 'device:bench', ''
        FROM generate_series(0, {n} - 1) c, generate_series(0, {LIVE_MINUTES * 60 - 1}) s, generate_series(0, 3) p,
             LATERAL (SELECT {start}::timestamptz + s * interval '1 second' AS ts) t
        WHERE p < 2 OR s % 900 = 0
    """)
    cur.execute(f"""
        INSERT INTO ketachart.chair_heartbeats (device_id, chair, app_version, device_states, session_id, chair_time)
        SELECT 'bench-chair-' || lpad(c::text, 2, '0'), 'Chair ' || (c + 1), 'bench', '{{"monitor": "connected"}}',
               NULL, clock_timestamp()
        FROM generate_series(0, {n} - 1) c
    """)
    for name, columns in BULK_INDEXES.items():
        cur.execute(f"CREATE INDEX {name} ON ketachart.vital_readings {columns}")
    rows = cur.execute("SELECT count(*) FROM ketachart.vital_readings").fetchone()[0]
    return {"readings": rows, "sessions": sessions + CHAIRS}
