"""MIB/RS-232 framing (section 2): BOF/EOF, transparency escapes, the FCS, and a resynchronising
frame decoder. Nothing here knows what a PDU means."""

from __future__ import annotations

import struct
from binascii import crc_hqx
from dataclasses import dataclass

# ----------------------------------------------------------------------------------------------------------
# Framing (section 2)
# ----------------------------------------------------------------------------------------------------------
BOF = 0xC0
EOF = 0xC1
ESC = 0x7D
ESC_XOR = 0x20
PROTOCOL_ID = 0x11
MSG_TYPE = 0x01
FCS_INIT = 0xFFFF
FCS_GOOD_RESIDUE = 0xF0B8
FRAME_HEADER_LEN = 4
FCS_LEN = 2
# We advertise max_mtu_rx 2500; a "frame" much longer than that is noise, and dropping it early resyncs.
MAX_USER_DATA = 4096


def _fcs_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        v = n
        for _ in range(8):
            v = (v >> 1) ^ 0x8408 if v & 1 else v >> 1
        table.append(v)
    return tuple(table)


FCS_TABLE = _fcs_table()


# The FCS is the bit-reflected twin of CRC-CCITT (0x1021, MSB first), which binascii.crc_hqx computes in C:
# reversing the bits of every data byte and of the 16-bit register turns one into the other, so the whole
# frame is checked by two C calls instead of a Python step per byte. FCS_TABLE stays the reference.
_BIT_REVERSED = bytes(int(f"{n:08b}"[::-1], 2) for n in range(256))


def _reverse16(v: int) -> int:
    return (_BIT_REVERSED[v & 0xFF] << 8) | _BIT_REVERSED[v >> 8]


def fcs16(data: bytes, fcs: int = FCS_INIT) -> int:
    """The PPP FCS-16 register after ``data`` (not complemented)."""
    if not 0 <= fcs <= 0xFFFF:  # not a register value: keep the table walk's exact arithmetic
        table = FCS_TABLE
        for b in data:
            fcs = (fcs >> 8) ^ table[(fcs ^ b) & 0xFF]
        return fcs
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    return _reverse16(crc_hqx(data.translate(_BIT_REVERSED), _reverse16(fcs)))


def fcs_bytes(data: bytes) -> bytes:
    """The two FCS bytes as sent: complemented register, low byte first."""
    v = ~fcs16(data) & 0xFFFF
    return bytes((v & 0xFF, v >> 8))


def escape(data: bytes) -> bytes:
    """Transparency: BOF, EOF and ESC inside a frame become ESC, byte ^ 0x20."""
    data = bytes(data)
    # ESC first, so the escapes added for BOF and EOF are not escaped again.
    return data.replace(b"\x7d", b"\x7d\x5d").replace(b"\xc0", b"\x7d\xe0").replace(b"\xc1", b"\x7d\xe1")


def wrap(body: bytes) -> bytes:
    """BOF + escaped(body + FCS(body)) + EOF; ``body`` is whatever the FCS covers."""
    return bytes((BOF,)) + escape(bytes(body) + fcs_bytes(body)) + bytes((EOF,))


def frame(user_data: bytes) -> bytes:
    """One wire frame carrying ``user_data`` (an association or data-export PDU)."""
    if len(user_data) > 0xFFFF:
        raise ValueError("user data longer than a frame can carry")
    return wrap(bytes((PROTOCOL_ID, MSG_TYPE)) + struct.pack(">H", len(user_data)) + bytes(user_data))


@dataclass(frozen=True)
class RawFrame:
    """What the byte-level decoder found between BOF and EOF (unescaped), or why it gave up."""

    body: bytes
    reason: str = ""  # "" = complete frame (still to be checked); "aborted" / "too-long" otherwise


