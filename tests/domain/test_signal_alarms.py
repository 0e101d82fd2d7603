"""Alarms that mean what they say: HR and PR are different sources, artefacts never alarm, missing signals
and overdue BP are alarms, low RR and apnea are alarms, device alarms carry their source."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ketachart.domain.alerts import AlertRules
from ketachart.domain.codes import Parameter as P
from ketachart.domain.policy import DEFAULT_POLICY
from ketachart.domain.readings import Quality, Reading
from ketachart.domain.signal_alarms import SignalWatch, clinically_usable

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def rules_fired(watch: SignalWatch, rules: AlertRules, readings: list[Reading]) -> list[str]:
    out = []
    for r in readings:
        out += [f.rule for f in watch.feed(r)]
        if r.parameter in (P.HR, P.PR):
            if watch.heart_rate_source(r):
                out += [f.rule for f in rules.feed(r)]
        elif clinically_usable(r):
            out += [f.rule for f in rules.feed(r)]
    return out


def test_a_pr_artefact_while_ecg_says_70_is_a_signal_quality_warning_not_a_bradycardia():
    watch, rules = SignalWatch(DEFAULT_POLICY), AlertRules(DEFAULT_POLICY)
    readings = []
    for t in range(30):
        readings += [Reading(P.HR, 70, s(t)), Reading(P.PR, 45 if 10 <= t < 20 else 70, s(t))]
    fired = rules_fired(watch, rules, readings)
    assert fired == ["hr-pr-disagree"]  # after 5 s apart; never hr-low
    # the same readings fed the old way (PR into the heart-rate rules) raise a false critical bradycardia
    naive = AlertRules(DEFAULT_POLICY)
    assert "hr-low" in [f.rule for r in readings for f in naive.feed(r)]


def test_a_short_disagreement_is_noise():
    watch, rules = SignalWatch(DEFAULT_POLICY), AlertRules(DEFAULT_POLICY)
    readings = [x for t in range(10) for x in (Reading(P.HR, 70, s(t)), Reading(P.PR, 45 if t < 3 else 70, s(t)))]
    assert rules_fired(watch, rules, readings) == []


def test_hr_125_with_pr_118_for_8_minutes_alarms_on_the_ecg():
    watch, rules = SignalWatch(DEFAULT_POLICY), AlertRules(DEFAULT_POLICY)
    readings = [x for t in range(0, 8 * 60) for x in (Reading(P.HR, 125, s(t)), Reading(P.PR, 118, s(t)))]
    watch_found = []
    for r in readings:
        watch_found += watch.feed(r)
        if watch.heart_rate_source(r):
            for f in rules.feed(r):
                watch_found.append(f)
    assert [(f.rule, (f.at - T0).total_seconds()) for f in watch_found] == [("hr-high", 300.0)]


def test_pulse_rate_alarms_only_without_ecg():
    watch, rules = SignalWatch(DEFAULT_POLICY), AlertRules(DEFAULT_POLICY)
    assert rules_fired(watch, rules, [Reading(P.PR, 44, s(0))]) == ["hr-low"]
    watch, rules = SignalWatch(DEFAULT_POLICY), AlertRules(DEFAULT_POLICY)
    fired = rules_fired(watch, rules, [Reading(P.HR, 70, s(0)), Reading(P.PR, 44, s(5)), Reading(P.PR, 44, s(11))])
    assert fired == ["hr-low"]  # at 11 s the last ECG HR is 11 s old: the pulse rate is all there is


def test_artefact_flagged_values_never_raise_a_clinical_alarm():
    watch, rules = SignalWatch(DEFAULT_POLICY), AlertRules(DEFAULT_POLICY)
    flagged = [Reading(P.SPO2, 84, s(0), flags=frozenset({Quality.ARTIFACT})),
               Reading(P.HR, 30, s(1), flags=frozenset({Quality.ARTIFACT})),
               Reading(P.RR, 3, s(2), flags=frozenset({Quality.ARTIFACT})),
               Reading(P.NIBP_SYS, 230, s(3), flags=frozenset({Quality.ARTIFACT}))]
    assert rules_fired(watch, rules, flagged) == []
    assert rules_fired(watch, rules, [Reading(P.SPO2, 84, s(4))]) == ["spo2-low"]  # the clean one does


def test_no_valid_spo2_while_streaming_for_the_policy_seconds():
    watch = SignalWatch(DEFAULT_POLICY)
    watch.start(s(0))
    found = []
    for t in range(0, 200):
        off = 60 <= t < 150
        watch.feed(Reading(P.HR, 72, s(t)))
        watch.feed(Reading(P.SPO2, None if off else 97, s(t), flags=frozenset({Quality.SENSOR_OFF}) if off else frozenset()))
        found += watch.tick(s(t), streaming=True)
    assert [(f.rule, (f.at - T0).total_seconds()) for f in found] == [("no-valid-spo2", 90.0)]
    assert found[0].message == "No valid SpO2 for 30 s (sensor-off)"


def test_no_valid_heart_rate_and_before_the_start_nothing():
    watch = SignalWatch(DEFAULT_POLICY)
    assert watch.tick(s(100), streaming=True) == []  # not started: placing the probes is not an alarm
    watch.start(s(100))
    for t in range(100, 140):
        watch.feed(Reading(P.SPO2, 97, s(t)))
        watch.feed(Reading(P.HR, None, s(t), flags=frozenset({Quality.INVALID})))
    assert watch.tick(s(129), streaming=True) == []
    found = watch.tick(s(131), streaming=True)
    assert [(f.rule, f.message) for f in found] == [("no-valid-hr", "No valid heart rate for 30 s (invalid)")]
    silent = SignalWatch(DEFAULT_POLICY)
    silent.start(s(0))
    assert silent.tick(s(100), streaming=False)[0].rule == "monitoring-missing"  # no monitor data at all


def test_monitoring_missing_stays_until_the_monitor_streams_again():
    watch = SignalWatch(DEFAULT_POLICY)
    watch.start(s(0))
    def missing(t: float, streaming: bool) -> list[str]:
        watch.feed(Reading(P.HR, 72, s(t)))
        watch.feed(Reading(P.SPO2, 97, s(t)))
        return [f.rule for f in watch.tick(s(t), streaming=streaming)]

    assert missing(30, False) == []  # the first quiet time after the start: the start gate asked already
    assert missing(31, False) == ["monitoring-missing"]
    assert missing(60, False) == []  # one alert per episode
    assert missing(61, True) == []  # cleared...
    assert missing(62, False) == ["monitoring-missing"]  # ...and re-armed
    assert watch.tick(s(90), streaming=False, monitor_connected=True) == []  # a connected monitor: monitor-silent's job
    confirmed = SignalWatch(DEFAULT_POLICY).monitoring(False, s(0), reason="monitor broken, manual vitals q5min")
    assert confirmed[0].data == {"reason": "monitor broken, manual vitals q5min"}
    assert "manual vitals" in confirmed[0].message


def test_bp_overdue_beyond_the_grace():
    watch = SignalWatch(DEFAULT_POLICY)
    watch.start(s(0))
    due = s(15 * 60)
    for t in (0, 15 * 60, 20 * 60 - 1):
        watch.feed(Reading(P.HR, 72, s(t)))
        watch.feed(Reading(P.SPO2, 97, s(t)))
    assert watch.tick(s(20 * 60 - 1), streaming=True, next_bp_due_at=due) == []  # not stale: fed just now
    watch.feed(Reading(P.HR, 72, s(20 * 60 + 1)))
    watch.feed(Reading(P.SPO2, 97, s(20 * 60 + 1)))
    overdue = watch.tick(s(20 * 60 + 1), streaming=True, next_bp_due_at=due)
    assert [f.rule for f in overdue] == ["bp-overdue"] and overdue[0].severity == "warning"
    assert watch.tick(s(20 * 60 + 2), streaming=True, next_bp_due_at=s(35 * 60)) == []  # a BP came: due moved


def test_low_rr_and_apnea():
    watch = SignalWatch(DEFAULT_POLICY)
    assert [f.rule for f in watch.feed(Reading(P.RR, 6, s(0)))] == ["rr-low"]
    assert watch.feed(Reading(P.RR, 5, s(5))) == []
    assert watch.feed(Reading(P.RR, 12, s(10))) == []
    apnea = [f.rule for t in range(15, 55, 5) for f in (watch.feed(Reading(P.RR, None, s(t), text="apnea"))
                                                        + watch.feed(Reading(P.ETCO2, 0, s(t))))]
    assert apnea == ["apnea"]  # one alarm for the episode; a CO2 value of 0 does not end it
    assert watch.feed(Reading(P.RR, 14, s(60))) == []  # breathing again: re-armed
    assert [f.rule for f in watch.feed(Reading(P.RR, None, s(65), text="apnea"))] == ["apnea"]


def test_pump_alarms_are_alerts_with_their_source():
    watch = SignalWatch(DEFAULT_POLICY)
    found = watch.feed(Reading(P.PUMP_ALARM, 2, s(0), text="occlusion,air-alarm", source="device:bbraun/1"))
    assert [(f.rule, f.severity, f.message) for f in found] == [
        ("device-alarm:device:bbraun/1:air-alarm", "critical", "Pump bbraun/1: Air in line"),
        ("device-alarm:device:bbraun/1:occlusion", "critical", "Pump bbraun/1: Occlusion"),
    ]
    assert found[0].data == {"source": "device:bbraun/1", "alarm": "air-alarm"}
    assert watch.feed(Reading(P.PUMP_ALARM, 1, s(1), text="occlusion", source="device:bbraun/1")) == []
    assert watch.feed(Reading(P.PUMP_ALARM, 0, s(2), text="none", source="device:bbraun/1")) == []
    again = watch.feed(Reading(P.PUMP_ALARM, 1, s(3), text="syringe-empty-pre-alarm", source="device:bbraun/1"))
    assert [(f.severity, f.message) for f in again] == [("warning", "Pump bbraun/1: Syringe nearly empty")]


def test_monitor_technical_alarms_are_alerts_with_their_source_once_per_episode():
    watch = SignalWatch(DEFAULT_POLICY)

    def alarm(t, text, source="device:ge"):
        return [(f.rule, f.severity, f.message, f.at) for f in
                watch.feed(Reading(P.MONITOR_ALARM, 0 if text == "none" else text.count(",") + 1, s(t),
                                   text=text, source=source))]

    assert alarm(0, "ecg-leads-off") == [("device-alarm:device:ge:ecg-leads-off", "warning",
                                          "Monitor ge: ECG leads off", s(0))]
    assert alarm(5, "ecg-leads-off") == []  # repeated with every record while it lasts: one alert
    assert alarm(10, "ecg-leads-off,asystole") == [("device-alarm:device:ge:asystole", "critical",
                                                    "Monitor ge: Asystole", s(10))]
    assert alarm(15, "none") == [] and alarm(20, "ecg-leads-off") != []  # ended, then a new episode
    # the connection drops while leads are off (its "none" is never heard); the leads go off again later:
    # a report after more than 30 s of none is a new episode, not the old one going on
    assert alarm(25, "ecg-leads-off") == []
    assert [r for r, *_ in alarm(60, "ecg-leads-off")] == ["device-alarm:device:ge:ecg-leads-off"]
    # each monitor is its own source
    assert [m for _, _, m, _ in alarm(61, "sensor-defective", "device:masimo")] == ["Monitor masimo: SpO2 sensor defective"]


def test_after_a_restart_a_device_alarm_that_ended_alarms_again_when_it_comes_back():
    watch = SignalWatch(DEFAULT_POLICY)
    watch.mark_active("device-alarm:device:bbraun/1:occlusion")  # stored, unacknowledged, before the restart
    assert watch.feed(Reading(P.PUMP_ALARM, 1, s(0), text="occlusion", source="device:bbraun/1")) == []  # goes on
    assert watch.feed(Reading(P.PUMP_ALARM, 0, s(5), text="none", source="device:bbraun/1")) == []
    again = watch.feed(Reading(P.PUMP_ALARM, 1, s(10), text="occlusion", source="device:bbraun/1"))
    assert [f.message for f in again] == ["Pump bbraun/1: Occlusion"]
    watch.mark_active("device-alarm:device:bbraun/1:air-alarm")
    assert watch.feed(Reading(P.PUMP_ALARM, 0, s(15), text="none", source="device:bbraun/1")) == []
    assert [f.message for f in watch.feed(Reading(P.PUMP_ALARM, 1, s(20), text="air-alarm",
                                                  source="device:bbraun/1"))] == ["Pump bbraun/1: Air in line"]
