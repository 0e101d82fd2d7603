"""The central schema: versioned, append-only for everyone, and a chair role that may only INSERT and SELECT."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from ketachart.store.models import CHART_MODELS, CHART_TABLES
from ketachart.sync.central import CENTRAL_SCHEMA_VERSION, SCHEMA, init_central, read_meta
from ketachart.sync.config import CentralConfig, CentralRefused
from ketachart.sync.service import SyncService

from .helpers import chart_small_session


def test_init_creates_a_versioned_schema_and_is_idempotent(central):
    cfg = CentralConfig(central.admin_url)
    with central.admin() as conn:
        meta = read_meta(conn, cfg)
    assert meta["schema_version"] == str(CENTRAL_SCHEMA_VERSION)
    assert len(meta["central_id"]) == 36
    assert init_central(cfg) == (CENTRAL_SCHEMA_VERSION, CENTRAL_SCHEMA_VERSION)
    with central.admin() as conn:
        assert read_meta(conn, cfg)["central_id"] == meta["central_id"]


def test_central_tables_mirror_every_chart_column(central):
    with central.admin() as conn:
        for model in CHART_MODELS:
            cols = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                "ORDER BY ordinal_position", (SCHEMA, model.__tablename__))]
            assert cols == [c.name for c in model.__table__.columns] + ["txid", "received_at"]


@pytest.fixture
def pushed_row(central, make_chair):
    chair = make_chair("a")
    chart_small_session(chair, "A", readings=5)
    assert SyncService(chair, central.url_for(chair)).run_once().error is None
    return central.ids("patients").pop()


@pytest.mark.parametrize("statement", [
    "UPDATE {t} SET family_name = 'Changed' WHERE id = %s",
    "DELETE FROM {t} WHERE id = %s",
])
def test_chair_role_has_no_update_or_delete_grant(central, pushed_row, statement):
    with central.chair_conn() as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(sql.SQL(statement).format(t=sql.Identifier(SCHEMA, "patients")), (pushed_row,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(SCHEMA, "patients")))


@pytest.mark.parametrize("statement", [
    "UPDATE {t} SET family_name = 'Changed' WHERE id = %s",
    "DELETE FROM {t} WHERE id = %s",
])
def test_triggers_stop_even_the_owner_from_changing_chart_rows(central, pushed_row, statement):
    with central.admin() as conn:  # a superuser: grants do not stop it, the trigger does
        with pytest.raises(psycopg.DatabaseError, match="append-only") as err:
            conn.execute(sql.SQL(statement).format(t=sql.Identifier(SCHEMA, "patients")), (pushed_row,))
        assert err.value.sqlstate == "KC001"
        with pytest.raises(psycopg.DatabaseError, match="append-only"):
            conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(SCHEMA, "patients")))
        assert conn.execute(sql.SQL("SELECT family_name FROM {} WHERE id = %s").format(
            sql.Identifier(SCHEMA, "patients")), (pushed_row,)).fetchone() == ("Doe",)


def test_every_chart_table_has_both_triggers(central):
    with central.admin() as conn:
        names = {r[0] for r in conn.execute(
            "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s", (SCHEMA,))}
    for table in CHART_TABLES:
        assert {f"{table}_append_only", f"{table}_no_truncate"} <= names


def test_chair_cannot_forge_the_server_assigned_watermark(central, pushed_row):
    with central.chair_conn() as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(sql.SQL(
                "INSERT INTO {} (id, txid) VALUES ('x', '1'::xid8)").format(sql.Identifier(SCHEMA, "policy_versions")))


def test_newer_central_schema_is_refused_by_init_and_sync(central, make_chair):
    with central.admin() as conn:
        conn.execute(sql.SQL("UPDATE {} SET value = '99' WHERE key = 'schema_version'").format(
            sql.Identifier(SCHEMA, "central_meta")))
    with pytest.raises(CentralRefused, match="newer"):
        init_central(CentralConfig(central.admin_url))
    chair = make_chair("a")
    result = SyncService(chair, central.chair_url).run_once()
    assert result.refused and "Update KetaChart" in result.error


def test_missing_schema_is_refused_clearly(central, make_chair, pg_server):
    chair = make_chair("a")
    url = pg_server.with_db(pg_server.admin_url, "postgres")  # a database without the KetaChart schema
    result = SyncService(chair, url).run_once()
    assert result.refused
    assert "no KetaChart schema" in result.error and "central init" in result.error


def test_a_version_1_central_migrates_with_its_rows_in_the_ledger_and_vouched(pg_server, make_chair):
    """Rows a v1 central already holds enter the ledger; its users/policy rows are vouched by the migration."""
    import uuid

    from ketachart.store.models import Session, VitalReading
    from ketachart.sync.central import MIGRATIONS, V2_MODELS, unvouched
    from .helpers import local_rows

    dbname = "kc_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    url = pg_server.with_db(pg_server.admin_url, dbname)
    try:
        chair = make_chair("a")
        chart_small_session(chair, "A", readings=0)  # a v1 chair charted readings as vital_readings rows
        chair.append(VitalReading, session_id=chair.rows(Session)[0]["id"], parameter="HR", value=70.0, unit="/min",
                     source="device:test", flags="")
        with psycopg.connect(url, autocommit=True) as conn:
            with conn.transaction(), conn.cursor() as cur:
                MIGRATIONS[0](cur)  # the shipped v1 schema, as an older KetaChart created it
                cur.execute(sql.SQL("UPDATE {} SET value = '1' WHERE key = 'schema_version'").format(
                    sql.Identifier(SCHEMA, "central_meta")))
            for model in V2_MODELS:  # what a v1 chair had pushed
                table = model.__tablename__
                for r in chair.rows(model):
                    conn.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                        sql.Identifier(SCHEMA, table), sql.SQL(", ").join(map(sql.Identifier, r)),
                        sql.SQL(", ").join(sql.Placeholder() * len(r))), list(r.values()))
        assert init_central(CentralConfig(url)) == (1, CENTRAL_SCHEMA_VERSION)
        own = sum(len(v) for v in local_rows(chair).values())
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute(sql.SQL("SELECT n, max_seq FROM {} WHERE device_id = %s").format(
                sql.Identifier(SCHEMA, "device_heads")), (chair.device_id,)).fetchone() == (own, own)
            assert unvouched(conn) == []
    finally:
        with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
