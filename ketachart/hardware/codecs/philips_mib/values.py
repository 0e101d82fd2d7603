"""What the numbers mean (sections 7-9): FLOAT-Type, MeasurementState and the quality flags it implies,
absolute and relative time, and which physio ids and units map to our parameters."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo

from ....domain.codes import Parameter
from ....domain.readings import Quality

# ----------------------------------------------------------------------------------------------------------
# Values: FLOAT-Type, MeasurementState, time (sections 7 and 9)
# ----------------------------------------------------------------------------------------------------------
FLOAT_NAN = 0x7FFFFF
FLOAT_NRES = 0x800000
FLOAT_POS_INF = 0x7FFFFE
FLOAT_NEG_INF = 0x800002
FLOAT_SPECIALS = {FLOAT_NAN: "nan", FLOAT_NRES: "nres", FLOAT_POS_INF: "+inf", FLOAT_NEG_INF: "-inf"}


def decode_float(raw: int) -> tuple[float | None, str]:
    """(value, "") or (None, special name). Specials are checked on the raw 24-bit mantissa."""
    mant = raw & 0xFFFFFF
    special = FLOAT_SPECIALS.get(mant)
    if special:
        return None, special
    exp = (raw >> 24) & 0xFF
    if exp >= 0x80:
        exp -= 0x100
    if mant >= 0x800000:
        mant -= 0x1000000
    # Divide for negative exponents so 11830 e-2 is exactly the float 118.3.
    return (float(mant * 10**exp) if exp >= 0 else mant / 10 ** (-exp)), ""


MS_INVALID = 0x8000
MS_QUESTIONABLE = 0x4000
MS_UNAVAILABLE = 0x2000
MS_CALIBRATION_ONGOING = 0x1000
MS_TEST_DATA = 0x0800
MS_DEMO_DATA = 0x0400
MS_VALIDATED_DATA = 0x0080
MS_EARLY_INDICATION = 0x0040
MS_MSMT_ONGOING = 0x0020
MS_IN_ALARM = 0x0002
MS_AL_INHIBITED = 0x0001

STATE_QUALITY: tuple[tuple[int, Quality], ...] = (
    (MS_INVALID, Quality.INVALID),
    (MS_QUESTIONABLE, Quality.QUESTIONABLE),
    (MS_UNAVAILABLE, Quality.UNAVAILABLE),
    (MS_CALIBRATION_ONGOING, Quality.CALIBRATING),
    (MS_TEST_DATA, Quality.DEMO),  # test signal: not this patient, like demo data
    (MS_DEMO_DATA, Quality.DEMO),
)
# Section 7: chart a number only when these are clear (calibration added: the domain blocks it anyway).
NO_NUMBER_STATES = MS_INVALID | MS_QUESTIONABLE | MS_UNAVAILABLE | MS_TEST_DATA | MS_CALIBRATION_ONGOING
SPECIAL_QUALITY = {
    "nan": Quality.UNAVAILABLE,
    "nres": Quality.OUT_OF_RANGE,
    "+inf": Quality.OUT_OF_RANGE,
    "-inf": Quality.OUT_OF_RANGE,
}
_QUALITY_STATES = 0  # every MeasurementState bit STATE_QUALITY looks at
for _bit, _quality in STATE_QUALITY:
    _QUALITY_STATES |= _bit
del _bit, _quality


def _reading_flags(quality_states: int, special: str, unknown_unit: bool) -> frozenset[Quality]:
    """A reading's quality flags from its MeasurementState bits, FLOAT special and unit."""
    flags = {q for bit, q in STATE_QUALITY if quality_states & bit}
    if special:
        flags.add(SPECIAL_QUALITY[special])
    if unknown_unit:
        flags.add(Quality.QUESTIONABLE)
    return frozenset(flags)


# (quality state bits, special, unknown unit) -> flags; at most 64 * 5 * 2 entries, filled as seen
_FLAGS: dict[tuple[int, str, bool], frozenset[Quality]] = {}

