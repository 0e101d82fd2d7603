"""The central PostgreSQL schema: a versioned mirror of the chart tables, append-only, with a pull watermark.

Layout (schema ``ketachart``):

- ``central_meta(key, value)``: ``schema_version`` and ``central_id`` (a UUID naming this central database;
  chairs key their cursors by it, so pointing a chair at another central database starts its cursors afresh).
- one table per chart table, same column names, ``id`` the primary key, plus two server-assigned columns:
  ``txid xid8 DEFAULT pg_current_xact_id()`` (the id of the transaction that inserted the row) and
  ``received_at timestamptz DEFAULT clock_timestamp()`` (server time of arrival). Chairs are granted INSERT
  on the chart columns only, so they cannot supply either value.

The commit-safe pull watermark
------------------------------
A reader runs in one REPEATABLE READ snapshot S and reads ``pg_snapshot_xmin(S)``: every transaction with an
id below it has finished (committed or aborted), so every committed row with ``txid < xmin(S)`` is visible in
S. A transaction at or above it may still be running and commit later. The reader therefore asks for rows with
``txid >= W`` (its stored watermark), then stores ``W := xmin(S)``.

Invariant: after a pull, every committed row with ``txid < W`` is in the local store. It holds at W = 0. A
pull with watermark W reads every row with ``txid >= W`` visible in S; rows below W were delivered earlier;
and every committed row below ``xmin(S)`` is visible in S, so all of them are now delivered. A row committed
later by a transaction that was still running during S has ``txid >= xmin(S)`` and is read by the next pull.
No row can be skipped, however transactions interleave or in which order they commit (which is exactly where
an identity column or ``received_at`` fails: a value taken early can commit after a larger one was read).

The price is that rows in ``[xmin(S), ...)`` visible in S are read again next time; the chair inserts pulled
rows with INSERT OR IGNORE by ``id``, so a re-read row is never stored twice. The window is only as wide as
the longest transaction running on the server at the time of the pull.

Roles: ``ketachart_chair`` (NOLOGIN; grant it to each chair's login role) may use the schema, SELECT the
chart tables and ``central_meta``, INSERT the chart columns, and create temporary tables (the push stages
rows in one). It has no UPDATE, DELETE or TRUNCATE, and triggers on every chart table abort UPDATE, DELETE and
TRUNCATE for everyone, owners and superusers included.
"""

from __future__ import annotations

import uuid
from typing import Callable

import psycopg
from psycopg import sql
from sqlalchemy import Boolean, Float, Integer, String, Text

from ..store.models import CHART_MODELS, UTCDateTime
from .config import CentralConfig, CentralRefused, _first_line, redact

SCHEMA = "ketachart"
CHAIR_ROLE = "ketachart_chair"
CENTRAL_SCHEMA_VERSION = 1
SERVER_COLUMNS = ("txid", "received_at")


def pg_type(coltype: object) -> str:
    if isinstance(coltype, UTCDateTime):
        return "timestamptz"
    if isinstance(coltype, Boolean):
        return "boolean"
    if isinstance(coltype, Float):
        return "double precision"
    if isinstance(coltype, Integer):
        return "bigint"
    if isinstance(coltype, (String, Text)):
        return "text"
    raise TypeError(f"no central column type for {coltype!r}")


def chart_columns(table_name: str) -> list[str]:
    """The chart columns of a table, in model order (what is pushed and pulled)."""
    model = next(m for m in CHART_MODELS if m.__tablename__ == table_name)
    return [c.name for c in model.__table__.columns]


