"""Real captures from public projects (tests/hardware/captures/README.md): decode equals the ground truth.

GE AS/3: 123 good frames, 2 bad checksums, 403 junk bytes, and the records equal VSCapture's CSV row for row.
Philips host side: 182 valid frames, 1 truncated, recognised as host traffic, nothing charted.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ketachart.domain.codes import Parameter
from ketachart.domain.readings import Quality
from ketachart.hardware.cli import decode_bytes
from ketachart.hardware.codecs.base import DeviceInfoEvent
from ketachart.hardware.codecs.catalog import codec_for

from .devtools import at, feed, readings

CAPTURES = Path(__file__).parent / "captures"
GE_RAW = (CAPTURES / "ge-as3" / "AS3Rawoutput1.raw").read_bytes()
PHILIPS_RAW = (CAPTURES / "philips-host" / "MPRawoutput1.raw").read_bytes()
_ROW = re.compile(r"(\d\d/\d\d/\d{4} \d\d:\d\d:\d\d),(.*?)(?=\d\d/\d\d/\d{4} \d\d:|\r|\n|Time,|$)")
COLUMNS = ("ECG_HR", "NIBP_Systolic", "NIBP_Diastolic", "NIBP_Mean", "SpO2", "ET_CO2", "AA_ET", "AA_FI",
           "AA_MAC_SUM", "Agent_AA", "O2_FI", "N2O_FI", "N2O_ET", "CO2_RR", "T1_Temp", "T2_Temp")


def csv_rows() -> list[dict]:
    """VSCapture's CSV, read by timestamps: some rows are glued together and headers repeat."""
    text = (CAPTURES / "ge-as3" / "AS3DataExport.csv").read_text(encoding="utf-8-sig")
    rows = []
    for when, rest in _ROW.findall(text):
        row = dict(zip(COLUMNS, rest.split(",")))
        row["time"] = datetime.strptime(when, "%m/%d/%Y %H:%M:%S").replace(tzinfo=timezone.utc)
        rows.append(row)
    return rows


def ge_records(chunks: str = "whole") -> tuple[list[dict], object]:
    codec = codec_for("ge")
    records: dict[datetime, dict] = {}
    order: list[datetime] = []
    for r in readings(feed(codec, GE_RAW, chunks=chunks, seed=7)):
        if r.device_time not in records:
            records[r.device_time] = {}
            order.append(r.device_time)
        records[r.device_time][r.parameter] = r
    return [records[t] | {"time": t} for t in order], codec


def _csv_value(text: str) -> float | None:
    return None if text.strip() in ("-", "") else float(text)


@pytest.mark.parametrize("chunks", ["whole", "random"])
def test_ge_as3_frames_and_junk_equal_the_ground_truth(chunks):
    _, codec = ge_records(chunks)
    assert (codec.stats.frames_ok, codec.stats.frames_bad, codec.stats.junk_bytes) == (123, 2, 403)


def test_ge_as3_records_equal_vscapture_csv_row_for_row():
    rows = csv_rows()
    records, _ = ge_records()
    assert len(rows) == len(records) == 123
    for row, rec in zip(rows, records):
        assert rec["time"] == row["time"]  # device time equals the CSV's time
        assert rec[Parameter.HR].value == _csv_value(row["ECG_HR"]) == 78.0
        assert rec[Parameter.SPO2].value is None and _csv_value(row["SpO2"]) is None
        assert rec[Parameter.TEMP].value is None and _csv_value(row["T1_Temp"]) is None
        for p in (Parameter.NIBP_SYS, Parameter.NIBP_DIA, Parameter.NIBP_MEAN):
            assert p not in rec  # no cuff measurement in the whole capture
        assert _csv_value(row["NIBP_Systolic"]) is None
        # etCO2 0 and CO2 RR 0 with the CO2 group's apnea bit: real zeros, flagged apnea
        assert rec[Parameter.ETCO2].value == _csv_value(row["ET_CO2"]) == 0.0
        assert rec[Parameter.RR].value == _csv_value(row["CO2_RR"]) == 0.0
        assert Quality.APNEA in rec[Parameter.ETCO2].flags and Quality.APNEA in rec[Parameter.RR].flags


def test_ge_as3_decode_command_summary():
    out = list(decode_bytes("ge", GE_RAW, frames=False))
    summary = out[-1]
    assert (summary["frames_ok"], summary["frames_bad"], summary["junk_bytes"]) == (123, 2, 403)
    assert [o["value"] for o in out if o.get("param") == "HR"] == [78.0] * 123


@pytest.mark.parametrize("chunks", ["whole", "random", "bytes"])
def test_philips_host_capture_is_recognised_as_host_traffic_and_charts_nothing(chunks):
    codec = codec_for("philips")
    events = feed(codec, PHILIPS_RAW, chunks=chunks, seed=3)
    assert readings(events) == []
    assert (codec.stats.frames_ok, codec.stats.frames_bad) == (182, 1)
    assert codec.host_traffic
    assert sum(1 for e in events if isinstance(e, DeviceInfoEvent) and "host-side traffic" in e.value) == 1


def test_philips_host_capture_decode_summary():
    summary = list(decode_bytes("philips", PHILIPS_RAW, frames=False, now=at(0)))[-1]
    assert (summary["frames_ok"], summary["frames_bad"], summary["readings"], summary["host_traffic"]) == (
        182, 1, 0, True)
