"""The monitor's side of the IntelliVue wire: the PDUs only a monitor sends (association accept, MDS
Create event, poll replies, errors) and the value encoders behind them. The simulator speaks with these;
the codec never needs them."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence
from ..codecs.philips_mib.pdus import (
    ROER,
    ROIV,
    ROLRS,
    RORS,
    ALERT_MONITOR,
    _association_pdu,
    attribute_list,
    CMD_CONFIRMED_ACTION,
    CMD_CONFIRMED_EVENT_REPORT,
    DEFAULT_MIN_POLL_PERIOD,
    DEFAULT_POLL_EXT_OPTIONS,
    encode_ro,
    encode_user_info,
    mds_object_id,
    NOM_ACT_POLL_MDIB_DATA,
    NOM_ACT_POLL_MDIB_DATA_EXT,
    NOM_ATTR_GRP_VMO_STATIC,
    NOM_ATTR_ID_LABEL,
    NOM_ATTR_NU_CMPD_VAL_OBS,
    NOM_ATTR_NU_VAL_OBS,
    NOM_ATTR_TIME_ABS,
    NOM_ATTR_TIME_REL,
    NOM_ATTR_TIME_STAMP_REL,
    NOM_NOTI_MDS_CREAT,
    NUMERICS,
    SPDU_AC,
    SYST_SERVER,
    _u16,
    _u32,
)
from ..codecs.philips_mib.values import (
    ABS_TIME_UNSET,
    FLOAT_NAN,
)


def encode_float(value: float | None, decimals: int = 0) -> int:
    """FLOAT-Type with ``decimals`` digits after the point; None -> NaN."""
    if value is None:
        return FLOAT_NAN
    mant = round(value * 10**decimals)
    if not -0x7FFFFD <= mant <= 0x7FFFFD:
        raise ValueError(f"{value} does not fit a FLOAT-Type at {decimals} decimals")
    return ((-decimals & 0xFF) << 24) | (mant & 0xFFFFFF)


def _to_bcd(v: int) -> int:
    return ((v // 10) << 4) | (v % 10)


def encode_abs_time(when: datetime | None) -> bytes:
    if when is None:
        return ABS_TIME_UNSET
    return bytes(
        _to_bcd(v)
        for v in (when.year // 100, when.year % 100, when.month, when.day, when.hour, when.minute, when.second,
                  when.microsecond // 10000)
    )


# UNCONFIRMED: a real monitor's accept header; taken from a public simulator. Clients never rely on it.
AARE_PRESENTATION_HEADER = bytes.fromhex(
    "3180a0808001010000a280a003000001a58030808001008102510100003080800100810c2a8648ce1402010000000201000000"
    "0061803080020101a0806180a180060c2a8648ce14020100000003010000a203020100a305a103020100be80288002010281"
)
def encode_association_accept(
    min_poll_period: int = DEFAULT_MIN_POLL_PERIOD, poll_ext_options: int = DEFAULT_POLL_EXT_OPTIONS
) -> bytes:
    return _association_pdu(
        SPDU_AC, AARE_PRESENTATION_HEADER, encode_user_info(SYST_SERVER, min_poll_period, poll_ext_options)
    )


def encode_mds_create_report(
    invoke_id: int, event_time: int, abs_time: datetime | None, rel_time: int,
    extra_attrs: Sequence[tuple[int, bytes]] = (),
) -> bytes:
    """Monitor's MDS Create Event Report (6.1), minimal attribute list plus ``extra_attrs``."""
    attrs = [(NOM_ATTR_TIME_ABS, encode_abs_time(abs_time)), (NOM_ATTR_TIME_REL, _u32(rel_time)), *extra_attrs]
    info = mds_object_id() + attribute_list(attrs)
    body = mds_object_id() + _u32(event_time) + _u16(NOM_NOTI_MDS_CREAT) + _u16(len(info)) + info
    return encode_ro(ROIV, invoke_id, CMD_CONFIRMED_EVENT_REPORT, body)


def nu_obs_value(physio_id: int, state: int, unit: int, raw_float: int) -> bytes:
    return _u16(physio_id) + _u16(state) + _u16(unit) + _u32(raw_float)


def ava_label(label: int) -> tuple[int, bytes]:
    return NOM_ATTR_ID_LABEL, _u32(label)


def ava_numeric(physio_id: int, state: int, unit: int, raw_float: int) -> tuple[int, bytes]:
    return NOM_ATTR_NU_VAL_OBS, nu_obs_value(physio_id, state, unit, raw_float)


def ava_compound(values: Sequence[tuple[int, int, int, int]]) -> tuple[int, bytes]:
    body = b"".join(nu_obs_value(*v) for v in values)
    return NOM_ATTR_NU_CMPD_VAL_OBS, _u16(len(values)) + _u16(len(body)) + body


def ava_time_stamp_rel(ticks: int) -> tuple[int, bytes]:
    return NOM_ATTR_TIME_STAMP_REL, _u32(ticks)


Observation = tuple[int, Sequence[tuple[int, bytes]]]  # (handle, attributes)


def _poll_info_list(contexts: Sequence[tuple[int, Sequence[Observation]]]) -> bytes:
    parts = []
    for context_id, observations in contexts:
        obs = b"".join(_u16(handle) + attribute_list(list(attrs)) for handle, attrs in observations)
        parts.append(_u16(context_id) + _u16(len(observations)) + _u16(len(obs)) + obs)
    body = b"".join(parts)
    return _u16(len(contexts)) + _u16(len(body)) + body


def encode_poll_reply(
    invoke_id: int, poll_number: int, sequence_no: int, rel_time: int, abs_time: datetime | None,
    contexts: Sequence[tuple[int, Sequence[Observation]]], obj_type: tuple[int, int] = NUMERICS,
    attr_group: int = 0, linked: tuple[int, int] | None = None,
) -> bytes:
    """Extended poll result (6.4) as RORS, or one ROLRS part when ``linked=(state, count)``."""
    reply = (
        _u16(poll_number) + _u16(sequence_no) + _u32(rel_time) + encode_abs_time(abs_time)
        + _u16(obj_type[0]) + _u16(obj_type[1]) + _u16(attr_group) + _poll_info_list(contexts)
    )
    body = mds_object_id() + _u16(NOM_ACT_POLL_MDIB_DATA_EXT) + _u16(len(reply)) + reply
    return encode_ro(ROLRS if linked else RORS, invoke_id, CMD_CONFIRMED_ACTION, body, linked)


def encode_single_poll_reply(
    invoke_id: int, poll_number: int, rel_time: int, abs_time: datetime | None,
    obj_type: tuple[int, int] = ALERT_MONITOR, attr_group: int = NOM_ATTR_GRP_VMO_STATIC,
    contexts: Sequence[tuple[int, Sequence[Observation]]] = (),
) -> bytes:
    reply = (
        _u16(poll_number) + _u32(rel_time) + encode_abs_time(abs_time)
        + _u16(obj_type[0]) + _u16(obj_type[1]) + _u16(attr_group) + _poll_info_list(contexts)
    )
    body = mds_object_id() + _u16(NOM_ACT_POLL_MDIB_DATA) + _u16(len(reply)) + reply
    return encode_ro(RORS, invoke_id, CMD_CONFIRMED_ACTION, body)


def encode_error(invoke_id: int, error_value: int) -> bytes:
    return encode_ro(ROER, invoke_id, error_value, b"")
