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
    """The exact text that is hashed for a row (also what a signature binds to)."""
    content = {
        col.name: _canon(row.get(col.name), col.type) for col in table.columns if col.name != "row_hash"
    }
    return json.dumps({"table": table.name, "row": content}, sort_keys=True, separators=(",", ":"))


def content_hash(table: Table, row: dict, exclude: tuple[str, ...] = ()) -> str:
    """SHA-256 of a row's canonical content without chain or bookkeeping columns (for signatures)."""
    skip = {"row_hash", "device_seq", *exclude}
    content = {col.name: _canon(row.get(col.name), col.type) for col in table.columns if col.name not in skip}
    text = json.dumps({"table": table.name, "row": content}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def chain_hash(prev_hash: str, table: Table, row: dict) -> str:
    return hashlib.sha256((prev_hash + canonical_content(table, row)).encode()).hexdigest()
