"""The canonical text of a row: written out fast, but exactly what the plain json.dumps definition gives."""

import json

from ketachart.demo import write_demo_session
from ketachart.store.hashing import _canon, canonical_content
from ketachart.store.models import CHART_MODELS, ReadingBlock


def reference(table, row: dict) -> str:
    content = {c.name: _canon(row.get(c.name), c.type) for c in table.columns if c.name != "row_hash"}
    return json.dumps({"table": table.name, "row": content}, sort_keys=True, separators=(",", ":"))


def test_fast_canonical_text_equals_the_json_definition_for_every_stored_row(store):
    write_demo_session(store, seed=4, monitoring_minutes=121)
    store.observe(None, "note", text='quotes " and \\\\ and unicode: café, 中文, \u2028')
    checked = 0
    with store.engine.connect() as conn:
        for model in CHART_MODELS:
            table = model.__table__
            for r in conn.execute(table.select()):
                raw = dict(r._mapping)  # as SQLite returns it (times as text)
                assert canonical_content(table, raw) == reference(table, raw)
                checked += 1
    assert checked > 150  # readings are sealed per minute into reading_blocks rows (schema 5)
    assert store.rows(ReadingBlock)
    assert store.verify_chain() == []


def test_fast_text_for_python_values_as_written():
    from datetime import datetime, timezone

    from ketachart.store.models import VitalReading

    table = VitalReading.__table__
    row = {"id": "x", "device_id": "d", "device_seq": 3, "author": "a", "late_entry": True, "value": 72,
           "effective_at": datetime(2026, 1, 5, 9, 0, 1, 5, tzinfo=timezone.utc), "recorded_at": "2026-01-05 09:00:02",
           "flags": "", "unit": "/min", "parameter": "HR", "source": "device:ge", "device_time": None}
    assert canonical_content(table, row) == reference(table, row)
