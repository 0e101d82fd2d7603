"""What text may enter the chart: no control characters (NUL and friends), which PostgreSQL refuses and which
no screen shows. Checked at entry, so one bad field can never stop this chair's sync later."""

from __future__ import annotations

import re

from ..domain.errors import ClinicalInputError

# C0 controls except tab, line feed and carriage return (notes may have several lines), DEL, and C1 controls.
_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def check_text(values: dict) -> None:
    """Raise ClinicalInputError naming the field when a text value holds a control character."""
    for name, value in values.items():
        if isinstance(value, str):
            m = _BAD.search(value)
            if m:
                raise ClinicalInputError(
                    f"the {name.replace('_', ' ')} contains a control character (U+{ord(m.group()):04X}) that cannot "
                    "be charted; retype it without it. Nothing was saved."
                )
