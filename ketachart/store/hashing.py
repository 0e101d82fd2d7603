"""Canonical row content and the per-device hash chain.

The hash of a row covers every column but ``row_hash`` itself, in a canonical form that survives the round
trip through SQLite or PostgreSQL (floats as floats, booleans as 0/1, times as UTC ISO strings). Chaining each
row to the previous row of the same device makes a hand-edit of the file (or a deleted row) detectable.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

from sqlalchemy import Boolean, Float, Integer, Table

from .models import UTCDateTime


def _canon(value: object, coltype: object) -> object:
    if value is None:
        return None
    if isinstance(coltype, UTCDateTime):
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(coltype, Boolean):
        return 1 if value else 0
    if isinstance(coltype, Float):
        return float(value)
    if isinstance(coltype, Integer):
        return int(value)
    return str(value)


def canonical_content(table: Table, row: dict) -> str:
    """The exact text that is hashed for a row (the chain, the printed record fingerprint).

    It equals ``json.dumps({"table": name, "row": {column: _canon(value)}}, sort_keys=True,
    separators=(",", ":"))`` (``tests/store/test_hashing.py`` holds the two equal), written out directly
    because it runs for every row written and every row re-hashed: keys in sorted order, strings escaped by
    the json module's own encoder, numbers as ``json.dumps`` writes them, and SQLite's stored time text turned
    into the ISO form without parsing it.
    """
    parts = []
    for name, kind in _plan(table):
        value = row.get(name)
        if value is None:
            text = "null"
        elif kind == "t":
            if isinstance(value, str) and len(value) == _SQLITE_TIME_LEN and value[10] == " ":
                text = '"' + value[:10] + "T" + value[11:] + 'Z"'
            else:
                text = '"' + _canon(value, _TIME) + '"'
        elif kind == "f":
            text = _float_text(float(value))
        elif kind == "b":
            text = "1" if value else "0"
        elif kind == "i":
            text = str(int(value))
        else:
            text = _encode_str(str(value))
        parts.append(f'"{name}":{text}')
    return '{"row":{' + ",".join(parts) + '},"table":' + _encode_str(table.name) + "}"


_TIME = UTCDateTime()
_SQLITE_TIME_LEN = len("2026-01-05 08:50:00.000000")  # how SQLite returns a stored UTCDateTime
_PLANS: dict[str, list[tuple[str, str]]] = {}
_encode_str = json.encoder.encode_basestring_ascii  # what json.dumps uses with ensure_ascii=True


def _plan(table: Table) -> list[tuple[str, str]]:
    """(column, kind) in sorted column order, without ``row_hash``; kinds: t time, b bool, f float, i int, s text."""
    plan = _PLANS.get(table.name)
    if plan is None:
        def kind(coltype: object) -> str:
            if isinstance(coltype, UTCDateTime):
                return "t"
            if isinstance(coltype, Boolean):
                return "b"
            if isinstance(coltype, Float):
                return "f"
            if isinstance(coltype, Integer):
                return "i"
            return "s"

        plan = sorted((c.name, kind(c.type)) for c in table.columns if c.name != "row_hash")
        _PLANS[table.name] = plan
    return plan


def _float_text(value: float) -> str:
    return json.dumps(value) if value != value or value in (float("inf"), float("-inf")) else float.__repr__(value)


def content_hash(table: Table, row: dict, exclude: tuple[str, ...] = ()) -> str:
    """SHA-256 of a row's canonical content without chain or bookkeeping columns (for signatures)."""
    skip = {"row_hash", "device_seq", *exclude}
    content = {col.name: _canon(row.get(col.name), col.type) for col in table.columns if col.name not in skip}
    text = json.dumps({"table": table.name, "row": content}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


GENESIS_LEGACY = ""  # files created before schema 4 start every chain from the empty string


def genesis_hash(device_id: str) -> str:
    """The "previous hash" of a device's first row: binds the whole chain to its device id (schema 4 on), so
    a chain cannot be passed off as another device's by changing ``store_meta.device_id``."""
    return hashlib.sha256(f"ketachart-genesis:{device_id}".encode()).hexdigest()


def chain_hash(prev_hash: str, table: Table, row: dict) -> str:
    return hashlib.sha256((prev_hash + canonical_content(table, row)).encode()).hexdigest()
