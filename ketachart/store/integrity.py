"""Finding a chart file that was changed outside KetaChart, even by someone holding its key.

- **This device's chain**: gap-free device_seq 1..``device_counter.last_seq``, each row hashed over the one
  before, the first over the genesis that binds the device id (schema 4 on; older files: the legacy empty
  genesis, ``store_meta.chain_genesis``), the counter's last hash equal to the last row's.
- **Every other device's rows** (pulled from the central): each must have been received (``pulled_rows``), and
  is re-hashed over its predecessor (the row before it in the file, or the previous hash the central sent
  with it). Users and policy rows of another device must carry the central's vouch.
- **The sync cursors**: the central acknowledged rows up to the push cursor, so a file ending below it lost
  its tail (the "delete the tail and lower device_counter" edit).
- The **readings journal**: its own chain (binary SHA-256), gap-free to ``journal_head``; and each **reading
  block** holds exactly the journal rows it cites (version 2: the block's text rebuilt from them and compared
  whole; version 1, files sealed before: reading by reading), the cited ranges following each other. The
  journal is walked once, in step with the chart chain (blocks are sealed in journal order).
- The **triggers** are checked by their SQL text (in ``open.verify_store``), not by their names.

What a key holder can still rewrite consistently (a whole chain re-hashed) is found by comparing the chain
head with the central's copy: ``ketachart verify`` does that when the central is reachable.

The check **streams**: each table's rows of one device are read in keyset-paginated chunks ordered by
``(device_seq, rowid)`` and merged across tables, so memory stays constant however old the chart is (a year is
millions of rows); the schema's NOT NULL on ``device_id``, ``device_seq`` and ``id`` puts every row in a chain.
"""

from __future__ import annotations

import hashlib
import heapq
import threading
from operator import itemgetter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from . import reading_blocks as blocks
from .hashing import GENESIS_LEGACY, genesis_hash, tuple_canonicalizer
from .models import CHART_MODELS, ReadingBlock

if TYPE_CHECKING:
    from .repository import ChartStore

ADMIN_TABLES = ("users", "policy_versions", "patient_links")
CHUNK_ROWS = 2000  # rows per table held at once: memory is about tables x CHUNK_ROWS rows, whatever the size


def verify_chains(store: "ChartStore", tail: int | None = None, stats: dict | None = None) -> list[str]:
    """Problems in the chains (see the module docstring); ``stats["rows_hashed"]`` says how many rows were
    re-hashed (selftest reports it: a tail check must not read the whole file)."""
    problems: list[str] = []
    own = store.device_id
    hashed = [0]
    with store.engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")  # BEGIN: every chunk below reads the same snapshot
        raw = conn.connection.driver_connection
        counter = raw.execute("SELECT last_seq, last_hash FROM device_counter WHERE device_id = ?", (own,)).fetchone()
        if counter is None:
            conn.rollback()
            return [f"this file's device {own} has no counter - store_meta.device_id was changed"]
        last_seq, last_hash = counter
        first = 1 if tail is None else max(1, last_seq - tail + 1)
        rows = _device_rows(raw, own, first - 1, hashed, pulled=False)
        if tail is None:  # the journal is walked with the chart: each block is checked when the chain meets it
            seals = _SealCheck(raw, _JournalWalk(raw, own, hashed))
            problems.extend(_own_chain(store.genesis, last_seq, last_hash, rows, first, seals.block))
            problems.extend(seals.finish())
        else:
            problems.extend(_own_chain(store.genesis, last_seq, last_hash, rows, first))
            problems.extend(_journal(raw, own, tail, hashed))
        cursors = [int(v) for k, v in raw.execute("SELECT key, value FROM sync_state")
                   if k.endswith(":push_seq") and v.isdigit()]
        if tail is None:
            devices = set()
            for model in CHART_MODELS:
                devices.update(d for (d,) in raw.execute(f"SELECT DISTINCT device_id FROM {model.__tablename__}"))
            for device in sorted(d for d in devices if d is not None and d != own):
                problems.extend(_foreign_chain(device, _device_rows(raw, device, None, hashed, pulled=True)))
        conn.rollback()
    if stats is not None:
        stats["rows_hashed"] = hashed[0]
    if cursors and max(cursors) > last_seq:
        problems.append(
            f"the central acknowledged this chair's rows up to {max(cursors)} but the file ends at "
            f"{last_seq} - rows were removed from the end of the chart")
    return problems