def _table_ddl(model: type) -> list[sql.Composable]:
    table = model.__table__
    name = table.name
    cols = []
    for c in table.columns:
        null = "" if (c.nullable and not c.primary_key) else " NOT NULL"
        cols.append(sql.SQL("{} {}{}").format(sql.Identifier(c.name), sql.SQL(pg_type(c.type)), sql.SQL(null)))
    cols.append(sql.SQL("txid xid8 NOT NULL DEFAULT pg_current_xact_id()"))
    cols.append(sql.SQL("received_at timestamptz NOT NULL DEFAULT clock_timestamp()"))
    cols.append(sql.SQL("PRIMARY KEY (id)"))
    qt = sql.Identifier(SCHEMA, name)
    return [
        sql.SQL("CREATE TABLE {} ({})").format(qt, sql.SQL(", ").join(cols)),
        sql.SQL("CREATE INDEX {} ON {} (txid)").format(sql.Identifier(f"{name}_txid"), qt),
        sql.SQL("CREATE INDEX {} ON {} (device_id, device_seq)").format(sql.Identifier(f"{name}_device_seq"), qt),
        sql.SQL(
            "CREATE TRIGGER {} BEFORE UPDATE OR DELETE ON {} FOR EACH ROW EXECUTE FUNCTION {}.refuse_change()"
        ).format(sql.Identifier(f"{name}_append_only"), qt, sql.Identifier(SCHEMA)),
        sql.SQL(
            "CREATE TRIGGER {} BEFORE TRUNCATE ON {} FOR EACH STATEMENT EXECUTE FUNCTION {}.refuse_change()"
        ).format(sql.Identifier(f"{name}_no_truncate"), qt, sql.Identifier(SCHEMA)),
    ]


def _migrate_0_to_1(cur: psycopg.Cursor) -> None:
    """v1: meta table, the refusing trigger function, and a mirror of every chart table (as of store schema 2)."""
    cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))
    cur.execute(sql.SQL("CREATE TABLE {} (key text PRIMARY KEY, value text NOT NULL)").format(
        sql.Identifier(SCHEMA, "central_meta")))
    cur.execute(sql.SQL(
        """CREATE FUNCTION {}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'chart rows in % are append-only: record an amendment instead', TG_TABLE_NAME
                USING ERRCODE = 'KC001';
        END $$"""
    ).format(sql.Identifier(SCHEMA)))
    for model in CHART_MODELS:
        for stmt in _table_ddl(model):
            cur.execute(stmt)
    cur.execute(
        sql.SQL("INSERT INTO {} (key, value) VALUES ('central_id', %s), ('schema_version', '0')").format(
            sql.Identifier(SCHEMA, "central_meta")),
        (str(uuid.uuid4()),),
    )


# MIGRATIONS[n] upgrades the central schema from version n to n+1 inside the init transaction.
# Add a function when the chart tables change; never edit an old one.
MIGRATIONS: dict[int, Callable[[psycopg.Cursor], None]] = {0: _migrate_0_to_1}


def connect(cfg: CentralConfig) -> psycopg.Connection:
    """An autocommit connection in UTC, or CentralRefused with a clear, password-free reason."""
    try:
        conn = psycopg.connect(cfg.url, autocommit=True, **cfg.connect_kwargs())
    except psycopg.Error as exc:
        raise CentralRefused(
            f"cannot connect to the central database {cfg.display()}: {redact(_first_line(exc), cfg)}. "
            "Check the address, the network, the password and the TLS settings (sslmode, sslrootcert). "
            "Nothing was changed locally."
        ) from None
    except Exception as exc:  # a malformed URL parameter, for example
        raise CentralRefused(
            f"cannot use the central URL for {cfg.display()}: {redact(_first_line(exc), cfg)}"
        ) from None
    conn.execute("SET TIME ZONE 'UTC'")
    return conn


