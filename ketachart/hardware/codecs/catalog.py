"""The codecs by protocol name: every protocol module (each registers itself in ``base.CODECS``) and the
lookup. Add a line when adding a protocol.

Listed explicitly and imported without suppression: a protocol that fails to import is a bug to see at
once, not a device that silently disappears from the registry.
"""

from __future__ import annotations

from . import bbraun_bcc, ge_dri, hl7_mllp, masimo, philips_mib  # noqa: F401
from .base import CODECS, Codec, DeviceSettings


def protocols() -> list[str]:
    return sorted(CODECS)


def codec_for(name: str, settings: DeviceSettings | None = None) -> Codec:
    """A new codec for a protocol name (``ge``, ``philips``, ``masimo``, ``hl7``, ``bbraun``).

    Without ``settings`` the codec reads zone-less device times as UTC (tests, raw decoding); the link
    and the command line always pass the chair's settings, whose default zone is the chair's own."""
    try:
        codec = CODECS[name]()
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; choose one of {', '.join(sorted(CODECS))}") from None
    if settings is not None:
        codec.configure(settings)
    return codec
