"""HL7 ADT^A04/A08 on a listening port create or update demographics (``ketachart patients listen``).

The EHR or interface engine sends ADT over MLLP; each message is decoded
(:func:`ketachart.hardware.codecs.hl7_adt.decode_adt`), checked like a CSV row and written through the same
plan/apply path as ``patients import`` (:mod:`ketachart.patients_import`): a new patient, or a new version of
the patient with that MRN. Every message gets an ACK: AA when written (or nothing changed), AE with the reason
when refused (another clinic's MRN system, control characters, a missing or impossible field), AR for what is
not ADT^A04/A08. Fields the message leaves empty keep the chart's value (HL7 v2: empty means "not sent").
The log names control ids and outcomes, never patient data.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from dataclasses import replace

from .domain.errors import ClinicalInputError
from .hardware.codecs.hl7_adt import AdtRefused, Authority, adt_ack, decode_adt
from .patients_import import ImportRefused, apply, check, plan
from .store.repository import ChartStore

log = logging.getLogger(__name__)
SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"
MAX_MESSAGE = 256 * 1024
SEX_CODES = {"M": "male", "F": "female", "O": "other", "U": "unknown", "A": "other", "N": "unknown"}


class AdtHandler:
    """Message in, ACK out; writes through the store's patient API. Thread-safe (one message at a time)."""

    def __init__(self, store: ChartStore, authority: Authority) -> None:
        self.store, self.authority = store, authority
        self.lock = threading.Lock()
        self.counts = {"created": 0, "updated": 0, "unchanged": 0, "refused": 0}

    def handle(self, message: str) -> str:
        with self.lock:
            try:
                event = decode_adt(message, self.authority)
                outcome = self._write(event)
            except AdtRefused as exc:
                self.counts["refused"] += 1
                log.warning("ADT %s refused (%s): %s", exc.control_id or "-", exc.code, exc)
                return adt_ack(exc.control_id, exc.code, str(exc), receiver=exc.sender, when=self.store.clock.now())
            self.counts[outcome] += 1
            log.info("ADT^%s %s: %s", event.trigger, event.control_id, outcome)
            return adt_ack(event.control_id, "AA", outcome, receiver=event.sender, when=self.store.clock.now())

    def _write(self, event) -> str:
        where = f"ADT message {event.control_id or '-'}"
        current = [p for p in self.store.patients() if p["mrn"].strip().lower() == event.mrn.lower()]
        base = current[0] if len(current) == 1 else {}
        fields = {
            "mrn": event.mrn,
            "family_name": event.family_name or base.get("family_name", ""),
            "given_name": event.given_name or base.get("given_name", ""),
            "birth_date": event.birth_date or base.get("birth_date", ""),
            "sex": SEX_CODES.get(event.sex.upper(), "") if event.sex else base.get("sex", ""),
            "phone": event.phone or (base.get("phone") or ""),
        }
        if event.sex and event.sex.upper() not in SEX_CODES:
            raise AdtRefused(f"PID-8 sex {event.sex[:1]!r} is not an HL7 administrative sex", "AE", event.control_id,
                             event.sender)
        record, problems = check(fields, where, self.store.clock.now().date())
        if problems:
            raise AdtRefused("; ".join(p.split(": ", 1)[-1] for p in problems)[:200], "AE", event.control_id,
                             event.sender)
        record = replace(record, weight_kg=None)  # ADT carries no weight we chart; the chair's weigh-in stays
        try:
            the_plan = plan(self.store, [record])
            apply(self.store, the_plan, source=f"HL7 ADT^{event.trigger} {event.control_id}")
        except ImportRefused as exc:
            raise AdtRefused("; ".join(p.split(": ", 1)[-1] for p in exc.problems)[:200], "AE", event.control_id,
                             event.sender) from None
        except ClinicalInputError as exc:
            raise AdtRefused(str(exc)[:200], "AE", event.control_id, event.sender) from None
        step = the_plan.steps[0]
        return {"create": "created", "update": "updated"}.get(step.action, "unchanged")


class _MllpRequest(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        buffer = b""
        self.request.settimeout(self.server.idle_timeout)
        while True:
            try:
                data = self.request.recv(65536)
            except (socket.timeout, OSError):
                return
            if not data:
                return
            buffer += data
            while True:
                start = buffer.find(SB)
                if start < 0:
                    buffer = b""
                    break
                end = buffer.find(EB + CR, start)
                if end < 0:
                    buffer = buffer[start:]
                    if len(buffer) > MAX_MESSAGE:
                        log.warning("ADT frame over %d bytes dropped", MAX_MESSAGE)
                        buffer = b""
                    break
                raw, buffer = buffer[start + 1:end], buffer[end + 2:]
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text = raw.decode("latin-1")
                ack = self.server.handler.handle(text)
                self.request.sendall(SB + ack.encode("utf-8") + EB + CR)


class AdtServer(socketserver.ThreadingTCPServer):
    """The listening port. ``serve_forever()`` in a thread; ``shutdown()`` and ``server_close()`` to stop."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler: AdtHandler, host: str = "127.0.0.1", port: int = 0, idle_timeout: float = 300.0):
        self.handler, self.idle_timeout = handler, idle_timeout
        super().__init__((host, port), _MllpRequest)

    @property
    def port(self) -> int:
        return self.server_address[1]
