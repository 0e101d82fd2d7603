"""What the clinic board reads from the central PostgreSQL, with the board's read-only login. No Qt.

Every query is keyed by the chairs (device ids) or sessions being refreshed, never by time over the whole
table: the cost of a refresh is that of the chairs that changed, not of the year of charts stored (indexes in
:mod:`ketachart.sync.central_board`, chosen with EXPLAIN on 10 million readings).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from ..domain.vitals import UNUSABLE
from ..store.reading_blocks import decode as decode_block
from ..sync.central_board import HEARTBEATS, SCHEMA

LATEST_PARAMETERS = ("HR", "PR", "SPO2", "NIBP_SYS", "NIBP_DIA")
# The one validity rule (ketachart.domain.vitals): a reading flagged artefact, invalid, sensor-off ... is charted
# but never a number on a screen. ``flags`` is stored as "a,b".
UNUSABLE_FLAGS = sorted(q.value for q in UNUSABLE)
USABLE_SQL = "value IS NOT NULL AND NOT (string_to_array(flags, ',') && %s::text[])"
TREND_PARAMETERS = ("HR", "SPO2")
TREND_WINDOW = timedelta(minutes=30)
TREND_BUCKET_S = 30  # one sparkline point per 30 s: 60 points for the window


def _t(name: str) -> sql.Composed:
    return sql.Identifier(SCHEMA, name)


@dataclass(frozen=True)
class ChairRef:
    device_id: str
    name: str | None  # what the clinic calls it ("Chair 3"); None until the chair said so


@dataclass
class ChairData:
    """The raw rows of one chair's tile, as read at ``read_at`` (server time)."""

    device_id: str
    read_at: datetime
    heartbeat: dict | None = None
    session: dict | None = None
    patient: dict | None = None
    events: list[dict] = field(default_factory=list)
    planned_minutes: int | None = None
    latest: dict[str, tuple[float, datetime]] = field(default_factory=dict)  # parameter -> (value, effective_at)
    trend: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)
    alerts: list[dict] = field(default_factory=list)  # unacknowledged, oldest first
    discharge_check_passed: bool = False


