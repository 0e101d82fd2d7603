"""HL7 ORU^R01 as real clinics send it: a gateway for many beds, other patients, sentinels, vendor codes,
SN values, escapes, units, zone-less times, ACK addressing and ADT traffic (issue 14)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from ketachart.domain.readings import Quality
from ketachart.hardware.codecs.base import DeviceSettings, HeldResolvedEvent, PatientMismatchEvent
from ketachart.hardware.codecs.catalog import codec_for
from ketachart.hardware.codecs.hl7_mllp import frame, unescape

from .devtools import at, feed, readings, values

UTC = timezone.utc
TS = "20240315103000+0000"


def oru(obx: list[str], mrn: str = "MRN1", bed: str = "KETA^CHAIR^07", sender: str = "GW^0012A3FFFE4B5C6D^EUI-64",
        facility: str = "", control: str = "C1", when: str = TS, mtype: str = "ORU^R01^ORU_R01") -> bytes:
    segs = [f"MSH|^~\\&|{sender}|{facility}|KETACHART||{when}||{mtype}|{control}|P|2.6"]
    if mrn is not None:
        segs.append(f"PID|||{mrn}^^^KETA^MR||DOE^JANE")
    if bed is not None:
        segs.append(f"PV1||I|{bed}")
    segs.append(f"OBR|1|||182777000^monitoring of patient^SCT|||{when}")
    for i, row in enumerate(obx, 1):
        segs.append(f"OBX|{i}|{row}")
    return frame("\r".join(segs))


def nm(code: str, value: str, unit: str = "", when: str = TS, sub: str = "1.1.1.1", eq: str = "") -> str:
    return f"NM|{code}|{sub}|{value}|{unit}|||||R|||{when}||||{eq}"


HR = "147842^MDC_ECG_HEART_RATE^MDC"
SPO2 = "150456^MDC_PULS_OXIM_SAT_O2^MDC"
BPM = "264864^MDC_DIM_BEAT_PER_MIN^MDC"


def codec(**settings):
    c = codec_for("hl7", DeviceSettings(device_tz="UTC", **settings))
    return c


def test_other_beds_on_a_gateway_are_ignored_and_counted():
    c = codec(bed="KETA^CHAIR^07")
    ev = feed(c, oru([nm(HR, "61", BPM)], mrn="MRN1", bed="KETA^CHAIR^07", control="A")
              + oru([nm(HR, "140", BPM)], mrn="MRN2", bed="KETA^CHAIR^08", control="B"))
    assert [r.value for r in readings(ev)] == [61.0]
    assert c.stats.ignored["other-bed"] == 1
    assert c.data_to_send().count(b"MSA|AA|") == 2  # both are acknowledged: the gateway must not resend


@pytest.mark.parametrize("setting", ["07", "KETA^CHAIR^07", "keta^chair^07^^"])
def test_bed_setting_forms(setting):
    c = codec(bed=setting)
    assert values(feed(c, oru([nm(HR, "61", BPM)], bed="KETA^CHAIR^07"))) == {"HR": 61.0}
    assert values(feed(c, oru([nm(HR, "62", BPM)], bed="KETA^CHAIR^17", control="2"))) == {}


def test_same_second_on_two_beds_is_not_a_duplicate():
    """Unconfigured connection: the duplicate key holds patient and bed, so bed 2's reading is not dropped as
    a repeat of bed 1's (and the nurse is told to set the bed)."""
    c = codec()
    ev = feed(c, oru([nm(HR, "61", BPM)], mrn="MRN1", bed="U^R^1", control="A")
              + oru([nm(HR, "140", BPM)], mrn="MRN2", bed="U^R^2", control="B"))
    assert sorted(r.value for r in readings(ev)) == [61.0, 140.0]
    assert any(getattr(e, "key", "") == "warning" for e in ev)
    # the very same observation again is a repeat
    assert readings(feed(c, oru([nm(HR, "61", BPM)], mrn="MRN1", bed="U^R^1", control="C"))) == []
    assert c.stats.ignored["repeat"] == 1


