"""Import every protocol module so each registers itself. Add a line when adding a protocol.

Listed explicitly and imported without suppression: a protocol that fails to import is a bug to see at
once, not a device that silently disappears from the registry.
"""

from . import bbraun_bcc, ge_dri, hl7_mllp, masimo, philips_mib  # noqa: F401
