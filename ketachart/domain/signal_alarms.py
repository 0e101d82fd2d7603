"""Alarms about the signal itself, and the heart-rate source (issue 11, "Alarms that mean what they say").

:class:`SignalWatch` sits beside :class:`~ketachart.domain.alerts.AlertRules` and is fed the same readings:

- **HR and PR are different sources.** ECG HR feeds the heart-rate alarms whenever it is valid; the
  oximeter's PR only when there is no valid ECG HR (:meth:`SignalWatch.heart_rate_source`). ECG HR and PR
  further apart than the policy allows, for long enough, is a signal-quality warning, not a bradycardia.
- **Artefact-flagged values never raise a clinical alarm** (the one validity rule, :func:`.vitals.usable`).
- **Monitoring missing is an alarm**: no valid SpO2 (resp. HR) for the policy's N seconds during the session
  while the monitor streams; no monitor streaming after the start; NIBP overdue beyond the grace.
- **RR**: below the policy's limit is an alarm; apnea flags from the monitor are an alarm of their own.
- **Device alarms** (pump occlusion, air, empty ...; monitors' technical alarms: GE status words, Masimo EXC
  sensor faults) are alerts with their source.

Like AlertRules, a rule fires once per episode and re-arms when its condition clears; every finding carries
the policy version. Time comes from the readings and from :meth:`tick` (the caller's clock), never the wall.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .alerts import AlertFinding, raise_once
from .codes import Parameter
from .policy import ClinicPolicy
from .readings import Quality, Reading
from .vitals import usable
# How recent an ECG HR must be to be "present" (PR then stays out of the heart-rate alarms).
ECG_PRESENT_S = 10

# Pump and monitor alarm words as a nurse reads them, and whether they stop the drug reaching the patient.
DEVICE_ALARMS: dict[str, tuple[str, str]] = {
    "occlusion": ("Occlusion", "critical"),
    "air-alarm": ("Air in line", "critical"),
    "syringe-empty": ("Syringe empty", "critical"),
    "end-of-volume": ("Volume infused (end of volume)", "warning"),
    "battery-empty": ("Battery empty", "critical"),
    "door-open": ("Door open", "critical"),
    "drop-alarm": ("Drop alarm", "critical"),
    "syringe-alarm": ("Syringe alarm", "critical"),
    "cc-alarm": ("Communication alarm", "warning"),
    "standby-over": ("Standby time over", "warning"),
    "time-over": ("Infusion time over", "warning"),
    "battery-pre-alarm": ("Battery low", "warning"),
    "syringe-empty-pre-alarm": ("Syringe nearly empty", "warning"),
    "kvo-end": ("KVO time over", "warning"),
    "alarm": ("Alarm", "warning"),
    # SpaceCom 3.3x ALARM1/ALARM2 bits beyond the INA flags (codecs/bbraun_bcc.py ALARM_BITS)
    "pump-data-corrupt": ("Pump data corrupt", "critical"),
    "battery-alarm": ("Battery alarm", "warning"),
    "battery-missing": ("Battery not in pump", "warning"),
    "battery-cover-open": ("Battery cover open", "warning"),
    "claw-malfunction": ("Claw malfunction", "critical"),
    "pressure-sensor-defect": ("Pressure sensor defect", "critical"),
    "syringe-holder-open": ("Syringe holder open", "critical"),
    "syringe-misplaced": ("Syringe not inserted correctly", "critical"),
    "upstream-occlusion": ("Upstream occlusion", "critical"),
    "free-flow": ("Free flow", "critical"),
    "drop-sensor-missing": ("Drop sensor missing", "critical"),
    "air-sensor-fault": ("Air sensor test faulty", "critical"),
    "data-lock-manipulated": ("Data lock manipulated", "warning"),
    "pca-limit": ("PCA hour limit", "warning"),
    "sgc-end": ("SGC end", "warning"),
    "take-over-alarm": ("Syringe take-over alarm", "warning"),
    # monitors' technical alarms (hardware/codecs: GE status words, Masimo EXC); asystole is the monitor's
    # own arrhythmia call, passed on as critical
    "asystole": ("Asystole", "critical"),
    "ecg-leads-off": ("ECG leads off", "warning"),
    "co2-occlusion": ("CO2 sampling line occluded", "warning"),
    "co2-air-leak": ("CO2 sampling line air leak", "warning"),
    "co2-water-trap": ("CO2 water trap full or wet", "warning"),
    "sensor-defective": ("SpO2 sensor defective", "warning"),
    "sensor-unrecognised": ("SpO2 sensor not recognised", "warning"),
}
# A monitor repeats its technical alarms with every record while they last (codecs/base.py): one not
# repeated for this long has ended, even if its "none" was lost with the connection.
MONITOR_ALARM_STALE_S = 30


def clinically_usable(reading: Reading) -> bool:
    """A value a clinical alarm may rest on: the one validity rule of domain/vitals.py."""
    return usable(reading)


def is_apnea(reading: Reading) -> bool:
    """A monitor's apnea status (GE CO2 status bits 2 and 7) reaches us as an RR/CO2 reading saying apnea."""
    if reading.parameter not in (Parameter.RR, Parameter.ETCO2):
        return False
    words = {f.value if isinstance(f, Quality) else str(f) for f in reading.flags}
    return "apnea" in words or (reading.text or "").lower() == "apnea"