def test_another_patient_is_held_until_the_nurse_confirms():
    c = codec(patient_mrn="MRN1")
    ev = feed(c, oru([nm(HR, "70", BPM), nm(SPO2, "97", "%")], mrn="MRN9", control="A"))
    assert readings(ev) == []
    (mismatch,) = [e for e in ev if isinstance(e, PatientMismatchEvent)]
    assert (mismatch.device_mrn, mismatch.chart_mrn, mismatch.readings) == ("MRN9", "MRN1", 2)
    ev = feed(c, oru([nm(HR, "71", BPM, when="20240315103001+0000")], mrn="MRN9", control="B"))
    assert [e.hold_id for e in ev if isinstance(e, PatientMismatchEvent)] == [mismatch.hold_id]
    assert c.held == {mismatch.hold_id: 3}
    c.resolve_held(mismatch.hold_id, True, at(5))
    ev = c.events()
    assert [r.value for r in readings(ev)] == [70.0, 97.0, 71.0]
    assert HeldResolvedEvent(mismatch.hold_id, True, 3) in ev
    # confirmed: the monitor's id for this patient is charted from now on
    assert values(feed(c, oru([nm(HR, "72", BPM, when="20240315103002+0000")], mrn="MRN9", control="C"))) == {"HR": 72}


def test_rejected_patient_is_dropped_and_stays_out():
    c = codec(patient_mrn="MRN1")
    ev = feed(c, oru([nm(HR, "140", BPM)], mrn="MRN2"))
    (hold,) = [e.hold_id for e in ev if isinstance(e, PatientMismatchEvent)]
    c.resolve_held(hold, False, at(1))
    assert readings(c.events()) == [] and c.stats.ignored["rejected"] == 1
    assert readings(feed(c, oru([nm(HR, "141", BPM, when="20240315103005+0000")], mrn="MRN2", control="2"))) == []
    assert c.stats.ignored["other-patient"] == 1
    # this chart's own patient still flows
    assert values(feed(c, oru([nm(HR, "66", BPM)], mrn="MRN1", control="3"))) == {"HR": 66.0}


def test_a_new_chart_drops_holds_for_the_previous_one():
    c = codec(patient_mrn="MRN1")
    feed(c, oru([nm(HR, "140", BPM)], mrn="MRN2"))
    c.set_patient("MRN3")
    ev = c.events()
    assert any(isinstance(e, HeldResolvedEvent) and not e.accepted for e in ev) and c.held == {}


def test_message_without_patient_id_is_charted_by_bed():
    c = codec(patient_mrn="MRN1", bed="07")
    assert values(feed(c, oru([nm(HR, "61", BPM)], mrn=None))) == {"HR": 61.0}


def test_monitor_filter_by_sending_application_or_equipment_id():
    c = codec(monitor="0012A3FFFE4B5C6D")
    assert values(feed(c, oru([nm(HR, "61", BPM)]))) == {"HR": 61.0}
    # a gateway as sender: the rows of the other monitor (OBX-18, inherited from its containment row) are ignored
    rows = ["|69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||AAAAAAAAAAAAAAAA^EUI-64",
            nm(HR, "150", BPM, sub="1.1.1.1"),
            "|69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|2.0.0.0|||||||X|||||||0012A3FFFE4B5C6D^EUI-64",
            nm(SPO2, "96", "%", sub="2.1.1.1")]
    c = codec(monitor="0012A3FFFE4B5C6D")
    assert values(feed(c, oru(rows, sender="GATEWAY^1^L", control="G"))) == {"SPO2": 96.0}
    assert c.stats.ignored["other-monitor"] == 1


@pytest.mark.parametrize("code,value", [(HR, "-999"), (HR, "-100"), (SPO2, "-99.9"), (HR, "0"),
                                        ("150344^MDC_TEMP^MDC", "384.5")])
def test_sentinels_and_impossible_values_are_invalid_not_numbers(code, value):
    (r,) = readings(feed(codec(), oru([nm(code, value)])))
    assert r.value is None and {Quality.INVALID, Quality.OUT_OF_RANGE} <= r.flags


@pytest.mark.parametrize("value", ["1_0", "\u0667\u0660", "nan", "inf", "1e2", " 7 0", "٧٠"])
def test_strict_numbers(value):
    assert readings(feed(codec(), oru([nm(HR, value, BPM)]))) == []


