"""Patients come in without typing: demographics from a CSV file (``ketachart patients import``) or from HL7
ADT^A04/A08 (:mod:`ketachart.patients_adt`), written through the store's patient API.

One path for both: a source gives :class:`Demographics`; :func:`plan` checks every record against the chart
(new patient, update of the patient with that MRN, unchanged, or refused with the reason) without writing;
:func:`apply` writes a plan in one transaction: a new patient through ``ChartStore.create_patient``, a change as
a new version of the patient (``ChartStore.amend`` on the current version, with the reason naming the source),
so the chart keeps every earlier version like any patient edit. Nothing is deleted.

CSV headers (case, spaces, underscores and hyphens ignored; ``--map "Header=field"`` names any other):

==============  =====================================================================
field           accepted headers
==============  =====================================================================
mrn             MRN, Medical record number, Patient ID, Record number
family_name     Family name, Last name, Surname
given_name      Given name, First name, Forename
birth_date      Birth date, Date of birth, DOB  (YYYY-MM-DD or YYYYMMDD; nothing else,
                so 03/04/1980 is never read the wrong way round)
sex             Sex, Gender  (M/F/O/U or male/female/other/unknown)
weight_kg       Weight, Weight kg, Weight (kg)   (optional)
phone           Phone, Telephone, Mobile          (optional)
==============  =====================================================================

Columns nobody mapped are ignored (named in the report). MRN, family name, birth date and sex are required.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path

from .domain.errors import ClinicalInputError
from .store.models import Patient
from .store.repository import ChartStore

FIELDS = ("mrn", "family_name", "given_name", "birth_date", "sex", "weight_kg", "phone")
REQUIRED = ("mrn", "family_name", "birth_date", "sex")
HEADERS = {
    "mrn": ("mrn", "medicalrecordnumber", "patientid", "recordnumber", "mrnnumber"),
    "family_name": ("familyname", "lastname", "surname", "family"),
    "given_name": ("givenname", "firstname", "forename", "given"),
    "birth_date": ("birthdate", "dateofbirth", "dob"),
    "sex": ("sex", "gender"),
    "weight_kg": ("weight", "weightkg", "weight(kg)"),
    "phone": ("phone", "telephone", "mobile", "phonenumber"),
}
SEX = {"m": "male", "male": "male", "f": "female", "female": "female", "o": "other", "other": "other",
       "u": "unknown", "unknown": "unknown", "": "unknown"}
MAX_ROWS = 100_000
# Names, MRNs and phones are one line of printable text: no control characters (not even tab or newline).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_MRN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,39}$")


class ImportRefused(ClinicalInputError):
    """The file cannot be imported as it is; ``problems`` lists each reason (row numbers as in a spreadsheet)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__("nothing was imported:\n  " + "\n  ".join(problems[:20]) + more)


@dataclass(frozen=True)
class Demographics:
    """One patient as a source gives it (already checked by :func:`check`)."""

    mrn: str
    family_name: str
    given_name: str
    birth_date: str  # YYYY-MM-DD
    sex: str  # male, female, other, unknown
    weight_kg: float | None = None
    phone: str | None = None
    where: str = ""  # "row 7", "ADT message MSG00001": for messages, never patient data

    def values(self) -> dict:
        return {"mrn": self.mrn, "family_name": self.family_name, "given_name": self.given_name,
                "birth_date": self.birth_date, "sex": self.sex, "weight_kg": self.weight_kg, "phone": self.phone}


@dataclass
class Step:
    """What one record does to the chart."""

    record: Demographics
    action: str  # "create", "update", "unchanged"
    patient: dict | None = None  # the current version, for updates
    changes: dict = field(default_factory=dict)  # field -> new value


@dataclass
class Plan:
    steps: list[Step]
    ignored_columns: list[str] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for s in self.steps if s.action == action)

    def lines(self) -> list[str]:
        """The report a clinic IT person reads: one line per record that changes something (ids, no names)."""
        out = []
        for s in self.steps:
            if s.action == "create":
                out.append(f"{s.record.where}: MRN {s.record.mrn}: new patient")
            elif s.action == "update":
                out.append(f"{s.record.where}: MRN {s.record.mrn}: already in the chart (duplicate MRN) - "
                           f"new version with {', '.join(f.replace('_', ' ') for f in s.changes)} changed")
        if self.ignored_columns:
            out.append("ignored columns: " + ", ".join(self.ignored_columns))
        out.append(f"{self.count('create')} new, {self.count('update')} updated, "
                   f"{self.count('unchanged')} unchanged")
        return out


