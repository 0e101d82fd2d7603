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

Roles: ``ketachart_chair`` (NOLOGIN; granted to each chair's login by ``enroll-chair``) may use the schema,
SELECT the chart tables and ``central_meta``, INSERT the chart columns, and create temporary tables (the push
stages rows in one). It has no UPDATE, DELETE or TRUNCATE, and triggers on every chart table abort UPDATE,
DELETE and TRUNCATE for everyone, owners and superusers included.

Trust between chairs (schema version 2, see docs/SECURITY.md):

- ``chairs(login, device_id, name)``: each chair login is bound to one device id at enrolment
  (:func:`enroll_chair`). Row-level security on every chart table lets a chair login INSERT only rows whose
  ``device_id`` is its own; ``users`` and ``policy_versions`` have no INSERT grant nor policy for chairs at
  all. ``ketachart_admin`` (clinic IT, admin logins) may insert any row.
- ``device_seqs(device_id, device_seq, row_hash)``: one row per chart row, filled by a statement trigger, its
  primary key makes (device_id, device_seq) unique across all tables; ``device_heads(device_id, n, max_seq)``
  counts them, so a chair checks in one lookup that the central holds every row up to its cursor.
- ``vouches(tbl, id, vouched_by)``: the central's word that a users or policy row was written by an admin
  login (filled by a trigger on insert, or by ``ketachart central vouch`` for rows from before version 2).
  Chairs apply pulled user and policy rows only when vouched.
"""

from __future__ import annotations

import uuid
from typing import Callable

import psycopg
from psycopg import sql

from ..store.models import CHART_MODELS, column_type
from .central_roles import ADMIN_ROLE, CHAIR_ROLE, SCHEMA, ensure_role
from .config import CentralConfig, CentralRefused, _first_line, redact

CENTRAL_SCHEMA_VERSION = 4
ADMIN_TABLES = ("users", "policy_versions", "patient_links")  # clinic-wide facts only an admin login may write
SERVER_COLUMNS = ("txid", "received_at")
# The chart tables as central schema 2 knew them: the migrations up to v2 act on these, whatever came later.
V2_MODELS = tuple(m for m in CHART_MODELS if m.__tablename__ not in ("patient_links", "reading_blocks"))


def pg_type(coltype: object) -> str:
    found = column_type(coltype)
    if found is None:
        raise TypeError(f"no central column type for {coltype!r}")
    return found[1]


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


def _log_seqs_sql(create: str, vouched: tuple[str, ...]) -> str:
    """The ledger trigger function as a migration wrote it: every chart row's (device_id, device_seq, hash) into
    the ledger, and the rows of ``vouched`` tables vouched for by the login that wrote them."""
    tables = ", ".join(f"'{t}'" for t in vouched)
    return f"""{create} FUNCTION {{s}}.log_seqs() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = pg_catalog AS $$
        BEGIN
            INSERT INTO ketachart.device_seqs (device_id, device_seq, row_hash)
                SELECT device_id, device_seq, row_hash FROM new_rows;
            INSERT INTO ketachart.device_heads AS h (device_id, n, max_seq)
                SELECT device_id, count(*), max(device_seq) FROM new_rows GROUP BY device_id
                ON CONFLICT (device_id) DO UPDATE SET n = h.n + excluded.n, max_seq = greatest(h.max_seq, excluded.max_seq);
            IF TG_TABLE_NAME IN ({tables}) THEN
                INSERT INTO ketachart.vouches (tbl, id, vouched_by) SELECT TG_TABLE_NAME, id, session_user FROM new_rows;
            END IF;
            RETURN NULL;
        END $$"""


# The helpers below are what migrations v2 and later execute for one chart table. Old migrations call them:
# change what they execute only together with a new migration (chairs check the central's objects).


def _add_chart_table(cur: psycopg.Cursor, t: str) -> sql.Identifier:
    """A chart table added after v2: its v1 mirror table, without the per-table (device_id, device_seq)
    index that the ledger's primary key replaced at v2. Returns the table's qualified name."""
    model = next(m for m in CHART_MODELS if m.__tablename__ == t)
    for stmt in _table_ddl(model):
        cur.execute(stmt)
    cur.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(SCHEMA, f"{t}_device_seq")))
    return sql.Identifier(SCHEMA, t)


def _add_ledger_trigger(cur: psycopg.Cursor, t: str) -> None:
    """Every insert into chart table ``t`` enters its rows in the (device_id, device_seq) ledger (v2 on)."""
    cur.execute(sql.SQL(
        "CREATE TRIGGER {} AFTER INSERT ON {} REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION {}.log_seqs()"
    ).format(sql.Identifier(f"{t}_ledger"), sql.Identifier(SCHEMA, t), sql.Identifier(SCHEMA)))


def _add_row_security(cur: psycopg.Cursor, t: str) -> None:
    """Row-level security on chart table ``t`` (v2 on): chairs read every row, admins do anything the grants
    allow, and a chair inserts only rows of its own device, and none at all into the ADMIN_TABLES."""
    qt = sql.Identifier(SCHEMA, t)
    cur.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(qt))
    cur.execute(sql.SQL("CREATE POLICY chair_read ON {} FOR SELECT TO {} USING (true)").format(
        qt, sql.Identifier(CHAIR_ROLE)))
    cur.execute(sql.SQL("CREATE POLICY admin_all ON {} FOR ALL TO {} USING (true) WITH CHECK (true)").format(
        qt, sql.Identifier(ADMIN_ROLE)))
    if t not in ADMIN_TABLES:
        # A chair writes only as itself: the subquery is evaluated once per statement (an InitPlan).
        cur.execute(sql.SQL(
            "CREATE POLICY chair_insert_own ON {} FOR INSERT TO {} WITH CHECK "
            "(device_id = (SELECT c.device_id FROM {}.chairs c WHERE c.login = session_user))"
        ).format(qt, sql.Identifier(CHAIR_ROLE), sql.Identifier(SCHEMA)))


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
    for model in V2_MODELS:
        for stmt in _table_ddl(model):
            cur.execute(stmt)
    cur.execute(
        sql.SQL("INSERT INTO {} (key, value) VALUES ('central_id', %s), ('schema_version', '0')").format(
            sql.Identifier(SCHEMA, "central_meta")),
        (str(uuid.uuid4()),),
    )


def _migrate_1_to_2(cur: psycopg.Cursor) -> None:
    """v2: chairs bound to device ids, row-level security, the (device_id, device_seq) ledger, vouches.

    Rows already on the central are entered in the ledger (a duplicate (device_id, device_seq) from an earlier
    fork is kept once and counted in ``central_meta.forked_rows_at_v2``) and existing users/policy rows are
    vouched by the login running the migration: the clinic trusted them before; review them with
    ``ketachart users list`` after upgrading.
    """
    q = lambda text: sql.SQL(text).format(s=sql.Identifier(SCHEMA))  # noqa: E731
    cur.execute(q("CREATE TABLE {s}.chairs (login text PRIMARY KEY, device_id text NOT NULL UNIQUE, "
                  "name text NOT NULL UNIQUE, enrolled_at timestamptz NOT NULL DEFAULT clock_timestamp(), "
                  "enrolled_by text NOT NULL DEFAULT session_user)"))
    cur.execute(q("CREATE TABLE {s}.device_seqs (device_id text NOT NULL, device_seq bigint NOT NULL, "
                  "row_hash text NOT NULL, PRIMARY KEY (device_id, device_seq))"))
    cur.execute(q("CREATE TABLE {s}.device_heads (device_id text PRIMARY KEY, n bigint NOT NULL, "
                  "max_seq bigint NOT NULL)"))
    cur.execute(q("CREATE TABLE {s}.vouches (tbl text NOT NULL, id text NOT NULL, vouched_by text NOT NULL, "
                  "vouched_at timestamptz NOT NULL DEFAULT clock_timestamp(), "
                  "txid xid8 NOT NULL DEFAULT pg_current_xact_id(), PRIMARY KEY (tbl, id))"))
    cur.execute(q("CREATE INDEX vouches_txid ON {s}.vouches (txid)"))
    for name in ("device_seqs", "vouches"):
        cur.execute(sql.SQL("CREATE TRIGGER {} BEFORE UPDATE OR DELETE OR TRUNCATE ON {} "
                            "FOR EACH STATEMENT EXECUTE FUNCTION {}.refuse_change()").format(
            sql.Identifier(f"{name}_append_only"), sql.Identifier(SCHEMA, name), sql.Identifier(SCHEMA)))
    # The ledger trigger: SECURITY DEFINER so a chair fills the ledger without any grant on it.
    cur.execute(q(
        _log_seqs_sql("CREATE", ("users", "policy_versions"))))
    cur.execute(q("REVOKE ALL ON FUNCTION {s}.log_seqs() FROM PUBLIC"))
    for model in V2_MODELS:
        t = model.__tablename__
        qt = sql.Identifier(SCHEMA, t)
        cur.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(SCHEMA, f"{t}_device_seq")))
        cur.execute(sql.SQL("INSERT INTO {s}.device_seqs (device_id, device_seq, row_hash) "
                            "SELECT device_id, device_seq, row_hash FROM {t} ON CONFLICT DO NOTHING").format(
            s=sql.Identifier(SCHEMA), t=qt))
        _add_ledger_trigger(cur, t)
        if t in ADMIN_TABLES:
            cur.execute(sql.SQL("INSERT INTO {s}.vouches (tbl, id, vouched_by) SELECT %s, id, 'migration:' || "
                                "session_user FROM {t}").format(s=sql.Identifier(SCHEMA), t=qt), (t,))
        _add_row_security(cur, t)
    cur.execute(q("INSERT INTO {s}.device_heads (device_id, n, max_seq) "
                  "SELECT device_id, count(*), max(device_seq) FROM {s}.device_seqs GROUP BY device_id"))
    total = 0
    for model in V2_MODELS:
        total += cur.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(SCHEMA, model.__tablename__))).fetchone()[0]
    ledger = cur.execute(q("SELECT count(*) FROM {s}.device_seqs")).fetchone()[0]
    cur.execute(q("INSERT INTO {s}.central_meta (key, value) VALUES ('forked_rows_at_v2', %s)"),
                (str(total - ledger),))


def _add_patient_links(cur: psycopg.Cursor) -> None:
    """v3: ``patient_links`` (an admin's link of two records of one person, issue 13), written like users and
    policy by admin logins only (no INSERT right nor policy for chairs) and vouched by the ledger trigger."""
    q = lambda text: sql.SQL(text).format(s=sql.Identifier(SCHEMA))  # noqa: E731
    t = "patient_links"
    _add_chart_table(cur, t)
    _add_ledger_trigger(cur, t)
    _add_row_security(cur, t)  # an ADMIN_TABLE: no chair_insert_own policy
    # No INSERT grant for chairs either (``_grant_chair``): a chair login cannot link.
    # The ledger trigger now vouches for links too (v2 named only users and policy).
    cur.execute(q(
        _log_seqs_sql("CREATE OR REPLACE", ("users", "policy_versions", "patient_links"))))
    cur.execute(q("REVOKE ALL ON FUNCTION {s}.log_seqs() FROM PUBLIC"))


def _migrate_3_to_4(cur: psycopg.Cursor) -> None:
    """v4 (issue 17): ``reading_blocks``, a chair's readings sealed per minute (one row per session and minute
    instead of one per reading), with the same protections as every chart table: append-only triggers, the
    (device_id, device_seq) ledger, row-level security (a chair inserts only its own rows). Rows already in
    ``vital_readings`` stay there, unchanged; readers read both."""
    t = "reading_blocks"
    qt = _add_chart_table(cur, t)
    cur.execute(sql.SQL("CREATE INDEX {} ON {} (session_id, last_at)").format(sql.Identifier(f"{t}_session_time"), qt))
    _add_ledger_trigger(cur, t)
    _add_row_security(cur, t)


# MIGRATIONS[n] upgrades the central schema from version n to n+1 inside the init transaction.
# Add a function when the chart tables change; never change what an old one executes.
MIGRATIONS: dict[int, Callable[[psycopg.Cursor], None]] = {0: _migrate_0_to_1, 1: _migrate_1_to_2,
                                                           2: _add_patient_links, 3: _migrate_3_to_4}


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
                for role in (CHAIR_ROLE, ADMIN_ROLE):  # both exist before a migration names them
                    ensure_role(cur, role)
                version = before
                while version < CENTRAL_SCHEMA_VERSION:
                    MIGRATIONS[version](cur)
                    version += 1
                cur.execute(
                    sql.SQL("UPDATE {} SET value = %s WHERE key = 'schema_version'").format(
                        sql.Identifier(SCHEMA, "central_meta")),
                    (str(version),),
                )
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


def _grant_chair(cur: psycopg.Cursor) -> None:
    role = sql.Identifier(CHAIR_ROLE)
    admin = sql.Identifier(ADMIN_ROLE)
    schema = sql.Identifier(SCHEMA)
    cur.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(schema))
    cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}, {}").format(schema, role, admin))
    cur.execute(sql.SQL("GRANT SELECT ON {} TO {}, {}").format(sql.Identifier(SCHEMA, "central_meta"), role, admin))
    dbname = cur.execute("SELECT current_database()").fetchone()[0]
    cur.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}, {}").format(
        sql.Identifier(dbname), role, admin))
    for model in CHART_MODELS:
        qt = sql.Identifier(SCHEMA, model.__tablename__)
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in chart_columns(model.__tablename__))
        cur.execute(sql.SQL("REVOKE ALL ON {} FROM PUBLIC").format(qt))
        cur.execute(sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(qt, role))
        cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(qt, role))
        cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(qt, admin))
        cur.execute(sql.SQL("GRANT INSERT ({}) ON {} TO {}").format(cols, qt, admin))
        if model.__tablename__ in ADMIN_TABLES:
            cur.execute(sql.SQL("REVOKE INSERT ON {} FROM {}").format(qt, role))
        else:
            cur.execute(sql.SQL("GRANT INSERT ({}) ON {} TO {}").format(cols, qt, role))
    for name in ("chairs", "device_seqs", "device_heads", "vouches"):
        qt = sql.Identifier(SCHEMA, name)
        cur.execute(sql.SQL("REVOKE ALL ON {} FROM PUBLIC").format(qt))
        cur.execute(sql.SQL("GRANT SELECT ON {} TO {}, {}").format(qt, role, admin))
    cur.execute(sql.SQL("GRANT INSERT ON {} TO {}").format(sql.Identifier(SCHEMA, "vouches"), admin))
    cur.execute(sql.SQL("GRANT INSERT, UPDATE ON {} TO {}").format(sql.Identifier(SCHEMA, "chairs"), admin))


# --- enrolment, identity and vouching (admin side) ---------------------------------------------------
_LOGIN_RE = "^[a-z0-9][a-z0-9_-]{0,39}$"


def login_for(name: str) -> str:
    """The PostgreSQL login of the chair called ``name`` (lower case; letters, digits, - and _)."""
    import re

    name = (name or "").strip().lower()
    if not re.match(_LOGIN_RE, name):
        raise CentralRefused(f"a chair name is 1-40 lower-case letters, digits, - or _ (got {name!r}); nothing was changed")
    return f"kc_chair_{name}"


def enroll_chair(cfg: CentralConfig, name: str, device_id: str, *, rebind: bool = False) -> tuple[str, str]:
    """Create the login of chair ``name``, bound to ``device_id``; returns (login, password).

    Run with an admin's login. Refused when the name or the device is already enrolled, unless ``rebind``:
    then the chair's existing login is bound to the new chart file's device (a chair restarted on a new file
    after a history conflict) with a new password; the old device's rows stay on the central as they are.
    The password is random and shown once (the caller writes it into the chair's 0600 config file).
    """
    import secrets

    login = login_for(name)
    password = secrets.token_urlsafe(24)
    conn = connect(cfg)
    try:
        read_meta(conn, cfg)
        with conn.transaction():
            taken = conn.execute(
                sql.SQL("SELECT login, device_id FROM {} WHERE login = %s OR device_id = %s").format(
                    sql.Identifier(SCHEMA, "chairs")), (login, device_id)).fetchone()
            if rebind and taken and taken[0] == login and taken[1] != device_id and not conn.execute(
                    sql.SQL("SELECT 1 FROM {} WHERE device_id = %s").format(sql.Identifier(SCHEMA, "chairs")),
                    (device_id,)).fetchone():
                conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(login), sql.Literal(password)))
                conn.execute(sql.SQL("UPDATE {} SET device_id = %s, enrolled_at = clock_timestamp(), "
                                     "enrolled_by = session_user WHERE login = %s").format(
                    sql.Identifier(SCHEMA, "chairs")), (device_id, login))
                return login, password
            if taken:
                raise CentralRefused(
                    f"chair {name!r} or device {device_id} is already enrolled (as {taken[0]} for {taken[1]}); "
                    "nothing was changed")
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (login,)).fetchone()
            conn.execute(sql.SQL(("ALTER" if exists else "CREATE") + " ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(login), sql.Literal(password)))
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(CHAIR_ROLE), sql.Identifier(login)))
            conn.execute(sql.SQL("INSERT INTO {} (login, device_id, name) VALUES (%s, %s, %s)").format(
                sql.Identifier(SCHEMA, "chairs")), (login, device_id, name.strip().lower()))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise CentralRefused(
            f"the login for {cfg.display()} may not enrol chairs ({_first_line(exc)}); use an admin's login"
        ) from None
    finally:
        conn.close()
    return login, password


def whoami(conn: psycopg.Connection) -> tuple[bool, str | None]:
    """(is an admin login, the device id this login is enrolled for or None)."""
    row = conn.execute(
        sql.SQL("SELECT pg_has_role(session_user, %s, 'MEMBER') OR (SELECT rolsuper FROM pg_roles "
                "WHERE rolname = session_user), (SELECT device_id FROM {} WHERE login = session_user)").format(
            sql.Identifier(SCHEMA, "chairs")), (ADMIN_ROLE,)).fetchone()
    return bool(row[0]), row[1]


def unvouched(conn: psycopg.Connection) -> list[dict]:
    """Users and policy rows on the central that no admin vouched for (forged, or from before version 2)."""
    out = []
    for table in ADMIN_TABLES:
        rows = conn.execute(sql.SQL(
            "SELECT t.id, t.device_id, t.device_seq FROM {} t LEFT JOIN {} v ON v.tbl = %s AND v.id = t.id "
            "WHERE v.id IS NULL ORDER BY t.txid, t.id").format(
            sql.Identifier(SCHEMA, table), sql.Identifier(SCHEMA, "vouches")), (table,)).fetchall()
        out.extend({"table": table, "id": r[0], "device_id": r[1], "device_seq": r[2]} for r in rows)
    return out


def vouch(cfg: CentralConfig, ids: list[str]) -> int:
    """An admin vouches for the users/policy rows ``ids`` (after checking them). Returns how many."""
    conn = connect(cfg)
    try:
        read_meta(conn, cfg)
        pending = {r["id"]: r["table"] for r in unvouched(conn)}
        unknown = [i for i in ids if i not in pending]
        if unknown:
            raise CentralRefused(f"not an unvouched users/policy row: {', '.join(unknown)}; nothing was changed")
        with conn.transaction():
            for i in ids:
                conn.execute(sql.SQL("INSERT INTO {} (tbl, id, vouched_by) VALUES (%s, %s, session_user)").format(
                    sql.Identifier(SCHEMA, "vouches")), (pending[i], i))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise CentralRefused(f"only an admin login may vouch ({_first_line(exc)}); nothing was changed") from None
    finally:
        conn.close()
    return len(ids)
