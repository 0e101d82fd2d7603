"""A garbled HL7 time zone (found by the fuzz test: '+2400' after a bit flip) is junk, never a crash."""

from __future__ import annotations

from datetime import timedelta

from ketachart.hardware.codecs.hl7_mllp import parse_hl7_time


def test_impossible_zone_offsets_are_junk_and_real_ones_read():
    assert parse_hl7_time("20260105093000+2400") is None
    assert parse_hl7_time("20260105093000-0060") is None
    assert parse_hl7_time("20260105093000+1400").utcoffset() == timedelta(hours=14)
    assert parse_hl7_time("20260105093000-0930").utcoffset() == -timedelta(hours=9, minutes=30)