def _key(header: str) -> str:
    return re.sub(r"[\s_\-]", "", header.strip().lower().lstrip("\ufeff"))


def check(raw: dict[str, str | None], where: str, today: date) -> tuple[Demographics | None, list[str]]:
    """One record's fields as text -> Demographics, or the reasons it cannot be taken (nothing guessed)."""
    problems = []
    vals = {k: (raw.get(k) or "").strip() for k in FIELDS}
    for k, v in vals.items():
        if _CONTROL.search(v):
            problems.append(f"{where}: {k.replace('_', ' ')} contains a control character")
    for k in REQUIRED:
        if not vals[k]:
            problems.append(f"{where}: {k.replace('_', ' ')} is missing")
    if vals["mrn"] and not _MRN.match(vals["mrn"]):
        problems.append(f"{where}: MRN {vals['mrn']!r} is not a record number (letters, digits, . _ / -; up to 40)")
    born = vals["birth_date"]
    if born:
        parsed = None
        for fmt in ("%Y-%m-%d", "%Y%m%d"):
            try:
                parsed = datetime.strptime(born, fmt).date()
                break
            except ValueError:
                continue
        if parsed is None:
            problems.append(f"{where}: birth date {born!r} must be YYYY-MM-DD (or YYYYMMDD)")
        elif parsed > today or parsed.year < 1900:
            problems.append(f"{where}: birth date {born} is not plausible")
        else:
            vals["birth_date"] = parsed.isoformat()
    sex = SEX.get(vals["sex"].lower())
    if vals["sex"] and sex is None:
        problems.append(f"{where}: sex {vals['sex']!r} must be M, F, O or U (male, female, other, unknown)")
    weight = None
    if vals["weight_kg"]:
        try:
            weight = float(vals["weight_kg"].replace(",", "."))
        except ValueError:
            problems.append(f"{where}: weight {vals['weight_kg']!r} is not a number of kg")
    for k in ("family_name", "given_name", "phone"):
        if len(vals[k]) > 100:
            problems.append(f"{where}: {k.replace('_', ' ')} is longer than 100 characters")
    if problems:
        return None, problems
    return Demographics(vals["mrn"], vals["family_name"], vals["given_name"], vals["birth_date"], sex or "unknown",
                        weight, vals["phone"] or None, where), []


