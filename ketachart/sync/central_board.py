"""The central side of the clinic board: chair heartbeats, change notifications, the read-only board role.

Applied by ``ketachart central init`` (one call at the end of ``init_central``), idempotently: every object is
created if missing and the grants are re-applied, so it needs no schema version of its own and a re-run after an
upgrade repairs it.

- ``ketachart.chair_heartbeats``: one row per chair, overwritten at each push (last heard, app version, device
  states, the chair's open session). Not part of the chart: it may change, it is never pulled, never signed.
  ``heard_at`` is set by a trigger to the server's ``clock_timestamp()``: a chair cannot claim to be fresher
  than it is, whatever its own clock says.
- ``NOTIFY ketachart_board, '<device id>[,<device id> ...]'`` from a statement-level ``AFTER INSERT`` trigger
  (with a transition table) on the chart tables the board reads, and from the heartbeat table. A push moves a
  whole batch with one ``INSERT ... SELECT`` per table, so a batch of 20,000 readings costs one notification,
  not 20,000; PostgreSQL folds identical payloads within a transaction and delivers them at commit only, so
  a listener never hears of rows it cannot see yet.
- ``ketachart_board`` (NOLOGIN): USAGE on the schema and SELECT on what the board shows; nothing else (no
  INSERT, UPDATE, DELETE, TRUNCATE, no user rows and password hashes, no audit trail). A wall screen logs in
  with its own role that is a member: ``CREATE ROLE board_wall LOGIN PASSWORD '...' IN ROLE ketachart_board``.
- Indexes the board's queries need, chosen by EXPLAIN on a central with 10 million readings (docs/DECISIONS.md).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from .central_roles import ADMIN_ROLE, CHAIR_ROLE, SCHEMA, ensure_role

BOARD_ROLE = "ketachart_board"
CHANNEL = "ketachart_board"
HEARTBEATS = "chair_heartbeats"

# Chart tables a board tile is made of: a new row in any of them may change what a tile shows.
NOTIFY_TABLES = ("sessions", "session_events", "vital_readings", "reading_blocks", "observations", "alerts",
                 "alert_acks", "dose_administrations", "patients", "rate_changes", "checklists", "patient_links")
# What the board role may read. Not users (password hashes), not audit_events, not signatures' targets elsewhere.
BOARD_READS = NOTIFY_TABLES + ("courses", "policy_versions", "signatures")

# name -> (table, columns/definition). Decided by EXPLAIN (ANALYZE, BUFFERS) on 10 million readings.
BOARD_INDEXES = {
    # Latest HR/SpO2/BP and the 30-minute trend of one session: index-only probes, newest first (value and
    # flags are included, so the validity rule is checked without visiting the table).
    "board_vitals_session_param_time": ("vital_readings",
                                        "(session_id, parameter, effective_at) INCLUDE (value, flags)"),
    "board_events_session": ("session_events", "(session_id)"),
    "board_alerts_session": ("alerts", "(session_id)"),
    "board_acks_alert": ("alert_acks", "(alert_id)"),
    "board_observations_session": ("observations", "(session_id, kind)"),
    "board_doses_session": ("dose_administrations", "(session_id)"),
    "board_patients_patient": ("patients", "(patient_id)"),
    "board_checklists_session": ("checklists", "(session_id)"),
}


def apply_board_schema(cur: psycopg.Cursor) -> None:
    """Create or repair the board's central objects and grants (inside the caller's init transaction)."""
    schema = sql.Identifier(SCHEMA)
    hb = sql.Identifier(SCHEMA, HEARTBEATS)
    cur.execute(sql.SQL(
        """CREATE TABLE IF NOT EXISTS {} (
            device_id text PRIMARY KEY,
            chair text,
            app_version text,
            device_states jsonb NOT NULL DEFAULT '{{}}'::jsonb,
            session_id text,
            chair_time timestamptz,
            heard_at timestamptz NOT NULL DEFAULT clock_timestamp()
        )"""
    ).format(hb))
    # The readings a chair has not sealed into a block yet (this minute's), newest per parameter: the board shows
    # them at once instead of a minute late. Not chart data: overwritten at each heartbeat (issue 17).
    cur.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS latest jsonb").format(hb))
    # Where chairs are enrolled (issue 13: ketachart.chairs binds a login to a device), an enrolled login reports
    # only its own device; admins and superusers may report any. Security definer: chairs cannot read ``chairs``.
    cur.execute(sql.SQL(
        """CREATE OR REPLACE FUNCTION {s}.heartbeat_heard() RETURNS trigger LANGUAGE plpgsql
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            IF to_regclass({chairs}) IS NOT NULL THEN
                IF NOT EXISTS (SELECT 1 FROM {s}.chairs c WHERE c.login = session_user AND c.device_id = NEW.device_id)
                   AND NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user)
                   AND NOT (to_regrole({admin}) IS NOT NULL AND pg_has_role(session_user, {admin}, 'MEMBER')) THEN
                    RAISE EXCEPTION 'login % may only report the heartbeat of the chair it is enrolled for',
                        session_user USING ERRCODE = '42501';
                END IF;
            END IF;
            NEW.heard_at := clock_timestamp();
            RETURN NEW;
        END $$"""
    ).format(s=schema, chairs=sql.Literal(f"{SCHEMA}.chairs"), admin=sql.Literal(ADMIN_ROLE)))
    cur.execute(sql.SQL(
        """CREATE OR REPLACE FUNCTION {}.notify_board() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            payload text;
        BEGIN
            SELECT string_agg(DISTINCT device_id, ',') INTO payload FROM new_rows;
            IF payload IS NOT NULL THEN
                IF octet_length(payload) > 7000 THEN
                    payload := '*';  -- NOTIFY payloads stop at 8000 bytes: "refresh everything"
                END IF;
                PERFORM pg_notify({}, payload);
            END IF;
            RETURN NULL;
        END $$"""
    ).format(schema, sql.Literal(CHANNEL)))
    cur.execute(sql.SQL(
        """CREATE OR REPLACE FUNCTION {}.notify_heartbeat() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify({}, NEW.device_id);
            RETURN NULL;
        END $$"""
    ).format(schema, sql.Literal(CHANNEL)))
    cur.execute(sql.SQL("DROP TRIGGER IF EXISTS heartbeat_heard ON {}").format(hb))
    cur.execute(sql.SQL(
        "CREATE TRIGGER heartbeat_heard BEFORE INSERT OR UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {}.heartbeat_heard()"
    ).format(hb, schema))
    cur.execute(sql.SQL("DROP TRIGGER IF EXISTS heartbeat_notify ON {}").format(hb))
    cur.execute(sql.SQL(
        "CREATE TRIGGER heartbeat_notify AFTER INSERT OR UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {}.notify_heartbeat()"
    ).format(hb, schema))
    for table in NOTIFY_TABLES:
        qt = sql.Identifier(SCHEMA, table)
        cur.execute(sql.SQL("DROP TRIGGER IF EXISTS board_notify ON {}").format(qt))
        cur.execute(sql.SQL(
            "CREATE TRIGGER board_notify AFTER INSERT ON {} REFERENCING NEW TABLE AS new_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION {}.notify_board()"
        ).format(qt, schema))
    for name, (table, definition) in BOARD_INDEXES.items():
        cur.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} " + definition).format(
            sql.Identifier(name), sql.Identifier(SCHEMA, table)))
    ensure_role(cur, BOARD_ROLE)
    _grant(cur)


def _grant(cur: psycopg.Cursor) -> None:
    board = sql.Identifier(BOARD_ROLE)
    chair = sql.Identifier(CHAIR_ROLE)
    hb = sql.Identifier(SCHEMA, HEARTBEATS)
    dbname = cur.execute("SELECT current_database()").fetchone()[0]
    cur.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname), board))
    cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(SCHEMA), board))
    cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(SCHEMA, "central_meta"), board))
    for table in BOARD_READS:
        qt = sql.Identifier(SCHEMA, table)
        cur.execute(sql.SQL("REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {} FROM {}").format(
            qt, board))
        cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(qt, board))
        # Where row-level security is on (issue 13 binds chair logins to their rows), the board reads every row.
        cur.execute(sql.SQL("DROP POLICY IF EXISTS board_reads ON {}").format(qt))
        cur.execute(sql.SQL("CREATE POLICY board_reads ON {} FOR SELECT TO {} USING (true)").format(qt, board))
    # Heartbeats: the board reads them; a chair writes its own row (upsert) but can never set heard_at (trigger).
    cur.execute(sql.SQL("REVOKE ALL ON {} FROM PUBLIC").format(hb))
    cur.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(hb, board))
    cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(hb, board))
    cur.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE ON {} TO {}").format(hb, chair))
    if cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.chairs",)).fetchone()[0]:
        # The enrolment (issue 13): the board names its tiles after the enrolled chairs. Not the logins.
        cur.execute(sql.SQL("GRANT SELECT (device_id, name) ON {} TO {}").format(sql.Identifier(SCHEMA, "chairs"), board))
    if cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.vouches",)).fetchone()[0]:
        cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(SCHEMA, "vouches"), board))


HEARTBEAT_LATEST = sql.SQL("UPDATE {} SET latest = %s::jsonb WHERE device_id = %s").format(
    sql.Identifier(SCHEMA, HEARTBEATS))

HEARTBEAT_UPSERT = sql.SQL(
    """INSERT INTO {} (device_id, chair, app_version, device_states, session_id, chair_time)
    VALUES (%s, %s, %s, %s::jsonb, %s, %s)
    ON CONFLICT (device_id) DO UPDATE SET chair = excluded.chair, app_version = excluded.app_version,
        device_states = excluded.device_states, session_id = excluded.session_id, chair_time = excluded.chair_time"""
).format(sql.Identifier(SCHEMA, HEARTBEATS))