@pytest.mark.parametrize("code,param", [
    ("0002-4182^HR^MDIL", "HR"), ("0002-4bb8^SpO2^MDIL", "SPO2"), ("0002-480a^Pulse^MDIL", "PR"),
    ("0002-4822^Pulse^MDIL", "PR"), ("0002-4a05^NBPs^MDIL", "NIBP_SYS"), ("0002-500a^RR^MDIL", "RR"),
    ("0002-50b0^etCO2^MDIL", "ETCO2"), ("0002-4b48^Temp^MDIL", "TEMP"), ("9999-9999^NBPd^MDIL", "NIBP_DIA"),
    ("150301^MDC_PRESS_CUFF_SYS^MDC", "NIBP_SYS"), ("151594^MDC_CO2_RESP_RATE^MDC", "RR"),
    ("151708^MDC_AWAY_CO2_ET^MDC", "ETCO2"), ("8867-4^Heart rate^LN", "HR"),
])
def test_philips_mdil_and_vendor_codes(code, param):
    value = "37" if param == "TEMP" else "80"
    (r,) = readings(feed(codec(), oru([nm(code, value)])))
    assert r.parameter.value == param and r.value == float(value)


@pytest.mark.parametrize("code,site", [
    ("150388^MDC_TEMP_SKIN^MDC", "skin"), ("188452^MDC_TEMP_AXILLA^MDC", "axillary"),
    ("150368^MDC_TEMP_CORE^MDC", "core"), ("0002-4b74^Tskin^MDIL", "skin"), ("0002-f10c^Taxil^MDIL", "axillary"),
    ("99999^MDC_TEMP_AXILLA^MDC", "axillary"), ("150344^MDC_TEMP^MDC", None), ("150364^MDC_TEMP_BODY^MDC", None),
])
def test_temperature_sites_map_to_temp_with_the_site_kept(code, site):
    (r,) = readings(feed(codec(), oru([nm(code, "36.6", "268192^MDC_DIM_DEGC^MDC")])))
    assert (r.parameter.value, r.value, r.site) == ("TEMP", 36.6, site)
    assert r.to_json().get("site") == site


def test_structured_numeric_values():
    rows = [f"SN|{HR}|1|^72|{BPM}|||||R|||{TS}", f"SN|{SPO2}|2|=^97|%|||||R|||{TS}",
            f"SN|151562^MDC_RESP_RATE^MDC|3|>^150||||||R|||{TS}"]
    rs = {r.parameter.value: r for r in readings(feed(codec(), oru(rows)))}
    assert rs["HR"].value == 72 and rs["SPO2"].value == 97
    assert rs["RR"].value is None and Quality.OUT_OF_RANGE in rs["RR"].flags


def test_escape_sequences():
    assert unescape(r"A\T\B\F\C\S\D\E\E\X41\\.br\Z") == "A&B|C^D\\EAZ"
    c = codec(patient_mrn="A&B")
    assert values(feed(c, oru([nm(HR, "61", BPM)], mrn=r"A\T\B"))) == {"HR": 61.0}


@pytest.mark.parametrize("code,value,unit,expected", [
    ("150344^MDC_TEMP^MDC", "98.6", "[degF]^[degF]^UCUM", 37.0),
    ("150344^MDC_TEMP^MDC", "98.6", "266560^MDC_DIM_FAHR^MDC", 37.0),
    ("151708^MDC_AWAY_CO2_ET^MDC", "5.0", "kPa", 37.5),
    ("151708^MDC_AWAY_CO2_ET^MDC", "51", "cmH2O", 37.5),
    ("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "16", "265987^MDC_DIM_KILO_PASCAL^MDC", 120.0),
])
def test_units_are_converted_to_ucum(code, value, unit, expected):
    (r,) = readings(feed(codec(), oru([nm(code, value, unit)])))
    assert r.value == pytest.approx(expected, abs=0.1) and not r.flags and r.unit == r.parameter.unit


def test_times_without_offset_are_read_in_the_device_zone():
    c = codec_for("hl7", DeviceSettings(device_tz="America/New_York"))
    (r,) = readings(feed(c, oru([nm(HR, "61", BPM, when="20240715103000")], when="20240715103000")))
    assert r.device_time == datetime(2024, 7, 15, 14, 30, tzinfo=UTC)  # EDT, UTC-4


def test_device_zone_defaults_to_the_chairs_own_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Australia/Sydney")
    assert DeviceSettings().zone() == ZoneInfo("Australia/Sydney")
    c = codec_for("hl7", DeviceSettings())
    (r,) = readings(feed(c, oru([nm(HR, "61", BPM, when="20240115103000")], when="20240115103000")))
    assert r.device_time == datetime(2024, 1, 14, 23, 30, tzinfo=UTC)  # AEDT, UTC+11


def test_ack_echoes_sender_application_and_facility():
    c = codec()
    feed(c, oru([nm(HR, "61", BPM)], sender="MONAPP^1.2.3^ISO", facility="WARD3", control="X9"))
    ack = c.data_to_send().decode()
    msh = ack.split("\r")[0].lstrip("\x0b").split("|")
    assert (msh[2], msh[4], msh[5], msh[8]) == ("KETACHART", "MONAPP^1.2.3^ISO", "WARD3", "ACK^R01^ACK")
    assert "MSA|AA|X9" in ack


def test_adt_is_acknowledged_ignored_and_counted():
    c = codec()
    adt = oru([nm("29463-7^Body weight^LN", "80", "kg")], mtype="ADT^A08^ADT_A01", control="ADT1")
    assert readings(feed(c, adt)) == []
    ack = c.data_to_send().decode()
    assert "ACK^A08^ACK" in ack and "MSA|AA|ADT1" in ack
    assert c.stats.ignored["adt"] == 1


from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 400), st.integers(1, 255), st.sampled_from(["MRN1", "MRN2", ""]),
       st.sampled_from(["KETA^CHAIR^07", "KETA^CHAIR^08", ""]))