def device_label(source: str) -> str:
    """'device:bbraun/1' -> 'Pump bbraun/1'; 'device:ge' -> 'Monitor ge'."""
    name = source.split(":", 1)[-1]
    kind = "Pump" if name.startswith("bbraun") else "Monitor"
    return f"{kind} {name}"


@dataclass
class SignalWatch:
    policy: ClinicPolicy
    session_started_at: datetime | None = None  # the signal alarms watch from the start of administration
    _last_ok: dict[str, datetime] = field(default_factory=dict)  # SPO2 / HEART -> last usable reading
    _last_flags: dict[str, frozenset] = field(default_factory=dict)
    _ecg: tuple[datetime, float] | None = None
    _pr: tuple[datetime, float] | None = None
    _disagree_since: datetime | None = None
    _apnea_from: Parameter | None = None
    _active: set[str] = field(default_factory=set)
    _device_alarms: dict[str, set[str]] = field(default_factory=dict)
    _monitor_alarm_at: dict[str, datetime] = field(default_factory=dict)  # source -> its last MONITOR_ALARM

    # --- session --------------------------------------------------------------------------------------
    def start(self, at: datetime) -> None:
        """Administration started: from now on missing signals are alarms."""
        self.session_started_at = at

    def mark_active(self, rule: str) -> None:
        """After a restart: a stored, unacknowledged alert's rule stays quiet until its condition clears."""
        self._active.add(rule)

    # --- readings -------------------------------------------------------------------------------------
    def heart_rate_source(self, reading: Reading) -> bool:
        """Should this HR/PR reading feed the heart-rate alarms? ECG HR yes; PR only with no recent ECG HR.
        Call after :meth:`feed` for the same reading."""
        if reading.parameter is Parameter.HR:
            return clinically_usable(reading)
        if reading.parameter is Parameter.PR:
            ecg_present = self._ecg is not None and (reading.host_time - self._ecg[0]).total_seconds() <= ECG_PRESENT_S
            return clinically_usable(reading) and not ecg_present
        return False

    def feed(self, reading: Reading) -> list[AlertFinding]:
        p, t = reading.parameter, reading.host_time
        usable = clinically_usable(reading)
        out: list[AlertFinding] = []
        if p is Parameter.SPO2:
            self._seen("SPO2", reading, usable)
        elif p in (Parameter.HR, Parameter.PR):
            self._seen("HEART", reading, usable)
            if usable:
                if p is Parameter.HR:
                    self._ecg = (t, reading.value)
                else:
                    self._pr = (t, reading.value)
                out += self._disagreement(t)
        elif p in (Parameter.RR, Parameter.ETCO2):
            apnea = is_apnea(reading)
            if apnea:
                self._apnea_from = p
                out += self._edge("apnea", True, t, "critical",
                                  f"Apnea: no breath detected ({device_label(reading.source)})",
                                  {"source": reading.source})
            elif usable and p is self._apnea_from:  # the same measurement now sees breathing
                self._apnea_from = None
                self._active.discard("apnea")
            if p is Parameter.RR and usable and not apnea:
                out += self._edge("rr-low", reading.value < self.policy.rr_low, t, "critical",
                                  f"Respiratory rate {reading.value:.0f}/min (alert below {self.policy.rr_low})",
                                  {"value": reading.value})
        elif p is Parameter.PUMP_ALARM:
            out += self.device_alarms(reading.source, _alarm_words(reading.text), t)
        elif p is Parameter.MONITOR_ALARM:
            last = self._monitor_alarm_at.get(reading.source)
            self._monitor_alarm_at[reading.source] = t
            if last is None or t - last > timedelta(seconds=MONITOR_ALARM_STALE_S):
                self.device_alarms(reading.source, [], t)  # what it said before that has ended
            out += self.device_alarms(reading.source, _alarm_words(reading.text), t)
        return out

    def _seen(self, what: str, reading: Reading, usable: bool) -> None:
        if usable:
            self._last_ok[what] = reading.host_time
        else:
            self._last_flags[what] = reading.flags

    def _disagreement(self, t: datetime) -> list[AlertFinding]:
        ecg, pr = self._ecg, self._pr
        both = ecg and pr and abs((ecg[0] - pr[0]).total_seconds()) <= 5
        apart = both and abs(ecg[1] - pr[1]) > self.policy.hr_pr_disagree_per_min
        if not apart:
            self._disagree_since = None
            self._active.discard("hr-pr-disagree")
            return []
        if self._disagree_since is None:
            self._disagree_since = t
        if t - self._disagree_since < timedelta(seconds=self.policy.hr_pr_disagree_s):
            return []
        return self._edge("hr-pr-disagree", True, t, "warning",
                          f"Signal quality: ECG heart rate {ecg[1]:.0f} and pulse rate {pr[1]:.0f} disagree; "
                          "check the probe and the leads", {"hr": ecg[1], "pr": pr[1]})

    # --- once a second ----------------------------------------------------------------------------------
    def tick(self, now: datetime, streaming: bool, next_bp_due_at: datetime | None = None,
             monitor_connected: bool = False) -> list[AlertFinding]:
        """The time-based rules: no valid SpO2 / HR for N s while the monitor streams, BP overdue beyond the
        grace, and monitoring missing: no monitor data for the monitor-silent quiet time after the start while no
        monitor is connected (a connected monitor that goes quiet is the monitor-silent alarm's)."""
        out: list[AlertFinding] = []
        started = self.session_started_at
        if started is None or now < started:
            return out
        quiet = timedelta(seconds=self.policy.monitor_silent_s)
        out += self.monitoring(streaming or monitor_connected or now - started <= quiet, now)
        limit = timedelta(seconds=self.policy.no_valid_signal_s)
        for what, rule, name in (("SPO2", "no-valid-spo2", "SpO2"), ("HEART", "no-valid-hr", "heart rate")):
            last = max(self._last_ok.get(what, started), started)
            missing = streaming and now - last > limit
            why = _why(self._last_flags.get(what, frozenset()))
            out += self._edge(rule, missing, now, "warning",
                              f"No valid {name} for {self.policy.no_valid_signal_s} s{why}", {"since": last.isoformat()})
        if next_bp_due_at is not None:
            grace = timedelta(minutes=self.policy.bp_overdue_grace_min)
            out += self._edge("bp-overdue", now > next_bp_due_at + grace, now, "warning",
                              f"BP overdue: due {self.policy.bp_overdue_grace_min}+ min ago (NIBP every "
                              f"{self.policy.nibp_interval_min} min)", {"due": next_bp_due_at.isoformat()})
        return out

    def monitoring(self, streaming: bool, at: datetime, reason: str = "") -> list[AlertFinding]:
        """No monitor streaming during the session: a warning that stays until monitoring returns."""
        data = {"reason": reason} if reason else {}
        return self._edge("monitoring-missing", not streaming, at, "warning",
                          "No monitor streaming: vitals are not being watched" + (f" (started: {reason})" if reason else ""),
                          data)

    def device_alarms(self, source: str, words: list[str], at: datetime) -> list[AlertFinding]:
        """The alarms a device reports now (an empty list: none). New ones become alerts with their source."""
        current = set(words)
        before = self._device_alarms.get(source, set())
        out = []
        for word in sorted(current - before):
            label, severity = DEVICE_ALARMS.get(word, (word.replace("-", " ").capitalize(), "warning"))
            rule = f"device-alarm:{source}:{word}"
            if rule in self._active:
                continue
            self._active.add(rule)
            out.append(AlertFinding(rule, severity, f"{device_label(source)}: {label}", at, self.policy.version,
                                    {"source": source, "alarm": word}))
        prefix = f"device-alarm:{source}:"
        for rule in [r for r in self._active if r.startswith(prefix) and r[len(prefix):] not in current]:
            self._active.discard(rule)  # ended (also one marked active after a restart): the next one alarms
        self._device_alarms[source] = current
        return out

    def _edge(self, rule, condition, t, severity, message, data) -> list[AlertFinding]:  # noqa: ANN001
        return raise_once(self._active, rule, condition,
                          lambda: AlertFinding(rule, severity, message, t, self.policy.version, data))


def _alarm_words(text: str | None) -> list[str]:
    words = [w.strip() for w in (text or "").split(",") if w.strip()]
    return [] if words == ["none"] else words


def _why(flags: frozenset) -> str:
    names = sorted(f.value if isinstance(f, Quality) else str(f) for f in flags)
    return f" ({', '.join(names)})" if names else ""