class FrameDecoder:
    """Byte stream -> unescaped frame bodies. Resynchronises on every BOF; counts bytes outside frames."""

    def __init__(self, max_body: int = MAX_USER_DATA + FRAME_HEADER_LEN + FCS_LEN) -> None:
        self.max_body = max_body
        self.junk = 0
        self._buf = bytearray()
        self._in_frame = False
        self._esc = False

    def feed(self, data: bytes) -> list[RawFrame]:
        # Works on runs: bytes.find jumps to the next BOF/EOF, and a run between them is unescaped with
        # slices (one step per ESC, not per byte). The result, including junk counts, is that of walking
        # the bytes one at a time (see _walk_run, which does exactly that where a run could grow too long).
        out: list[RawFrame] = []
        n = len(data)
        find = data.find
        buf = self._buf
        max_body = self.max_body
        i = 0
        next_bof = find(BOF)  # positions at or after i once refreshed; -1 = none left in data
        next_eof = -2  # not looked up yet
        while i < n:
            if not self._in_frame:
                if 0 <= next_bof < i:
                    next_bof = find(BOF, i)
                if next_bof < 0:
                    self.junk += n - i
                    break
                self.junk += next_bof - i
                i = next_bof + 1
                self._in_frame, self._esc = True, False
                buf.clear()
                continue
            if 0 <= next_bof < i:
                next_bof = find(BOF, i)
            if next_eof == -2 or 0 <= next_eof < i:
                next_eof = find(EOF, i)
            # [i, end) holds no BOF/EOF: only data bytes and escapes
            if next_bof < 0:
                end = n if next_eof < 0 else next_eof
            elif next_eof < 0 or next_bof < next_eof:
                end = next_bof
            else:
                end = next_eof
            if end > i:
                if len(buf) + (end - i) <= max_body:  # unescaping never lengthens: cannot overflow here
                    self._unescape_run(data, i, end)
                else:
                    stop = self._walk_run(data, i, end, out)
                    if stop >= 0:  # too long: the frame is dropped, we are outside a frame again
                        i = stop
                        continue
            if end >= n:
                break
            i = end + 1
            if data[end] == BOF:  # a BOF is never escaped: the open frame is abandoned, a new one starts
                if buf or self._esc:
                    out.append(RawFrame(bytes(buf), "aborted"))
                buf.clear()
                self._esc = False
            else:  # EOF
                self._in_frame = False
                if self._esc:  # 7D C1: the sender aborted this frame
                    out.append(RawFrame(bytes(buf), "aborted"))
                elif buf:
                    out.append(RawFrame(bytes(buf)))
                else:
                    self.junk += 2  # "C0 C1": nothing to report as a frame
                self._esc = False
                buf.clear()
        return out

    def _unescape_run(self, data: bytes, i: int, end: int) -> None:
        """Append data[i:end] (no BOF/EOF in it) to the frame, undoing the transparency escapes."""
        buf = self._buf
        if self._esc:  # the escape arrived at the end of the previous run/chunk
            buf.append(data[i] ^ ESC_XOR)
            self._esc = False
            i += 1
        esc = data.find(ESC, i, end)
        while esc >= 0:
            buf += data[i:esc]
            if esc + 1 >= end:  # the escaped byte is still to come
                self._esc = True
                return
            buf.append(data[esc + 1] ^ ESC_XOR)
            i = esc + 2
            esc = data.find(ESC, i, end)
        buf += data[i:end]

    def _walk_run(self, data: bytes, i: int, end: int, out: list[RawFrame]) -> int:
        """Byte-by-byte form of _unescape_run that stops at the byte making the frame too long.

        Returns the index after that byte (the frame is then reported and dropped), or -1.
        """
        buf = self._buf
        for k in range(i, end):
            b = data[k]
            if self._esc:
                buf.append(b ^ ESC_XOR)
                self._esc = False
            elif b == ESC:
                self._esc = True
            else:
                buf.append(b)
            if len(buf) > self.max_body:
                out.append(RawFrame(bytes(buf), "too-long"))
                buf.clear()
                self._in_frame = self._esc = False
                return k + 1
        return -1


def check_frame(body: bytes) -> tuple[bytes | None, str]:
    """(user data, "") for a good frame body, else (None, reason)."""
    if len(body) < FRAME_HEADER_LEN + FCS_LEN:
        return None, "too-short"
    if fcs16(body) != FCS_GOOD_RESIDUE:
        return None, "bad-fcs"
    if body[0] != PROTOCOL_ID:
        return None, "bad-protocol"
    (length,) = struct.unpack_from(">H", body, 2)
    if length != len(body) - FRAME_HEADER_LEN - FCS_LEN:
        return None, "bad-length"
    return bytes(body[FRAME_HEADER_LEN:-FCS_LEN]), ""
