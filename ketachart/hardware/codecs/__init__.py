"""Sans-IO protocol codecs: bytes in -> events out, commands -> bytes out.

No I/O, no threads, no Qt and no clock reads: time is passed in by the caller.
"""

from .base import CODECS, Codec, DeviceInfoEvent, FrameEvent, LinkHint, ReadingEvent
from .catalog import codec_for

__all__ = ["CODECS", "Codec", "DeviceInfoEvent", "FrameEvent", "LinkHint", "ReadingEvent", "codec_for"]