def beside(work: Callable[[], object]) -> Callable[[], object]:
    """Start ``work`` on a thread of its own now; the function returned waits for its result (or raises what it
    raised). ``ketachart verify`` runs SQLite's integrity check (C, without the GIL, on a connection of its own)
    beside the re-hash, so on two cores a year-sized chart costs the longer of the two, not their sum."""
    done: dict = {}

    def run() -> None:
        try:
            done["value"] = work()
        except BaseException as exc:  # handed to the caller, in its thread
            done["error"] = exc

    thread = threading.Thread(target=run, name="verify-beside", daemon=True)
    thread.start()

    def result() -> object:
        thread.join()
        if "error" in done:
            raise done["error"]
        return done["value"]

    return result


class _Table:
    """How one table's rows are read and re-hashed as tuples (no dict per row: millions of rows)."""

    def __init__(self, model: type) -> None:
        table = model.__table__
        self.name = table.name
        self.cols = [c.name for c in table.columns]
        self.seq_at, self.id_at = self.cols.index("device_seq"), self.cols.index("id")
        self.hash_at = self.cols.index("row_hash")
        self.pulled_at = len(self.cols)  # pulled_rows' row_id, prev_hash, vouched_by follow the columns
        self.canon = tuple_canonicalizer(table, self.cols)

    def hash(self, prev: str, values: tuple) -> str:
        return hashlib.sha256((prev + self.canon(values)).encode()).hexdigest()


_TABLES: dict[str, _Table] = {}


def _table(model: type) -> _Table:
    found = _TABLES.get(model.__tablename__)
    if found is None:
        found = _TABLES[model.__tablename__] = _Table(model)
    return found


def _table_rows(raw, spec: _Table, device: str, from_seq: int | None, pulled: bool) -> Iterator[tuple]:  # noqa: ANN001
    """(seq, table, values) of one device in one table, ``device_seq >= from_seq``, chunk by chunk, in
    (device_seq, rowid) order: the (device_id, device_seq) index ends in the rowid, so SQLite reads in that order
    instead of sorting each chunk's whole rows (a tie-break by id copied every block body into a sort)."""
    name = spec.name
    select = ", ".join(f"t.{c}" for c in spec.cols)
    join = ""
    if pulled:
        select += ", p.row_id, p.prev_hash, p.vouched_by"
        join = f" LEFT JOIN pulled_rows p ON p.table_name = '{name}' AND p.row_id = t.id"
    head = f"SELECT {select}, t.rowid FROM {name} t{join} WHERE t.device_id = ? AND "
    order = f" ORDER BY t.device_seq, t.rowid LIMIT {CHUNK_ROWS}"
    first_sql = head + "t.device_seq >= ?" + order
    next_sql = head + "(t.device_seq, t.rowid) > (?, ?)" + order  # keyset: resumes after the last row read
    key: tuple = (from_seq if from_seq is not None else -(2 ** 62),)
    seq_at = spec.seq_at
    while True:
        chunk = raw.execute(first_sql if len(key) == 1 else next_sql, (device, *key)).fetchall()
        for values in chunk:
            yield values[seq_at], spec, values
        if len(chunk) < CHUNK_ROWS:
            return
        key = (chunk[-1][seq_at], chunk[-1][-1])


def _device_rows(raw, device: str, from_seq: int | None, hashed: list[int], pulled: bool) -> Iterator[tuple]:  # noqa: ANN001
    """Every table's rows of ``device`` merged in device_seq order (a table's own order breaks ties)."""
    streams = [_table_rows(raw, _table(model), device, from_seq, pulled) for model in CHART_MODELS]
    n = 0
    try:
        for item in heapq.merge(*streams, key=itemgetter(0)):
            n += 1
            yield item
    finally:
        hashed[0] += n


