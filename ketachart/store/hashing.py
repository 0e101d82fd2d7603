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

from .models import UTCDateTime, column_type


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
            found = column_type(coltype)
            return found[0] if found else "s"  # hashed as text, like _canon does

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


def tuple_canonicalizer(table: Table, columns: list[str]):
    """A function giving ``canonical_content(table, dict(zip(columns, values)))`` from a row's ``values`` as
    SQLite returns them (extra trailing values ignored), several times faster: ``ketachart verify`` re-hashes
    millions of rows. Generated once per table; ``tests/store/test_hashing.py`` holds it equal to the above."""
    where = {name: i for i, name in enumerate(columns)}
    lines, parts = [], []
    for n, (name, kind) in enumerate(_plan(table)):
        v = f"v{n}"
        if name not in where:
            parts.append(f'"{name}":null')
            continue
        if kind == "t":
            expr = (f"(f'\"{{{v}[:10]}}T{{{v}[11:]}}Z\"' if {v}.__class__ is str and len({v}) == {_SQLITE_TIME_LEN} "
                    f"and {v}[10] == ' ' else _slow_t({v}))")
        elif kind == "f":
            expr = f"(_frepr({v}) if {v}.__class__ is float and {v} - {v} == 0.0 else _slow_f({v}))"
        elif kind == "b":
            expr = f"('null' if {v} is None else '1' if {v} else '0')"
        elif kind == "i":
            expr = f"(str({v}) if {v}.__class__ is int else _slow_i({v}))"
        else:
            expr = f"(_enc({v}) if {v}.__class__ is str else _slow_s({v}))"
        lines.append(f"    {v} = r[{where[name]}]\n    e{n} = {expr}")
        parts.append(f'"{name}":{{e{n}}}')
    template = '{{"row":{{' + ",".join(parts) + '}},"table":' + _encode_str(table.name) + "}}"
    source = "def canon(r):\n" + "\n".join(lines) + "\n    return f" + repr(template) + "\n"
    scope = {"_slow_t": _slow_t, "_slow_f": _slow_f, "_slow_i": _slow_i, "_slow_s": _slow_s,
             "_frepr": float.__repr__, "_enc": _encode_str}
    exec(compile(source, f"<canonical {table.name}>", "exec"), scope)  # noqa: S102 - source built above from the schema
    return scope["canon"]


def _slow_t(value: object) -> str:
    return "null" if value is None else '"' + _canon(value, _TIME) + '"'


def _slow_f(value: object) -> str:
    return "null" if value is None else _float_text(float(value))


def _slow_i(value: object) -> str:
    return "null" if value is None else str(int(value))


def _slow_s(value: object) -> str:
    return "null" if value is None else _encode_str(str(value))