TICKS_PER_SECOND = 8000  # RelativeTime counts 125 us
REL_TIME_MODULUS = 1 << 32
# UNCONFIRMED: which zone the monitor's wall clock is in. The store wants aware times; set per clinic.
DEVICE_CLOCK_TZ: tzinfo = timezone.utc


def rel_ticks(seconds: float) -> int:
    return int(round(seconds * TICKS_PER_SECOND))


def signed_tick_delta(from_raw: int, to_raw: int) -> int:
    """``to - from`` on the 32-bit RelativeTime circle, as the shortest signed step (handles rollover)."""
    d = (to_raw - from_raw) % REL_TIME_MODULUS
    return d - REL_TIME_MODULUS if d >= REL_TIME_MODULUS // 2 else d


def _bcd(b: int) -> int:
    hi, lo = b >> 4, b & 0x0F
    if hi > 9 or lo > 9:
        raise ValueError("not BCD")
    return hi * 10 + lo


ABS_TIME_UNSET = b"\xff" * 8


def _bcd_or_none(b: int) -> int | None:
    try:
        return _bcd(b)
    except ValueError:
        return None


_BCD_VALUE = tuple(_bcd_or_none(b) for b in range(256))  # None: not a BCD byte


def decode_abs_time(raw: bytes) -> datetime | None:
    """AbsoluteTime (8 BCD bytes: century, year, month, day, hour, minute, second, 1/100 s); naive."""
    if len(raw) != 8 or raw == ABS_TIME_UNSET:
        return None
    digits = [_BCD_VALUE[b] for b in raw]
    if None in digits:
        return None
    c, y, mo, d, h, mi, s, f = digits
    try:
        return datetime(c * 100 + y, mo, d, h, mi, s, f * 10000)
    except ValueError:
        return None


class RelativeTimeline:
    """Maps the monitor's RelativeTime to its wall clock from the MDS Create anchors (section 9).

    Keeps a running unwrapped tick count so a 32-bit rollover (every 6.2 days) or a slightly older stamp
    does not jump the clock by days.
    """

    def __init__(self, anchor_abs: datetime, anchor_rel: int) -> None:
        self.anchor_abs = anchor_abs
        self._last_raw = anchor_rel
        self._ticks = 0  # since the anchor

    def advance(self, raw: int) -> datetime | None:
        """Wall time of a reply stamp; moves the timeline forward."""
        self._ticks += signed_tick_delta(self._last_raw, raw)
        self._last_raw = raw
        return self._at(self._ticks)

    def peek(self, raw: int) -> datetime | None:
        """Wall time of a stamp near the current position (e.g. an NIBP measured a while ago)."""
        return self._at(self._ticks + signed_tick_delta(self._last_raw, raw))

    def _at(self, ticks: int) -> datetime | None:
        try:
            return self.anchor_abs + timedelta(microseconds=ticks * 125)
        except OverflowError:
            return None


def association_timeout_s(min_poll_period_ticks: int) -> float:
    """How long the monitor keeps a silent association (section 10 rule)."""
    p = min_poll_period_ticks / TICKS_PER_SECOND
    if p <= 3.3:
        return 10.0
    if p <= 43.0:
        return 3.0 * p
    return 130.0



# Physio ids (partition 2) and units (partition 4), section 8.
NOM_ECG_CARD_BEAT_RATE = 0x4182
NOM_PULS_RATE = 0x480A
NOM_PLETH_PULS_RATE = 0x4822
NOM_PULS_OXIM_SAT_O2 = 0x4BB8
NOM_PULS_OXIM_PERF_REL = 0x4BB0
NOM_PRESS_BLD_NONINV = 0x4A04
NOM_PRESS_BLD_NONINV_SYS = 0x4A05
NOM_PRESS_BLD_NONINV_DIA = 0x4A06
NOM_PRESS_BLD_NONINV_MEAN = 0x4A07
NOM_RESP_RATE = 0x500A
NOM_AWAY_RESP_RATE = 0x5012
NOM_AWAY_CO2 = 0x50AC
NOM_AWAY_CO2_ET = 0x50B0
NOM_TEMP = 0x4B48
TEMP_SITES = (0x4B60, 0x4B64, 0x4B6C, 0x4B74, 0x4B78, 0xE004, 0xE014, 0xF108, 0xF10C)
LABEL_PARTITION = 0x00020000

