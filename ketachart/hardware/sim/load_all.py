"""Import every simulator module so each registers itself. Add a line when adding a protocol."""

import contextlib

for _name in ("ge_dri", "philips_mib", "masimo", "hl7_mllp", "bbraun_bcc"):
    with contextlib.suppress(ModuleNotFoundError):
        __import__(f"{__package__}.{_name}")
