"""HL7 v2 ADT^A04 (register a patient) and ADT^A08 (update patient information): the PID fields KetaChart keeps.

Pure and sans-IO like the other codecs: :func:`decode_adt` takes one message (segments separated by CR, no
MLLP framing) and returns an :class:`AdtEvent`, or raises :class:`AdtRefused` with a reason that names no
patient data (it goes into the ACK and the log). :func:`adt_ack` builds the reply. Refused: other message
types, a message without PID-3, an MRN whose assigning authority is not this clinic's (another clinic's MRN
system must never update our patients), control characters anywhere in the fields we keep, escape sequences
other than the delimiter escapes (\\F\\ \\S\\ \\T\\ \\R\\ \\E\\).

Which PID-3 repetition is the clinic's MRN: the one whose assigning authority (CX.4) names the clinic's MRN
system - its universal id (CX.4.2) equals the system (a URI, or for ``urn:oid:X`` the OID X), or its namespace
id (CX.4.1) equals the clinic's configured HL7 namespace - with identifier type (CX.5) MR or empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

TRIGGERS = {"A04": "register", "A08": "update"}
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_ESCAPE = re.compile(r"\\([^\\]*)\\")


class AdtRefused(ValueError):
    """Why a message is not taken; ``code`` is the HL7 acknowledgement code (AE error, AR reject)."""

    def __init__(self, reason: str, code: str = "AE", control_id: str = "", sender: str = "") -> None:
        super().__init__(reason)
        self.code, self.control_id, self.sender = code, control_id, sender


@dataclass(frozen=True)
class AdtEvent:
    trigger: str  # A04 or A08
    control_id: str  # MSH-10
    sender: str  # MSH-3 sending application
    mrn: str
    family_name: str
    given_name: str
    birth_date: str  # YYYY-MM-DD, or "" when PID-7 is empty
    sex: str  # M F O U A N as sent (PID-8), or ""
    phone: str


@dataclass(frozen=True)
class Authority:
    """The clinic's MRN system as HL7 names it."""

    system: str  # the FHIR Identifier.system of the clinic's MRNs
    namespace: str = ""  # CX.4.1, e.g. "NORTHCLINIC" (optional)

    def matches(self, hd: list[str]) -> bool:
        namespace, universal = (hd + ["", ""])[:2]
        oid = self.system[len("urn:oid:"):] if self.system.startswith("urn:oid:") else None
        if universal and (universal == self.system or (oid is not None and universal == oid)):
            return True
        return bool(self.namespace) and namespace == self.namespace and not universal


def _unescape(text: str, enc: str, sep: str) -> str:
    comp, rep, esc, sub = enc[0], enc[1], enc[2], enc[3] if len(enc) > 3 else "&"
    table = {"F": sep, "S": comp, "T": sub, "R": rep, "E": esc}

    def one(m: re.Match) -> str:
        code = m.group(1)
        if code not in table:
            raise AdtRefused(f"escape sequence \\{code[:8]}\\ is not supported")
        return table[code]

    if esc != "\\":
        return text  # unusual escape character: take text as sent (control characters are still refused)
    return _ESCAPE.sub(one, text)


def decode_adt(message: str, authority: Authority) -> AdtEvent:
    """One ADT message -> the patient it registers or updates (see the module docstring for what is refused)."""
    segments = [s for s in re.split(r"\r\n|\r|\n", message) if s]
    if not segments or not segments[0].startswith("MSH") or len(segments[0]) < 8:
        raise AdtRefused("not an HL7 message (no MSH segment)", "AR")
    sep = segments[0][3]
    msh = segments[0].split(sep)
    enc = msh[1] if len(msh) > 1 and len(msh[1]) >= 3 else "^~\\&"
    comp, rep = enc[0], enc[1]
    sub = enc[3] if len(enc) > 3 else "&"
    control = msh[9] if len(msh) > 9 else ""
    sender = msh[2] if len(msh) > 2 else ""
    if _CONTROL.search(control) or len(control) > 64:
        raise AdtRefused("control id is not printable text", "AR")
    mtype = (msh[8] if len(msh) > 8 else "").split(comp)
    if mtype[:1] != ["ADT"] or (mtype[1] if len(mtype) > 1 else "") not in TRIGGERS:
        raise AdtRefused(f"only ADT^A04 and ADT^A08 are taken here, not {'^'.join(mtype[:2])[:20]}", "AR", control,
                         sender)
    trigger = mtype[1]
    pid = next((s.split(sep) for s in segments if s.startswith("PID" + sep)), None)
    if pid is None:
        raise AdtRefused("no PID segment", "AE", control, sender)

    def f(i: int) -> str:
        return pid[i] if len(pid) > i else ""

    kept = [f(3), f(5), f(7), f(8), f(13)]
    if any(_CONTROL.search(v) for v in kept):
        raise AdtRefused("a patient field contains a control character", "AE", control, sender)
    try:
        mrn = ""
        for cx in f(3).split(rep):
            parts = cx.split(comp)
            ident = _unescape(parts[0], enc, sep) if parts else ""
            hd = parts[3].split(sub) if len(parts) > 3 else []
            id_type = parts[4] if len(parts) > 4 else ""
            if ident and id_type in ("", "MR") and authority.matches(hd):
                mrn = ident
                break
        if not mrn:
            raise AdtRefused("no MRN of this clinic's assigning authority in PID-3 (another clinic's MRN system "
                             "is never taken)", "AE", control, sender)
        name = f(5).split(rep)[0].split(comp)
        family = _unescape(name[0].split(sub)[0], enc, sep) if name else ""
        given = _unescape(name[1], enc, sep) if len(name) > 1 else ""
        phone = _unescape(f(13).split(rep)[0].split(comp)[0], enc, sep)
    except AdtRefused as exc:
        raise AdtRefused(str(exc), exc.code, control, sender) from None
    born = f(7)[:8]
    birth = ""
    if born:
        try:
            birth = datetime.strptime(born, "%Y%m%d").date().isoformat()
        except ValueError:
            raise AdtRefused("PID-7 date of birth is not YYYYMMDD", "AE", control, sender) from None
    if _CONTROL.search(mrn + family + given + phone):
        raise AdtRefused("a patient field contains a control character", "AE", control, sender)
    return AdtEvent(trigger, control, sender, mrn, family, given, birth, f(8)[:1], phone)


def adt_ack(control_id: str, code: str, text: str = "", *, receiver: str = "", when: datetime | None = None,
            ack_id: str = "") -> str:
    """The ACK for one ADT message (segments joined by CR, not framed): MSA-1 AA/AE/AR, MSA-3 the reason."""
    when = when or datetime.now(timezone.utc)
    stamp = when.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S") + "+0000"
    clean = re.sub(r"[|^~\\&\r\n]", " ", text)[:80]
    msh = f"MSH|^~\\&|KETACHART||{receiver}||{stamp}||ACK^A01^ACK|{ack_id or 'K' + stamp}|P|2.5"
    return "\r".join([msh, f"MSA|{code}|{control_id}|{clean}".rstrip("|")]) + "\r"