def test_fuzz_gateway_messages_never_crash_and_never_chart_another_patient(pos, xor, mrn, bed):
    """A flipped byte anywhere outside the identifying fields (HL7 has no checksum: a flipped MRN is another
    MRN) may lose a message, never put another patient's or another bed's value on this chart."""
    c = codec(bed="07", patient_mrn="MRN1")
    msg = bytearray(oru([nm(HR, "61", BPM)], mrn=mrn or None, bed=bed or None))
    pos %= len(msg)
    for tag in (b"PID|", b"PV1|"):
        i = msg.find(tag)
        if i >= 0:
            assume(not i <= pos < msg.find(b"\r", i))
    msg[pos] ^= xor
    charted = [r for r in readings(feed(c, bytes(msg))) if r.value is not None]
    if mrn == "MRN2" or not bed or bed.endswith("08"):
        assert charted == []


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="^~\\&|#!x", max_size=5), st.text(alphabet="\\FSTREX0123456789ABCDEF.br^&~", max_size=30))
def test_fuzz_odd_encoding_characters_and_escapes_never_crash(enc, field):
    """MSH-2 may declare any separators and any field may hold broken escapes: acknowledged, never a crash."""
    msg = (f"MSH|{enc}|APP|FAC|KETACHART||{TS}||ORU^R01|Z9|P|2.6\rPID|||{field}^^^X^MR\rPV1||I|{field}\r"
           f"OBX|1|NM|{field}^MDC_ECG_HEART_RATE^MDC|1|72|{field}|||||R|||{TS}||||{field}")
    c = codec(patient_mrn="MRN1", bed="07", monitor=field or None)
    c.receive_data(frame(msg), at(0))
    c.events()
    assert b"MSA|" in c.data_to_send()
    unescape(field, enc)


def test_a_closed_connection_withdraws_its_held_question():
    c = codec(patient_mrn="MRN1")
    ev = feed(c, oru([nm(HR, "140", BPM)], mrn="MRN2"))
    (hold,) = [e.hold_id for e in ev if isinstance(e, PatientMismatchEvent)]
    c.close(at(1))
    assert HeldResolvedEvent(hold, False, 1) in c.events() and c.held == {}


@pytest.mark.parametrize("flip", [0x01, 0x5E, 0x2D])
def test_a_damaged_separator_before_pid_does_not_lose_the_patient_check(flip):
    """Found by the fuzz test in CI: the CR before PID flipped glued PID onto MSH, the message then named no
    patient and another patient's HR 61 was charted. Such a message is refused (AR), never charted."""
    c = codec(bed="07", patient_mrn="MRN1")
    msg = bytearray(oru([nm(HR, "61", BPM)], mrn="MRN2"))
    msg[msg.find(b"\rPID|")] ^= flip
    ev = feed(c, bytes(msg))
    assert [r for r in readings(ev) if r.value is not None] == []
    assert b"MSA|AR|" in c.data_to_send()
