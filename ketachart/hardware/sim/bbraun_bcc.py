"""B. Braun SpaceCom sim in request mode: answers ALIVE and MEM:GET, one block per pump, advancing on ACK.

Pump 1 runs the clinic's standard order: ketamine 0.5 mg/kg over 40 min for a 70 kg patient at 1 mg/mL,
i.e. VTBI 35 mL at 52.5 mL/h (0.75 mg/kg/h), starting at t = 0 and ending in an end-of-volume alarm.
``artifacts`` adds garbage, half frames, a corrupted block (the host must NAK it), `_NV` values and an
occlusion alarm (bbraun-bcc.md section 9).
"""

from __future__ import annotations

from ..codecs.bbraun_bcc import ETB, ParsedFrame, build_frame, parse_frame
from .base import DeviceSim, register

WEIGHT_KG = 70.0
MG_PER_KG = 0.5
MINUTES = 40.0
CONC_MG_ML = 1.0
POWER_ON_S = 3600.0  # the ComDevice was switched on an hour before the infusion
END_ALARM_S = 60.0


@register("bbraun")
class BBraunSim(DeviceSim):
    def __init__(self, scenario: str = "ketamine", seed: int = 1, bed_id: str = "BED01", stuffing: bool = True,
                 pumps: int = 1) -> None:
        super().__init__(scenario, seed)
        self.bed_id = bed_id
        self.stuffing = stuffing
        self.pumps = max(1, min(2, pumps))
        self.dose_mg = WEIGHT_KG * MG_PER_KG
        self.vtbi_ml = self.dose_mg / CONC_MG_ML
        self.rate_ml_h = self.vtbi_ml / (MINUTES / 60.0)
        self._rx = bytearray()
        self._blocks: list[bytes] = []
        self._idx = 0
        self._t = 0.0
        self._answers = 0
        self.requests: list[str] = []  # what the host asked, for tests

    # --- the pump -----------------------------------------------------------------------------------
    def pump_values(self, t: float) -> list[tuple[str, str]]:
        """Pump 1 (slot 11) parameters at device time t (seconds since the infusion started)."""
        end_s = MINUTES * 60.0
        running = 0.0 <= t < end_s
        vi = 0.0 if t < 0 else min(self.vtbi_ml, self.rate_ml_h * t / 3600.0)
        end_alarm = end_s <= t < end_s + END_ALARM_S
        occlusion = self.scenario == "artifacts" and 600.0 <= t < 630.0
        if occlusion:
            running = False
        rate = f"{self.rate_ml_h:.2f}" if running else "0.00"
        values = [
            ("GNMODEL", "688F030006\r"),
            ("DSSTATUS", "00051"),
            ("INRT", rate),
            ("INVI", f"{vi:.1f}"),
            ("INVTB", f"{self.vtbi_ml:.1f}"),
            ("INSOL", "Ketamine 1 mg/mL"),
            ("INSOLSN", "Ketamine"),
            ("INDOCAL", "1"),
            ("INDORT", f"{MG_PER_KG * 60.0 / MINUTES:.3f}"),
            ("INDORTU", "69"),
            ("INM2", "0"),
            ("INM3", "1" if running else "0"),
            ("INA1", "0"),
            ("INA3", "1" if occlusion else "0"),
            ("INA7", "1" if end_alarm else "0"),
        ]
        if self.scenario == "artifacts" and self._answers % 5 == 2:
            values[8] = ("INDORT", "_NV")  # DataGrouping: not consistent yet
        return values

    def _answer(self) -> list[bytes]:
        tt = int(self._t + POWER_ON_S)
        quads = [f"{tt},50100,FMNOR,1"] + [f"{tt},50111,{k},{v}" for k, v in self.pump_values(self._t)]
        blocks = ["\x1e".join(quads)]
        if self.pumps > 1:
            carrier = [("GNMODEL", "686F030006\r"), ("INRT", "0.00"), ("INVI", "0.0"), ("INVTB", "_NV"),
                       ("INSOL", "NaCl 0.9%"), ("INM2", "0"), ("INM3", "0"), ("INA1", "0")]
            blocks.append("\x1e".join(f"{tt},50112,{k},{v}" for k, v in carrier))
        self._answers += 1
        return [build_frame(self.bed_id, b, last=(i == len(blocks) - 1), stuffing=self.stuffing)
                for i, b in enumerate(blocks)]

    # --- the line -----------------------------------------------------------------------------------
    def receive_data(self, data: bytes, t: float) -> None:
        self._t = t
        rx = self._rx
        rx += data
        while rx:
            b = rx[0]
            if b == 0x06:  # ACK: next block
                del rx[0]
                if self._blocks and self._idx < len(self._blocks) - 1:
                    self._idx += 1
                    self._send_block()
                else:
                    self._blocks = []
                continue
            if b == 0x15:  # NAK: repeat
                del rx[0]
                if self._blocks:
                    self._send_block(clean=True)
                continue
            if b != 0x01:
                del rx[0]
                continue
            eot = rx.find(b"\x04")
            if eot < 0:
                if len(rx) > 4096:
                    rx.clear()
                return
            wire = bytes(rx[:eot + 1])
            del rx[:eot + 1]
            self._request(parse_frame(wire))

    def _request(self, parsed: ParsedFrame | str) -> None:
        tt = int(self._t + POWER_ON_S)
        if isinstance(parsed, str):
            self._send(build_frame(self.bed_id, f"{tt},50100,GNERR,68", stuffing=self.stuffing))
            return
        info = parsed.info.decode("ascii", "replace")
        self.requests.append(info)
        if info == "ADMIN:ALIVE":
            if parsed.bed_id not in ("1", self.bed_id):
                self._send(build_frame(self.bed_id, f"{tt},50100,GNERR,68", stuffing=self.stuffing))
            else:
                self._send(build_frame(self.bed_id, f"{tt},50100,GNACK,0", stuffing=self.stuffing))
            return
        if parsed.bed_id != self.bed_id:
            self._send(build_frame(self.bed_id, f"{tt},50100,GNERR,68", stuffing=self.stuffing))
            return
        if info == "ADMIN:VERSION":
            self._send(build_frame(self.bed_id, f"{tt},50100,V3.30", stuffing=self.stuffing))
        elif info == "MEM:GET":
            self._blocks, self._idx = self._answer(), 0  # a new request restarts at the first block
            self._send_block()
        else:
            self._send(build_frame(self.bed_id, f"{tt},50100,GNERR,68", stuffing=self.stuffing))

    def _send_block(self, clean: bool = False) -> None:
        block = self._blocks[self._idx]
        if self.scenario == "artifacts" and not clean:
            k = self._answers % 4
            if k == 1:
                self._send(b"\xff\x00noise")
            elif k == 2:
                self._send(block[: len(block) // 3])  # half frame, then the whole one
            elif k == 3 and block[-7] != ETB:
                bad = bytearray(block)
                bad[len(bad) // 2] ^= 0x01  # a flipped bit: the host must NAK, we then repeat it clean
                self._send(bytes(bad))
                return
        self._send(block)

    def tick(self, t: float) -> None:
        self._t = t
