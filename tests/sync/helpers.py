"""Helpers for the sync tests: the per-test central database handle, a small real session, convergence checks."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from ketachart.domain.clock import FakeClock
from ketachart.domain.codes import Parameter
from ketachart.domain.dosing import iv_dose
from ketachart.domain.readings import Reading
from ketachart.domain.vocabulary import Kind
from ketachart.domain.session import SessionEvent
from ketachart.store.models import CHART_TABLES
from ketachart.store.repository import ChartStore
from ketachart.sync.central import SCHEMA, enroll_chair
from ketachart.sync.config import CentralConfig
from ketachart.sync.service import PULLED_TABLES
from ketachart.sync.central import ADMIN_TABLES


@dataclass
class Central:
    server: object
    dbname: str
    admin_url: str
    chair_url: str  # a member of ketachart_chair that is NOT enrolled (bound to no device)
    logins: list = field(default_factory=list)
    _urls: dict = field(default_factory=dict)

    def url_for(self, store: ChartStore, name: str | None = None) -> str:
        """The URL of this chair's own login, enrolled (once) for its device id as `enroll-chair` does."""
        if store.device_id not in self._urls:
            login, password = enroll_chair(CentralConfig(self.admin_url), name or store.device_id, store.device_id)
            self.logins.append(login)
            self._urls[store.device_id] = self.server.with_db(self.admin_url, self.dbname, login, password)
        return self._urls[store.device_id]

    def conn_for(self, store: ChartStore) -> psycopg.Connection:
        return psycopg.connect(self.url_for(store), autocommit=True)

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.admin_url, autocommit=True)

    def chair_conn(self) -> psycopg.Connection:
        return psycopg.connect(self.chair_url, autocommit=True)

    def ids(self, table: str, *, device_id: str | None = None) -> set[str]:
        with self.admin() as conn:
            q = sql.SQL("SELECT id FROM {}").format(sql.Identifier(SCHEMA, table))
            if device_id:
                q = q + sql.SQL(" WHERE device_id = %s")
            return {r[0] for r in conn.execute(q, (device_id,) if device_id else None)}

    def count(self, table: str) -> int:
        with self.admin() as conn:
            return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(SCHEMA, table))).fetchone()[0]

    def all_rows(self) -> dict[str, dict[str, tuple]]:
        """table -> id -> (device_id, device_seq, row_hash)."""
        out = {}
        with self.admin() as conn:
            for table in CHART_TABLES:
                rows = conn.execute(sql.SQL("SELECT id, device_id, device_seq, row_hash FROM {}").format(
                    sql.Identifier(SCHEMA, table))).fetchall()
                out[table] = {r[0]: tuple(r[1:]) for r in rows}
        return out



def chart_small_session(store: ChartStore, tag: str, readings: int = 60) -> str:
    """A short but complete-shaped session through the real store API: every pulled kind plus readings."""
    clock = store.clock
    p = store.create_patient(f"MRN-{tag}", "Doe", tag, "1980-01-01", "female", 70.0)
    c = store.create_course(p["patient_id"])
    s = store.create_session(p["patient_id"], "IV", c["id"], chair=tag)
    sid = s["id"]
    store.session_event(sid, SessionEvent.CHECK_IN)
    store.observe(sid, Kind.PHQ9, value=12, data={"items": [2, 2, 1, 2, 1, 2, 1, 1, 0]}, patient_id=p["patient_id"])
    store.record_dose(sid, iv_dose(70.0, 0.5, 10.0, 40, store.policy), lot="L1")
    store.session_event(sid, SessionEvent.START_INFUSION)
    batch = []
    for i in range(readings):
        if isinstance(clock, FakeClock):
            clock.advance(1)
        batch.append(Reading(Parameter.HR, 70.0 + i % 7, clock.now(), source="device:test"))
    for reading in batch:  # each sealed at once: one reading block (one chart row to push) per reading, so the
        store.add_readings(sid, [reading])  # batching tests have many rows (a chair seals per minute)
        store.seal_readings()
    store.observe(sid, Kind.NOTE, text=f"note {tag}")
    store.session_event(sid, SessionEvent.STOP_INFUSION)
    return sid


# --- checks ---------------------------------------------------------------------------------------
def local_rows(store: ChartStore) -> dict[str, dict[str, tuple]]:
    out = {}
    with store.engine.connect() as conn:
        for table in CHART_TABLES:
            rows = conn.exec_driver_sql(f"SELECT id, device_id, device_seq, row_hash FROM {table}").fetchall()
            out[table] = {r[0]: tuple(r[1:]) for r in rows}
        conn.rollback()
    return out


def assert_converged(central: Central, chairs: list[ChartStore], pulled_totals: dict[str, int] | None = None) -> None:
    """Central holds exactly the union of the chairs' own rows (same hashes); every chair holds every other
    chair's pulled-kind rows (once: ids are primary keys) and nothing else of theirs; nothing local was lost."""
    server = central.all_rows()
    union: dict[str, dict[str, tuple]] = {t: {} for t in CHART_TABLES}
    locals_ = {s.device_id: local_rows(s) for s in chairs}
    for store in chairs:
        assert store.verify_chain() == [], store.verify_chain()
        own_total = 0
        for table, rows in locals_[store.device_id].items():
            own = {i: v for i, v in rows.items() if v[0] == store.device_id}
            own_total += len(own)
            union[table].update(own)
        with store.engine.connect() as conn:
            last_seq = conn.exec_driver_sql(
                "SELECT last_seq FROM device_counter WHERE device_id = ?", (store.device_id,)).scalar_one()
            conn.rollback()
        assert own_total == last_seq, "a local row of this chair was lost"
    for table in CHART_TABLES:
        if table in ADMIN_TABLES:  # a chair login never sends users/policy rows: they wait for an admin login
            assert set(server[table].items()) <= set(union[table].items())
            continue
        assert server[table] == union[table], f"central {table} differs from the union of the chairs' rows"
    obs_with_patient = _central_observations_with_patient(central)
    for store in chairs:
        mine = locals_[store.device_id]
        foreign_total = 0
        for table in CHART_TABLES:
            foreign_local = {i: v for i, v in mine[table].items() if v[0] != store.device_id}
            foreign_total += len(foreign_local)
            expected = {i: v for i, v in server[table].items() if v[0] != store.device_id} if table in PULLED_TABLES else {}
            if table == "observations":
                expected = {i: v for i, v in expected.items() if i in obs_with_patient}
            assert foreign_local == expected, f"{store.device_id}: pulled {table} differ from the other chairs' rows"
        if pulled_totals is not None:
            assert pulled_totals[store.device_id] == foreign_total, "a pulled row was counted (delivered) twice"


def _central_observations_with_patient(central: Central) -> set[str]:
    with central.admin() as conn:
        return {r[0] for r in conn.execute(
            sql.SQL("SELECT id FROM {} WHERE patient_id IS NOT NULL").format(sql.Identifier(SCHEMA, "observations")))}