def _own_chain(genesis: str, last_seq: int, last_hash: str, rows: Iterator[tuple], first: int,
               on_block: Callable[[tuple], None] | None = None) -> list[str]:
    """This device's chain; ``on_block`` is given each reading block row as the walk meets it."""
    problems: list[str] = []
    blocks_spec = _table(ReadingBlock) if on_block is not None else None
    prev, expected_seq, any_rows = genesis, first, False
    if first > 1:
        head = next(rows, None)
        if head is not None and head[0] == first - 1:
            prev = head[2][head[1].hash_at]
        else:
            problems.append(f"device_seq {first - 1} is missing - a row was removed")
            if head is not None:
                rows = _prepend(head, rows)
    for seq, spec, row in rows:
        any_rows = True
        if spec is blocks_spec:
            on_block(row)
        if seq != expected_seq:
            if seq < expected_seq:
                problems.append(f"device_seq {seq} appears twice ({spec.name} row {row[spec.id_at]}) - a row was "
                                "added")
                continue
            problems.append(f"device_seq {expected_seq} is missing (next found: {seq}) - a row was removed")
            expected_seq = seq
        row_hash = row[spec.hash_at]
        if spec.hash(prev, row) != row_hash:
            problems.append(f"{spec.name} row {row[spec.id_at]} (seq {seq}) does not match its hash - it was edited")
        prev, expected_seq = row_hash, expected_seq + 1
    if last_seq != expected_seq - 1:
        problems.append(f"the last {last_seq - expected_seq + 1} row(s) are missing")
    elif any_rows and last_hash != prev:
        problems.append("the device counter's last hash does not match the last row - the chart was rewritten")
    return problems


def _prepend(item: tuple, rest: Iterator[tuple]) -> Iterator[tuple]:
    yield item
    yield from rest


def _foreign_chain(device: str, rows: Iterator[tuple]) -> list[str]:
    problems: list[str] = []
    prev_seq, prev_hash = None, None
    for seq, spec, row in rows:
        table_name, row_id, row_hash = spec.name, row[spec.id_at], row[spec.hash_at]
        pulled_id, sent_prev, vouched_by = row[spec.pulled_at:spec.pulled_at + 3]
        if pulled_id is None:
            problems.append(f"{table_name} row {row_id} of device {device} was not received from the central - "
                            "it was put into the file by hand")
            prev_seq, prev_hash = seq, row_hash
            continue
        if table_name in ADMIN_TABLES and not vouched_by:
            problems.append(f"{table_name} row {row_id} of device {device} has no vouch from the central - it is "
                            "ignored")
        if prev_seq is not None and seq == prev_seq + 1:
            candidates = [prev_hash]
        elif sent_prev is not None:
            candidates = [sent_prev]
        elif seq == 1:
            candidates = [genesis_hash(device), GENESIS_LEGACY]
        else:
            candidates = []  # pulled before schema 4 (legacy): cannot be re-hashed here
        if candidates and all(spec.hash(c, row) != row_hash for c in candidates):
            problems.append(f"{table_name} row {row_id} of device {device} (seq {seq}) does not match its hash - "
                            "it was edited")
        prev_seq, prev_hash = seq, row_hash
    return problems


_NO_JOURNAL_HEAD = "the readings journal of device {} has no head - the file was changed"