def read_csv(path: Path, mapping: dict[str, str] | None = None, today: date | None = None
             ) -> tuple[list[Demographics], list[str]]:
    """The file's records and the columns nobody mapped; raises :class:`ImportRefused` with every problem."""
    today = today or date.today()
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ImportRefused([f"cannot read {path}: {exc.strerror or exc}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused([f"{path} is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8"]) from None
    if not text.strip():
        raise ImportRefused([f"{path} is empty"])
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise ImportRefused([f"{path}: no header row ({exc})"]) from None
    columns = _columns(header, mapping or {})
    missing = [f for f in REQUIRED if f not in columns.values()]
    if missing:
        raise ImportRefused([f"no column for {', '.join(m.replace('_', ' ') for m in missing)}; headers found: "
                             f"{', '.join(header)} (use --map \"Header=field\"; fields: {', '.join(FIELDS)})"])
    ignored = [h for i, h in enumerate(header) if i not in columns]
    records, problems, seen = [], [], {}
    try:
        for line, row in enumerate(reader, start=2):
            if not any(c.strip() for c in row):
                continue
            if len(records) + len(problems) >= MAX_ROWS:
                problems.append(f"more than {MAX_ROWS} rows; split the file")
                break
            if len(row) > len(header):
                problems.append(f"row {line}: {len(row)} cells but {len(header)} headers (a comma inside a name "
                                "needs quotes)")
                continue
            values = {name: row[i] if i < len(row) else "" for i, name in columns.items()}
            record, bad = check(values, f"row {line}", today)
            problems += bad
            if record is not None:
                first = seen.setdefault(record.mrn.lower(), line)
                if first != line:
                    problems.append(f"row {line}: MRN {record.mrn} repeats row {first} (duplicate MRN in the file)")
                    continue
                records.append(record)
    except csv.Error as exc:
        problems.append(f"line {reader.line_num}: {exc}")
    if problems:
        raise ImportRefused(problems)
    return records, ignored


def parse_map(items: list[str] | None) -> dict[str, str]:
    """``["Pt Number=mrn", ...]`` -> {"ptnumber": "mrn"}; refuses unknown fields."""
    out = {}
    for item in items or []:
        header, sep, name = item.rpartition("=")
        name = name.strip().lower()
        if not sep or not header.strip() or name not in FIELDS:
            raise ClinicalInputError(f"--map {item!r}: write \"Header=field\" with field one of {', '.join(FIELDS)}")
        out[_key(header)] = name
    return out


def _columns(header: list[str], mapping: dict[str, str]) -> dict[int, str]:
    by_key = {alias: name for name, aliases in HEADERS.items() for alias in aliases}
    by_key.update(mapping)
    columns, taken = {}, {}
    for i, h in enumerate(header):
        name = by_key.get(_key(h))
        if name is None:
            continue
        if name in taken:
            raise ImportRefused([f"columns {header[taken[name]]!r} and {h!r} both give the {name.replace('_', ' ')}"])
        taken[name] = i
        columns[i] = name
    return columns


def plan(store: ChartStore, records: list[Demographics]) -> Plan:
    """What the records would do to the chart (no writes). An MRN the chart holds twice is refused: which of
    the two patients the record means is for a person to decide."""
    current: dict[str, list[dict]] = {}
    for p in store.patients():
        current.setdefault(p["mrn"].strip().lower(), []).append(p)
    steps, problems = [], []
    from .domain.dosing import check_weight

    for r in records:
        if r.weight_kg is not None:
            try:
                check_weight(r.weight_kg, store.policy)
            except ClinicalInputError as exc:
                problems.append(f"{r.where}: {exc}")
                continue
        found = current.get(r.mrn.lower(), [])
        if len(found) > 1:
            problems.append(f"{r.where}: MRN {r.mrn} belongs to {len(found)} patients in the chart (possible "
                            "duplicates): an admin must review them before this MRN can be updated")
            continue
        if not found:
            steps.append(Step(r, "create"))
            continue
        p = found[0]
        changes = {k: v for k, v in r.values().items()
                   if k != "mrn" and v is not None and v != p.get(k) and not (k == "given_name" and not v)}
        steps.append(Step(r, "update" if changes else "unchanged", p, changes))
    if problems:
        raise ImportRefused(problems)
    return Plan(steps)


def apply(store: ChartStore, the_plan: Plan, *, source: str) -> Plan:
    """Write the plan in one transaction (all records or none). ``source`` says where the change came from in
    the reason of each new version ("CSV import patients.csv", "HL7 ADT^A08 MSG0001")."""
    with store.atomic():
        for s in the_plan.steps:
            r = s.record
            if s.action == "create":
                row = store.create_patient(r.mrn, r.family_name, r.given_name, r.birth_date, r.sex, r.weight_kg,
                                           r.phone)
                s.patient = row
            elif s.action == "update":
                s.patient = store.amend(Patient, s.patient["id"], f"demographics from {source}", **s.changes)
        store.audit("import-patients", None, {"source": source.split(" ")[0], "created": the_plan.count("create"),
                                              "updated": the_plan.count("update")})
    return the_plan


def import_csv(store: ChartStore, path: Path, *, mapping: dict[str, str] | None = None, dry_run: bool = False
               ) -> Plan:
    """``ketachart patients import``: read and check the whole file, plan, and (unless ``dry_run``) apply."""
    records, ignored = read_csv(path, mapping, store.clock.now().date())
    the_plan = plan(store, records)
    the_plan.ignored_columns = ignored
    if not dry_run:
        apply(store, the_plan, source=f"CSV import {Path(path).name}")
    return the_plan


def with_where(record: Demographics, where: str) -> Demographics:
    return replace(record, where=where)