UNIT_NOS = 0x0000
UNIT_DIMLESS = 0x0200
UNIT_PERCENT = 0x0220
UNIT_BPM = 0x0AA0
UNIT_RESP_PER_MIN = 0x0AE0
UNIT_MMHG = 0x0F20
UNIT_KPA = 0x0F03
UNIT_DEGC = 0x17A0
UNIT_DEGF = 0x1140

PHYSIO_PARAMETER: dict[int, Parameter] = {
    NOM_ECG_CARD_BEAT_RATE: Parameter.HR,
    NOM_PULS_RATE: Parameter.PR,
    NOM_PLETH_PULS_RATE: Parameter.PR,
    NOM_PULS_OXIM_SAT_O2: Parameter.SPO2,
    NOM_PULS_OXIM_PERF_REL: Parameter.PI,
    NOM_PRESS_BLD_NONINV_SYS: Parameter.NIBP_SYS,
    NOM_PRESS_BLD_NONINV_DIA: Parameter.NIBP_DIA,
    NOM_PRESS_BLD_NONINV_MEAN: Parameter.NIBP_MEAN,
    NOM_RESP_RATE: Parameter.RR,
    NOM_AWAY_RESP_RATE: Parameter.RR,
    NOM_AWAY_CO2_ET: Parameter.ETCO2,
    NOM_TEMP: Parameter.TEMP,
    **{site: Parameter.TEMP for site in TEMP_SITES},
}
NIBP_PHYSIO = frozenset({NOM_PRESS_BLD_NONINV_SYS, NOM_PRESS_BLD_NONINV_DIA, NOM_PRESS_BLD_NONINV_MEAN})
# A compound NIBP with any of these set is not a new reading (section 6.5, tuple rule).
NIBP_NOT_NEW_STATES = MS_INVALID | MS_QUESTIONABLE | MS_UNAVAILABLE | MS_MSMT_ONGOING

KPA_TO_MMHG = 760.0 / 101.325


_NO_UNITS: dict[int, tuple[str, object]] = {}


def _same(v: float) -> float:
    return v


# unit code -> (UCUM unit, conversion to it), per parameter. Anything else is not charted.
UNITS: dict[Parameter, dict[int, tuple[str, object]]] = {
    Parameter.HR: {UNIT_BPM: ("/min", _same)},
    Parameter.PR: {UNIT_BPM: ("/min", _same)},
    Parameter.RR: {UNIT_RESP_PER_MIN: ("/min", _same), UNIT_BPM: ("/min", _same)},
    Parameter.SPO2: {UNIT_PERCENT: ("%", _same)},
    Parameter.PI: {UNIT_PERCENT: ("%", _same)},
    Parameter.NIBP_SYS: {UNIT_MMHG: ("mm[Hg]", _same), UNIT_KPA: ("mm[Hg]", lambda v: v * KPA_TO_MMHG)},
    Parameter.NIBP_DIA: {UNIT_MMHG: ("mm[Hg]", _same), UNIT_KPA: ("mm[Hg]", lambda v: v * KPA_TO_MMHG)},
    Parameter.NIBP_MEAN: {UNIT_MMHG: ("mm[Hg]", _same), UNIT_KPA: ("mm[Hg]", lambda v: v * KPA_TO_MMHG)},
    Parameter.TEMP: {UNIT_DEGC: ("Cel", _same), UNIT_DEGF: ("Cel", lambda v: (v - 32.0) * 5.0 / 9.0)},
    # etCO2 in % needs the barometric pressure to become mmHg: keep it in % rather than guess.
    Parameter.ETCO2: {
        UNIT_MMHG: ("mm[Hg]", _same),
        UNIT_KPA: ("mm[Hg]", lambda v: v * KPA_TO_MMHG),
        UNIT_PERCENT: ("%", _same),
    },
}
