"""``verify`` streams the chart in chunks (constant memory at any age): what it finds must not depend on where
the chunk boundaries fall, and the fast tuple canonicalizer must give exactly the canonical text."""

import math
import sqlite3

import pytest

from ketachart.store import integrity
from ketachart.store.hashing import canonical_content, tuple_canonicalizer
from ketachart.store.models import CHART_MODELS, Observation, VitalReading


@pytest.fixture
def tiny_chunks(monkeypatch):
    monkeypatch.setattr(integrity, "CHUNK_ROWS", 3)  # every table's rows cross many chunk boundaries


def _observe(store, session, n):
    for i in range(n):
        store.observe(session["id"], "dissociation", i % 5)


def test_chunked_verify_reads_every_row_once_and_finds_nothing_on_an_intact_chart(store, session, tiny_chunks):
    _observe(store, session, 40)
    stats: dict = {}
    assert store.verify_chain(stats=stats) == []
    with store.engine.connect() as conn:
        total = sum(conn.exec_driver_sql(f"SELECT count(*) FROM {m.__tablename__}").scalar() for m in CHART_MODELS)
        conn.rollback()
    assert stats["rows_hashed"] == total
    tail: dict = {}
    assert store.verify_chain(tail=10, stats=tail) == [] and tail["rows_hashed"] == 11  # 10 and the anchor row


def test_a_duplicated_seq_on_a_chunk_boundary_is_found(store, session, tiny_chunks):
    _observe(store, session, 12)
    store.close()
    con = sqlite3.connect(store.path)
    row = con.execute("SELECT * FROM observations ORDER BY device_seq LIMIT 1 OFFSET 5").fetchone()
    cols = [d[1] for d in con.execute("PRAGMA table_info(observations)")]
    copy = dict(zip(cols, row), id="ffffffff-copy")  # same device_seq, sorts after the original
    con.execute(f"INSERT INTO observations ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [copy[c] for c in cols])
    con.commit()
    con.close()
    reopened = type(store).open(store.path, store.clock)
    try:
        problems = reopened.verify_chain()
    finally:
        reopened.close()
    assert any("appears twice" in p and "ffffffff-copy" in p for p in problems)


@pytest.mark.parametrize("model", [VitalReading, Observation])
def test_tuple_canonicalizer_equals_canonical_content_for_odd_values(model):
    table = model.__table__
    cols = [c.name for c in table.columns]
    canon = tuple_canonicalizer(table, cols)
    base = {c: None for c in cols}
    odd_values = [None, 0, 1, 72, 72.0, -0.0, 1e300, math.nan, math.inf, "2026-01-05 09:00:01.000005",
                  "2026-01-05 09:00:02", 'q"uote \\ café \u2028', ""]
    for col in cols:
        for value in odd_values:
            row = dict(base, **{col: value})
            try:
                want = canonical_content(table, row)
            except (ValueError, TypeError, AttributeError, OverflowError):
                continue  # a value this column's type cannot take at all (e.g. text in an integer column)
            assert canon(tuple(row[c] for c in cols) + ("extra",)) == want, (col, value)


def test_tuple_canonicalizer_equals_canonical_content_on_stored_rows(store):
    from ketachart.demo import write_demo_session

    write_demo_session(store, seed=3, monitoring_minutes=60)
    con = sqlite3.connect(store.path)
    try:
        for model in CHART_MODELS:
            table = model.__table__
            cols = [c.name for c in table.columns]
            canon = tuple_canonicalizer(table, cols)
            for values in con.execute(f"SELECT {', '.join(cols)} FROM {table.name}"):
                assert canon(values) == canonical_content(table, dict(zip(cols, values)))
    finally:
        con.close()


def test_work_beside_the_re_hash_hands_back_its_result_or_its_error():
    assert integrity.beside(lambda: ("ok", 1))() == ("ok", 1)
    failed = integrity.beside(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failed()