class _JournalWalk:
    """The readings journal re-hashed in seq order: gap-free seq 1..``journal_head.last_seq``, each row hashed
    over the one before (the first over the device's journal genesis), the head's hash equal to the last row's.
    ``first``: start there (the newest rows only). :class:`_SealCheck` takes each seal's rows from it as it goes,
    so every journal body is read once."""

    def __init__(self, raw, device: str, hashed: list[int], first: int = 1) -> None:  # noqa: ANN001
        self.device, self.hashed, self.first = device, hashed, first
        self.problems: list[str] = []
        self.head = raw.execute("SELECT last_seq, last_hash FROM journal_head WHERE device_id = ?", (device,)).fetchone()
        self.chunk: list = []
        self.at = self.n = 0
        self.expected, self.prev = first, blocks.journal_genesis(device)
        self.cursor, self.broken = None, False
        if first > 1:
            row = raw.execute("SELECT hash FROM reading_journal WHERE seq = ?", (first - 1,)).fetchone()
            if row is None:
                self.problems.append(f"readings journal row {first - 1} is missing - a row was removed")
                self.broken = True
                return
            self.prev = row[0]
        self.cursor = raw.execute("SELECT seq, body, hash FROM reading_journal WHERE seq >= ? ORDER BY seq", (first,))

    def take(self, last: int, keep: bool = True) -> list[tuple[int, str]]:
        """Re-hash the rows from where the walk is up to seq ``last``; their (seq, body), kind definitions left out
        (none when not ``keep``: memory stays one chunk however long the rest of the journal is)."""
        out: list[tuple[int, str]] = []
        chunk, at, n = self.chunk, self.at, len(self.chunk)
        prev, expected, problems, sha, count = self.prev, self.expected, self.problems, hashlib.sha256, 0
        while True:
            if at == n:
                chunk = self.cursor.fetchmany(CHUNK_ROWS) if self.cursor is not None else []
                at, n = 0, len(chunk)
                if not n:
                    self.cursor = None
                    break
            seq, body, digest = chunk[at]
            if seq > last:
                break
            at += 1
            count += 1
            if seq != expected:
                problems.append(f"readings journal row {expected} is missing (next found: {seq}) - a row was removed")
                expected = seq
            if sha(prev + f"{seq}\x1f{body}".encode()).digest() != digest:
                problems.append(f"readings journal row {seq} does not match its hash - it was edited")
            prev, expected = digest, expected + 1
            if keep and not body.startswith('{"kind"'):
                out.append((seq, body))
        self.n += count
        self.chunk, self.at, self.prev, self.expected = chunk, at, prev, expected
        return out

    def finish(self) -> list[str]:
        """Walk the rest; the problems found."""
        if self.cursor is not None:
            self.take(2 ** 62, keep=False)
        problems = self.problems
        self.hashed[0] += self.n
        if self.head is None:
            return [_NO_JOURNAL_HEAD.format(self.device), *problems]
        if self.broken:
            return problems
        last_seq, last_hash = self.head
        seen = self.expected - 1
        if last_seq != seen:
            problems.append(f"the last {last_seq - seen} readings journal row(s) are missing")
        elif self.n and self.prev != last_hash:
            problems.append("the readings journal's head does not match its last row - the journal was rewritten")
        return problems


def _journal(raw, device: str, tail: int | None, hashed: list[int]) -> list[str]:  # noqa: ANN001
    """The journal's chain alone (``tail``: the newest rows only; see :class:`_JournalWalk`)."""
    head = raw.execute("SELECT last_seq FROM journal_head WHERE device_id = ?", (device,)).fetchone()
    if head is None and tail is not None:
        return [_NO_JOURNAL_HEAD.format(device)]
    first = 1 if tail is None else max(1, head[0] - tail + 1)
    return _JournalWalk(raw, device, hashed, first).finish()


