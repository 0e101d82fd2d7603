"""Issue 13 item 4: a real encrypted chart rewritten by someone holding its key must not verify as intact."""

from __future__ import annotations

import json

import pytest

from ketachart.cli import main
from ketachart.domain.clock import FakeClock
from ketachart.store.hashing import chain_hash, genesis_hash
from ketachart.store.models import User
from ketachart.store.open import ChartTampered, open_store
from ketachart.sync.service import SyncService
from tests.sync.helpers import chart_small_session

from .helpers import keyed


@pytest.fixture
def chart(tmp_path):
    path = tmp_path / "chart.db"
    store = open_store(path, clock=FakeClock())
    store.author = "nurse.a"
    chart_small_session(store, "A", readings=20)
    device = store.device_id
    store.close()
    return path, device


def _verify(path, capsys, *extra) -> tuple[int, str]:
    code = main(["verify", "--db", str(path), *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_the_chain_genesis_binds_the_device_id(chart):
    path, device = chart
    with keyed(path) as con:
        table, rid = next((t, r[0]) for t in ("policy_versions", "users", "patients")
                          for r in con.execute(f"SELECT id FROM {t} WHERE device_seq = 1"))
    with open_store(path, clock=FakeClock()) as store:
        from ketachart.store.models import MODEL_BY_TABLE
        row = store.get(MODEL_BY_TABLE[table], rid)
        assert row["row_hash"] == chain_hash(genesis_hash(device), MODEL_BY_TABLE[table].__table__, row)
        assert row["row_hash"] != chain_hash("", MODEL_BY_TABLE[table].__table__, row)


def test_triggers_replaced_by_same_named_no_op_triggers_are_found(chart, capsys):
    path, _ = chart
    with keyed(path) as con:
        con.execute("DROP TRIGGER patients_no_update")
        con.execute("CREATE TRIGGER patients_no_update BEFORE UPDATE ON patients WHEN 0 "
                    "BEGIN SELECT RAISE(ABORT, 'no'); END")
    code, text = _verify(path, capsys)
    assert code != 0 and "replaced by a different trigger" in text


def test_values_changed_and_device_id_repointed_to_a_fresh_id_are_found(chart, capsys):
    path, device = chart
    with keyed(path) as con:
        con.execute("DROP TRIGGER reading_blocks_no_update")
        assert con.execute("UPDATE reading_blocks SET body = replace(body, '.0,', '.5,')").rowcount > 0
        con.execute("CREATE TRIGGER reading_blocks_no_update BEFORE UPDATE ON reading_blocks BEGIN SELECT "
                    "RAISE(ABORT, 'chart rows in reading_blocks are append-only: record an amendment instead'); END")
        con.execute("UPDATE store_meta SET value = 'chair-fresh00000' WHERE key = 'device_id'")
        con.execute("INSERT INTO device_counter (device_id, last_seq, last_hash) VALUES ('chair-fresh00000', 0, ?)",
                    (genesis_hash("chair-fresh00000"),))
    code, text = _verify(path, capsys)
    assert code != 0 and f"of device {device} was not received from the central" in text
    with pytest.raises(ChartTampered):
        _full_open(path)


def _full_open(path):
    from ketachart.store.open import verify_store

    with open_store(path, clock=FakeClock(), verify=False) as store:
        problems = verify_store(store)
    if problems:
        raise ChartTampered(path, problems)


def test_a_forged_foreign_admin_row_is_found_and_ignored(chart, capsys):
    path, _ = chart
    from datetime import datetime, timezone
    from ketachart.auth import Accounts

    row = dict(id="01900000-0000-7000-8000-000000000001", device_id="chair-attacker", device_seq=1, author="x",
               effective_at=datetime(2020, 1, 1, tzinfo=timezone.utc),
               recorded_at=datetime(2020, 1, 1, tzinfo=timezone.utc), late_entry=False, amends=None, reason=None,
               user_id="evil", display_name="Evil", role="admin", password_hash="$argon2id$x", active=True)
    row["row_hash"] = chain_hash(genesis_hash("chair-attacker"), User.__table__, row)
    with keyed(path) as con:
        cols = list(row)
        values = [v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v for v in row.values()]
        con.execute(f"INSERT INTO users ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values)
    code, text = _verify(path, capsys)
    assert code != 0 and "was not received from the central" in text
    with open_store(path, clock=FakeClock()) as store:
        assert Accounts(store).user("evil") is None


def test_tail_deleted_and_counter_lowered_is_found_offline_and_by_the_central(central, tmp_path, capsys):
    path = tmp_path / "chart.db"
    store = open_store(path, clock=FakeClock())
    chart_small_session(store, "A", readings=20)
    url = central.url_for(store)
    assert SyncService(store, url).run_once().error is None
    store.close()
    with keyed(path) as con:
        top = con.execute("SELECT last_seq FROM device_counter").fetchone()[0]
        new_top = top - 5
        con.execute("DROP TRIGGER reading_blocks_no_delete")
        con.execute("DROP TRIGGER audit_events_no_delete")
        con.execute("DROP TRIGGER session_events_no_delete")
        con.execute("DROP TRIGGER observations_no_delete")
        for t in ("reading_blocks", "audit_events", "session_events", "observations"):
            con.execute(f"DELETE FROM {t} WHERE device_seq > ?", (new_top,))
        last_hash = None
        for t in ("reading_blocks", "audit_events", "session_events", "observations", "sessions", "patients"):
            h = con.execute(f"SELECT row_hash FROM {t} WHERE device_seq = ?", (new_top,)).fetchone()
            last_hash = last_hash or (h[0] if h else None)
        con.execute("UPDATE device_counter SET last_seq = ?, last_hash = ?", (new_top, last_hash))
        from ketachart.store.db import immutability_triggers
        for t in ("reading_blocks", "audit_events", "session_events", "observations"):
            con.execute(immutability_triggers(t)[1])
    code, text = _verify(path, capsys)
    assert code != 0 and "rows were removed from the end" in text
    with keyed(path) as con:  # the attacker also rolls the sync cursor back: only the central can tell now
        con.execute("DELETE FROM sync_state")
    code, text = _verify(path, capsys)
    assert code == 0
    code, text = _verify(path, capsys, "--central", url)
    assert code != 0 and "the central holds this chair's rows up to" in text