class BoardSource:
    """The board's reads over one autocommit connection (board role). Not thread-safe: one user at a time."""

    def __init__(self, conn: psycopg.Connection, url: str | None = None, connect_kwargs: dict | None = None) -> None:
        self.conn = conn
        self.url = url
        self.connect_kwargs = connect_kwargs or {}

    @staticmethod
    def _open(url: str, kwargs: dict) -> psycopg.Connection:
        conn = psycopg.connect(url, autocommit=True, **kwargs)
        conn.execute("SET TIME ZONE 'UTC'")
        conn.read_only = True  # belt and braces: the board role has no write grant either
        return conn

    @classmethod
    def connect(cls, url: str, **kwargs) -> "BoardSource":
        return cls(cls._open(url, kwargs), url, kwargs)

    def reconnect(self) -> None:
        """After a lost connection (the board's next refresh or poll uses the new one)."""
        if self.url is None:
            return
        try:
            self.conn.close()
        except Exception:
            pass
        self.conn = self._open(self.url, self.connect_kwargs)

    def close(self) -> None:
        self.conn.close()

    # --- which chairs --------------------------------------------------------------------------
    def list_chairs(self) -> list[ChairRef]:
        """The chairs the board shows, one tile each.

        Where the central enrols chairs (issue 13's ``chairs`` table, not empty), one tile per enrolled chair,
        named as enrolled. Otherwise a chair is any device that has sent a heartbeat or written a session; its
        name is the one it reported in its heartbeat, else the chair named on its latest session.
        """
        enrolled = self._enrolled()
        if enrolled:
            return sorted(enrolled, key=lambda c: (_natural(c.name or c.device_id), c.device_id))
        rows = self.conn.execute(sql.SQL(
            """WITH devices AS (
                   SELECT device_id FROM {hb}
                   UNION SELECT DISTINCT device_id FROM {sessions}
               )
               SELECT d.device_id,
                      coalesce(h.chair, (SELECT s.chair FROM {sessions} s WHERE s.device_id = d.device_id
                                         ORDER BY s.device_seq DESC LIMIT 1))
               FROM devices d LEFT JOIN {hb} h ON h.device_id = d.device_id"""
        ).format(hb=_t(HEARTBEATS), sessions=_t("sessions"))).fetchall()
        chairs = [ChairRef(r[0], r[1]) for r in rows]
        return sorted(chairs, key=lambda c: (_natural(c.name or c.device_id), c.device_id))

    def _enrolled(self) -> list[ChairRef]:
        if not self.conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.chairs",)).fetchone()[0]:
            return []
        return [ChairRef(r[0], r[1]) for r in self.conn.execute(
            sql.SQL("SELECT device_id, name FROM {}").format(_t("chairs")))]

    def clinic_policy_json(self) -> str | None:
        """The newest clinic policy version on the central (its timers set the board's clocks)."""
        vouched = self.conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.vouches",)).fetchone()[0]
        only = sql.SQL(" WHERE EXISTS (SELECT 1 FROM {} v WHERE v.tbl = 'policy_versions' AND v.id = p.id)").format(
            _t("vouches")) if vouched else sql.SQL("")  # issue 13: only policy an admin login wrote counts
        row = self.conn.execute(sql.SQL(
            "SELECT policy_json FROM {} p{} ORDER BY version DESC, recorded_at DESC LIMIT 1").format(
            _t("policy_versions"), only)).fetchone()
        return row[0] if row else None

    # --- one refresh ---------------------------------------------------------------------------
    def read(self, device_ids: list[str]) -> dict[str, ChairData]:
        """Everything the tiles of these chairs show, in one REPEATABLE READ snapshot (a consistent picture)."""
        if not device_ids:
            return {}
        conn = self.conn
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        try:
            with conn.transaction():
                return self._read(device_ids)
        finally:
            conn.isolation_level = None

    def _read(self, device_ids: list[str]) -> dict[str, ChairData]:
        conn = self.conn
        read_at = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        out = {d: ChairData(d, read_at) for d in device_ids}
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        for hb in cur.execute(sql.SQL(
                "SELECT device_id, chair, app_version, device_states, session_id, chair_time, heard_at, latest "
                "FROM {} WHERE device_id = ANY(%s)").format(_t(HEARTBEATS)), (device_ids,)):
            out[hb["device_id"]].heartbeat = hb
        # The latest session each chair wrote (newest device_seq: the chair's own order, not its clock).
        for s in cur.execute(sql.SQL(
                """SELECT s.* FROM unnest(%s::text[]) d(device_id) CROSS JOIN LATERAL (
                       SELECT id, device_id, patient_id, course_id, route, chair, effective_at
                       FROM {} WHERE device_id = d.device_id ORDER BY device_seq DESC LIMIT 1) s"""
        ).format(_t("sessions")), (device_ids,)):
            out[s["device_id"]].session = s
        by_session = {c.session["id"]: c for c in out.values() if c.session}
        if not by_session:
            return out
        sids = list(by_session)
        for e in cur.execute(sql.SQL(
                "SELECT id, session_id, event, effective_at, amends, device_seq FROM {} "
                "WHERE session_id = ANY(%s) ORDER BY device_seq").format(_t("session_events")), (sids,)):
            by_session[e["session_id"]].events.append(e)
        for c in by_session.values():
            superseded = {e["amends"] for e in c.events if e["amends"]}
            c.events = [e for e in c.events if e["id"] not in superseded]
        links = _patient_links(cur, list({c.session["patient_id"] for c in by_session.values()}))
        for c in by_session.values():  # a record an admin linked into another shows as that patient (issue 13)
            c.session = {**c.session, "patient_id": links.get(c.session["patient_id"], c.session["patient_id"])}
        patient_ids = list({c.session["patient_id"] for c in by_session.values()})
        # Current demographics: the same choice as ChartStore.patients() (latest recorded_at, device, seq).
        patients = {p["patient_id"]: p for p in cur.execute(sql.SQL(
            """SELECT DISTINCT ON (patient_id) patient_id, mrn, family_name, given_name FROM {}
               WHERE patient_id = ANY(%s) ORDER BY patient_id, recorded_at DESC, device_id DESC, device_seq DESC"""
        ).format(_t("patients")), (patient_ids,))}
        for c in by_session.values():
            c.patient = patients.get(c.session["patient_id"])
        for d in cur.execute(sql.SQL(
                "SELECT DISTINCT ON (session_id) session_id, minutes FROM {} WHERE session_id = ANY(%s) "
                "ORDER BY session_id, recorded_at DESC, device_seq DESC").format(_t("dose_administrations")), (sids,)):
            by_session[d["session_id"]].planned_minutes = d["minutes"]
        for r in cur.execute(sql.SQL(
                """SELECT s.sid, p.param, v.value, v.effective_at
                   FROM unnest(%s::text[]) s(sid) CROSS JOIN unnest(%s::text[]) p(param) CROSS JOIN LATERAL (
                       SELECT value, effective_at FROM {} WHERE session_id = s.sid AND parameter = p.param
                         AND """ + USABLE_SQL + """ ORDER BY effective_at DESC LIMIT 1) v"""
        ).format(_t("vital_readings")), (sids, list(LATEST_PARAMETERS), UNUSABLE_FLAGS)):
            by_session[r["sid"]].latest[r["param"]] = (r["value"], r["effective_at"])
        # Readings charted since schema 5 arrive in per-minute blocks: the newest half hour of each is decoded.
        recent = self._recent_block_readings(cur, sids)
        for sid, readings in recent.items():
            latest = by_session[sid].latest
            for r in readings:
                p = r["parameter"]
                if p in LATEST_PARAMETERS and _usable(r) and (p not in latest or r["effective_at"] >= latest[p][1]):
                    latest[p] = (r["value"], r["effective_at"])
        # This minute's readings, not sealed into a block yet, come with the chair's heartbeat (same session only).
        for sid, c in by_session.items():
            hb = c.heartbeat or {}
            if hb.get("session_id") != sid or not hb.get("latest"):
                continue
            for p, (value, flags, at) in hb["latest"].items():
                r = {"value": value, "flags": flags, "effective_at": datetime.fromisoformat(at)}
                if p in LATEST_PARAMETERS and _usable(r) and (p not in c.latest or r["effective_at"] > c.latest[p][1]):
                    c.latest[p] = (value, r["effective_at"])
        # The trend: one charted reading per 30 seconds over the 30 minutes before each session's newest reading
        # (the newest in each 30-s slot): 60 index probes per parameter, whatever the rate the monitor sends at.
        newest = {sid: max((t for _, t in c.latest.values()), default=None) for sid, c in by_session.items()}
        newest = {sid: t for sid, t in newest.items() if t is not None}
        if newest:
            for r in cur.execute(sql.SQL(
                    """SELECT w.sid, p.param, v.effective_at, v.value
                       FROM unnest(%s::text[], %s::timestamptz[]) w(sid, newest)
                       CROSS JOIN unnest(%s::text[]) p(param)
                       CROSS JOIN generate_series(0, %s) k
                       CROSS JOIN LATERAL (
                           SELECT value, effective_at FROM {} WHERE session_id = w.sid AND parameter = p.param
                             AND effective_at <= w.newest - k * %s::interval
                             AND effective_at > w.newest - (k + 1) * %s::interval AND """ + USABLE_SQL + """
                           ORDER BY effective_at DESC LIMIT 1) v
                       ORDER BY 1, 2, 3"""
            ).format(_t("vital_readings")), (list(newest), list(newest.values()), list(TREND_PARAMETERS),
                                             int(TREND_WINDOW.total_seconds() // TREND_BUCKET_S) - 1,
                                             f"{TREND_BUCKET_S} seconds", f"{TREND_BUCKET_S} seconds",
                                             UNUSABLE_FLAGS)):
                by_session[r["sid"]].trend.setdefault(r["param"], []).append((r["effective_at"], float(r["value"])))
            for sid, readings in recent.items():
                if sid in newest:
                    _add_block_trend(by_session[sid].trend, readings, newest[sid])
        for a in cur.execute(sql.SQL(
                """SELECT a.id, a.session_id, a.rule, a.severity, a.message, a.effective_at FROM {} a
                   WHERE a.session_id = ANY(%s)
                     AND NOT EXISTS (SELECT 1 FROM {} k WHERE k.alert_id = a.id)
                   ORDER BY a.effective_at, a.device_seq"""
        ).format(_t("alerts"), _t("alert_acks")), (sids,)):
            by_session[a["session_id"]].alerts.append(a)
        for k in cur.execute(sql.SQL(
                "SELECT DISTINCT session_id FROM {} WHERE session_id = ANY(%s) AND kind = 'discharge' AND passed"
        ).format(_t("checklists")), (sids,)):
            by_session[k["session_id"]].discharge_check_passed = True
        return out

    def _has_blocks(self, cur) -> bool:  # noqa: ANN001
        """Whether the central has ``reading_blocks`` (central schema 3 on)."""
        if getattr(self, "_blocks_known", None) is None:
            row = self.conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.reading_blocks",)).fetchone()
            self._blocks_known = bool(row[0])
        return self._blocks_known

    def _recent_block_readings(self, cur, sids: list[str]) -> dict[str, list[dict]]:  # noqa: ANN001
        """Per session, the readings of its blocks that end within the trend window (plus a minute) of its
        newest block: the newest values and the sparkline come from these."""
        if not sids or not self._has_blocks(cur):
            return {}
        out: dict[str, list[dict]] = {}
        for r in cur.execute(sql.SQL(
                """SELECT b.session_id, b.device_id, b.body FROM unnest(%s::text[]) s(sid) CROSS JOIN LATERAL (
                       SELECT session_id, device_id, body, device_seq FROM {t} WHERE session_id = s.sid AND last_at >=
                           (SELECT max(last_at) FROM {t} WHERE session_id = s.sid) - %s::interval) b
                   ORDER BY b.session_id, b.device_seq""").format(t=_t("reading_blocks")),
                (sids, f"{int(TREND_WINDOW.total_seconds()) + 60} seconds")):
            out.setdefault(r["session_id"], []).extend(decode_block(r["body"], r["device_id"], r["session_id"]))
        # A value older than that (a BP taken 40 minutes ago) still shows, with its time: the newest blocks
        # whose kinds name the parameter (each block lists its kinds as ["<parameter>", unit, source, flags]).
        for sid in sids:
            have = {r["parameter"] for r in out.get(sid, ()) if _usable(r)}
            for param in LATEST_PARAMETERS:
                if param in have:
                    continue
                for r in cur.execute(sql.SQL(
                        "SELECT device_id, body FROM {} WHERE session_id = %s AND body LIKE %s "
                        "ORDER BY last_at DESC LIMIT 5").format(_t("reading_blocks")), (sid, f'%["{param}",%')):
                    found = [x for x in decode_block(r["body"], r["device_id"], sid) if x["parameter"] == param
                             and _usable(x)]
                    if found:
                        out.setdefault(sid, []).extend(found)
                        break
        return out

    # --- the read-only chart of one session ----------------------------------------------------------
    def session_chart(self, session_id: str) -> dict:
        """A session's vitals and entries for the board's read-only chart view."""
        cur = self.conn.cursor(row_factory=psycopg.rows.dict_row)
        session = cur.execute(sql.SQL("SELECT * FROM {} WHERE id = %s").format(_t("sessions")), (session_id,)).fetchone()
        if session is None:
            return {}
        readings: dict[str, list[tuple[datetime, float]]] = {}
        for r in cur.execute(sql.SQL(
                "SELECT parameter, effective_at, value FROM {} WHERE session_id = %s AND parameter = ANY(%s) "
                "AND " + USABLE_SQL + " ORDER BY parameter, effective_at").format(_t("vital_readings")),
                (session_id, list(LATEST_PARAMETERS), UNUSABLE_FLAGS)):
            readings.setdefault(r["parameter"], []).append((r["effective_at"], r["value"]))
        for block in cur.execute(sql.SQL(
                "SELECT device_id, body FROM {} WHERE session_id = %s ORDER BY device_seq").format(
                _t("reading_blocks")), (session_id,)).fetchall() if self._has_blocks(cur) else []:
            for r in decode_block(block["body"], block["device_id"], session_id):
                if r["parameter"] in LATEST_PARAMETERS and _usable(r):
                    readings.setdefault(r["parameter"], []).append((r["effective_at"], r["value"]))
        for values in readings.values():
            values.sort(key=lambda v: v[0])
        entries: list[dict] = []
        for e in cur.execute(sql.SQL("SELECT effective_at, event, data FROM {} WHERE session_id = %s").format(
                _t("session_events")), (session_id,)):
            entries.append({"at": e["effective_at"], "what": "Session", "text": e["event"]})
        for o in cur.execute(sql.SQL(
                "SELECT effective_at, kind, value, text FROM {} WHERE session_id = %s").format(_t("observations")),
                (session_id,)):
            value = "" if o["value"] is None else f" {o['value']:g}"
            entries.append({"at": o["effective_at"], "what": o["kind"], "text": (value + " " + (o["text"] or "")).strip()})
        for a in cur.execute(sql.SQL(
                """SELECT a.effective_at, a.severity, a.message,
                          (SELECT string_agg(k.action, '; ') FROM {} k WHERE k.alert_id = a.id) AS action
                   FROM {} a WHERE a.session_id = %s""").format(_t("alert_acks"), _t("alerts")), (session_id,)):
            done = f" (acknowledged: {a['action']})" if a["action"] else " (not acknowledged)"
            entries.append({"at": a["effective_at"], "what": f"Alert {a['severity']}", "text": a["message"] + done})
        for d in cur.execute(sql.SQL(
                "SELECT effective_at, drug, dose_mg, minutes FROM {} WHERE session_id = %s").format(
                _t("dose_administrations")), (session_id,)):
            over = f" over {d['minutes']} min" if d["minutes"] else ""
            entries.append({"at": d["effective_at"], "what": "Dose", "text": f"{d['drug']} {d['dose_mg']:g} mg{over}"})
        entries.sort(key=lambda e: e["at"])
        return {"session": session, "readings": readings, "entries": entries}


def _usable(r: dict) -> bool:
    """The one validity rule, as USABLE_SQL says it, for a reading decoded from a block."""
    return r["value"] is not None and not (set((r["flags"] or "").split(",")) & set(UNUSABLE_FLAGS))


def _add_block_trend(trend: dict[str, list[tuple[datetime, float]]], readings: list[dict], newest: datetime) -> None:
    """The sparkline's points from block readings: the newest usable reading in each 30-s slot of the 30 minutes
    up to ``newest``, merged with the points already there (from older-format rows), in time order."""
    bucket = timedelta(seconds=TREND_BUCKET_S)
    slots = int(TREND_WINDOW.total_seconds() // TREND_BUCKET_S)
    for param in TREND_PARAMETERS:
        best: dict[int, tuple[datetime, float]] = {}
        for at, value in trend.get(param, []):
            best[int((newest - at) / bucket)] = (at, value)
        for r in readings:
            at = r["effective_at"]
            if r["parameter"] != param or at > newest or at <= newest - slots * bucket or not _usable(r):
                continue
            k = int((newest - at) / bucket)  # slot k: (newest - (k+1)*30 s, newest - k*30 s], as the SQL above
            if k not in best or at > best[k][0]:
                best[k] = (at, float(r["value"]))
        if best:
            trend[param] = sorted(best.values())


def _natural(text: str) -> tuple:
    """'Chair 2' before 'Chair 10'."""
    import re

    return tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", text))


def _patient_links(cur, patient_ids: list[str]) -> dict[str, str]:  # noqa: ANN001
    """merged patient_id -> kept patient_id, from the links an admin login carried (vouched), folded as the
    chairs fold them (:mod:`ketachart.store.patient_links`); one hop, as a link into a merged record is refused."""
    from ..store.repository import latest_versions

    if not patient_ids:
        return {}
    rows = cur.execute(sql.SQL(
        "SELECT l.id, l.kept_id, l.merged_id, l.active, l.amends, l.recorded_at, l.device_id, l.device_seq "
        "FROM {} l JOIN {} v ON v.tbl = 'patient_links' AND v.id = l.id WHERE l.merged_id = ANY(%s)"
    ).format(_t("patient_links"), _t("vouches")), (patient_ids,)).fetchall()
    return {m: r["kept_id"] for m, r in latest_versions(rows, "merged_id").items() if r["active"]}