def read_meta(conn: psycopg.Connection, cfg: CentralConfig) -> dict[str, str]:
    """The central meta table; CentralRefused when the schema is missing, unreadable, too old or too new."""
    try:
        with conn.transaction():
            rows = conn.execute(
                sql.SQL("SELECT key, value FROM {}").format(sql.Identifier(SCHEMA, "central_meta"))
            ).fetchall()
    except psycopg.errors.UndefinedTable:
        raise CentralRefused(
            f"the central database {cfg.display()} has no KetaChart schema. An administrator runs "
            "`ketachart central init --central URL` once. Nothing was changed locally."
        ) from None
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.InvalidSchemaName) as exc:
        raise CentralRefused(
            f"the central database {cfg.display()} refused to show its KetaChart schema "
            f"({_first_line(exc)}); grant the {CHAIR_ROLE} role to this login. Nothing was changed locally."
        ) from None
    meta = dict(rows)
    version = int(meta.get("schema_version", "0"))
    if version > CENTRAL_SCHEMA_VERSION:
        raise CentralRefused(
            f"the central database {cfg.display()} has schema version {version}, newer than this KetaChart knows "
            f"({CENTRAL_SCHEMA_VERSION}). Update KetaChart on this computer. Nothing was changed locally."
        )
    if version < CENTRAL_SCHEMA_VERSION:
        raise CentralRefused(
            f"the central database {cfg.display()} has schema version {version}; this KetaChart needs "
            f"{CENTRAL_SCHEMA_VERSION}. An administrator runs `ketachart central init --central URL` to migrate it. "
            "Nothing was changed locally."
        )
    if not meta.get("central_id"):
        raise CentralRefused(f"the central database {cfg.display()} has no central_id; run `ketachart central init`")
    return meta


def init_central(cfg: CentralConfig) -> tuple[int, int]:
    """Create or migrate the central schema and (re)apply the chair role's grants.

    Returns (version before, version after). Runs in one transaction under an advisory lock, so two admins
    running it at once cannot interleave. Raises CentralRefused for a newer schema or missing rights.
    """
    conn = connect(cfg)
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('ketachart central init'))")
            have_schema = conn.execute(
                "SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.central_meta",)
            ).fetchone()[0]
            before = 0
            if have_schema:
                row = conn.execute(
                    sql.SQL("SELECT value FROM {} WHERE key = 'schema_version'").format(
                        sql.Identifier(SCHEMA, "central_meta"))
                ).fetchone()
                before = int(row[0]) if row else 0
            if before > CENTRAL_SCHEMA_VERSION:
                raise CentralRefused(
                    f"the central database {cfg.display()} has schema version {before}, newer than this KetaChart "
                    f"knows ({CENTRAL_SCHEMA_VERSION}); use a newer KetaChart to manage it. Nothing was changed."
                )
            with conn.cursor() as cur:
                version = before
                while version < CENTRAL_SCHEMA_VERSION:
                    MIGRATIONS[version](cur)
                    version += 1
                cur.execute(
                    sql.SQL("UPDATE {} SET value = %s WHERE key = 'schema_version'").format(
                        sql.Identifier(SCHEMA, "central_meta")),
                    (str(version),),
                )
                _ensure_chair_role(cur)
                _grant_chair(cur)
                from .central_board import apply_board_schema  # the clinic board (issue 15)
                apply_board_schema(cur)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise CentralRefused(
            f"the login for {cfg.display()} may not create the KetaChart schema or roles ({_first_line(exc)}); "
            "run `ketachart central init` with the database owner's or an administrator's login"
        ) from None
    finally:
        conn.close()
    return before, CENTRAL_SCHEMA_VERSION


def _ensure_chair_role(cur: psycopg.Cursor) -> None:
    cur.execute(sql.SQL(
        """DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {role_lit}) THEN
                BEGIN
                    CREATE ROLE {role} NOLOGIN;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                END;
            END IF;
        END $$"""
    ).format(role_lit=sql.Literal(CHAIR_ROLE), role=sql.Identifier(CHAIR_ROLE)))


def _grant_chair(cur: psycopg.Cursor) -> None:
    role = sql.Identifier(CHAIR_ROLE)
    schema = sql.Identifier(SCHEMA)
    cur.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(schema))
    cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, role))
    cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(SCHEMA, "central_meta"), role))
    dbname = cur.execute("SELECT current_database()").fetchone()[0]
    cur.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(sql.Identifier(dbname), role))
    for model in CHART_MODELS:
        qt = sql.Identifier(SCHEMA, model.__tablename__)
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in chart_columns(model.__tablename__))
        cur.execute(sql.SQL("REVOKE ALL ON {} FROM PUBLIC").format(qt))
        cur.execute(sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(qt, role))
        cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(qt, role))
        cur.execute(sql.SQL("GRANT INSERT ({}) ON {} TO {}").format(cols, qt, role))