class _SealCheck:
    """Each of this device's reading blocks holds exactly the readings of the journal rows it cites, and the cited
    ranges follow each other without a gap or an overlap (no reading sealed twice or never). A seal's blocks (one
    per session, the same range, consecutive in the chain) are checked together once the chain walk is past them.

    A version-2 block is rebuilt as text from its journal rows (verbatim, see :mod:`.reading_blocks`) and compared
    whole with ``==``: each cited row's session comes from the kinds its head names, its reading count from its
    head. A version-1 block (files sealed before) is compared reading by reading, as decoded facts: slower."""

    def __init__(self, raw, journal: _JournalWalk) -> None:  # noqa: ANN001
        self.raw, self.journal = raw, journal
        self.problems: list[str] = []
        self.kinds: dict[int, tuple] = {}
        for kind_id, *kind, defined in raw.execute(
                "SELECT k.id, k.session_id, k.author, k.parameter, k.unit, k.source, k.flags, j.body "
                "FROM reading_kinds k LEFT JOIN reading_journal j ON j.seq = k.journal_seq ORDER BY k.id"):
            self.kinds[kind_id] = kind = tuple(kind)
            if defined != blocks.kind_body(kind_id, kind):
                self.problems.append(f"reading kind {kind_id} differs from the journal row that defined it - it was edited")
        self.heads: dict[str, tuple] = {}
        self.kind_lists: dict[tuple, str] = {}
        cols = _table(ReadingBlock).cols
        self.fields = itemgetter(*(cols.index(c) for c in ("id", "session_id", "journal_from", "journal_to", "body",
                                                           "count")))
        self.expected_from, self.lo, self.hi, self.seal = 1, None, None, []

    def block(self, row: tuple) -> None:
        block = self.fields(row)
        if block[2] != self.lo or block[3] != self.hi:
            if self.seal:
                self._check_seal()
            self.lo, self.hi = block[2], block[3]
        self.seal.append(block)

    def finish(self) -> list[str]:
        if self.seal:
            self._check_seal()
        return self.problems + self.journal.finish()

    def _check_seal(self) -> None:
        lo, hi, seal, self.seal = self.lo, self.hi, self.seal, []
        if lo == self.expected_from:
            rows = self.journal.take(hi)
        else:
            self.problems.append(f"reading block {seal[0][0]} cites journal rows {lo}..{hi}, expected from "
                                 f"{self.expected_from} - readings were sealed twice or left out")
            self.journal.take(hi, keep=False)
            rows = [r for r in self.raw.execute("SELECT seq, body FROM reading_journal WHERE seq BETWEEN ? AND ? "
                                                "ORDER BY seq", (lo, hi)) if not blocks.is_kind_body(r[1])]
        self.expected_from = hi + 1
        for block in seal:
            if not block[4].startswith(blocks.BLOCK_V2):
                break
        else:
            if self._check_v2(lo, hi, seal, rows):
                return
        self._check_v1(lo, hi, seal, rows)

    def _not_exactly(self, block_id: str, lo: int, hi: int) -> None:
        self.problems.append(f"reading block {block_id} does not hold exactly the readings of journal rows {lo}..{hi}")

    def _not_sealed(self, sessions: dict, lo: int, hi: int) -> None:
        self.problems.extend(f"journal rows {lo}..{hi} of session {left} were not sealed" for left in sessions)

    def _check_v2(self, lo: int, hi: int, seal: list[tuple], rows: list[tuple[int, str]]) -> bool:
        """False when a cited row is of version 1 (then the seal is compared reading by reading)."""
        by_session: dict = {}
        for seq, body in rows:
            try:
                head = self._head(body)
            except (ValueError, KeyError):
                self.problems.append(f"readings journal row {seq} cannot be read - it was edited")
                continue
            if head is None:
                return False
            sid, ids, n = head
            entry = by_session.get(sid)
            if entry is None:
                by_session[sid] = [[(seq, body)], ids, n]
            else:
                entry[0].append((seq, body))
                entry[1] = tuple(sorted({*entry[1], *ids}))
                entry[2] += n
        for block_id, sid, _, _, body, count in seal:
            want = by_session.pop(sid, None)
            if want is None or count != want[2] or body != blocks.block_body(self._kind_list(want[1]), want[0]):
                self._not_exactly(block_id, lo, hi)
        if by_session:
            self._not_sealed(by_session, lo, hi)
        return True

    def _head(self, body: str) -> tuple | None:
        """(session, kind ids, readings) of a version-2 journal row from its head (cached by the head's text: a
        chart repeats a few); None for version 1; ValueError or KeyError when it is not a head of known kinds."""
        key = body[:body.find(',"t0":')]
        found = self.heads.get(key)
        if found is None:
            head = blocks.journal_head(body)
            if head is None:
                return None
            ids, n = head
            sessions = {self.kinds[k][0] for k in ids}
            if len(sessions) != 1:
                raise ValueError("a journal row's kinds name more than one session")
            found = self.heads[key] = (sessions.pop(), tuple(sorted(set(ids))), n)
        return found

    def _kind_list(self, ids: tuple) -> str:
        """The kind entries a version-2 block lists for these kind ids (ascending, each once), cached: a session
        has a few sets of kinds."""
        found = self.kind_lists.get(ids)
        if found is None:
            found = self.kind_lists[ids] = ",".join(blocks.kind_entry(k, self.kinds[k]) for k in ids)
        return found

    def _check_v1(self, lo: int, hi: int, seal: list[tuple], rows: list[tuple[int, str]]) -> None:
        by_session: dict = {}
        for jseq, jbody in rows:
            try:
                session, facts = blocks.journal_facts(jbody, jseq, self.kinds)
            except (KeyError, ValueError, IndexError, TypeError):
                self.problems.append(f"readings journal row {jseq} cannot be read - it was edited")
                continue
            by_session.setdefault(session, []).extend(facts)
        for block_id, sid, _, _, body, count in seal:
            want = by_session.pop(sid, None)
            try:
                have = blocks.block_facts(body)
            except (KeyError, ValueError, IndexError, TypeError):
                have = None
            if want is None or want != have or count != len(have):
                self._not_exactly(block_id, lo, hi)
        self._not_sealed(by_session, lo, hi)
