"""The chair's session service (no Qt): the commands a nurse gives, their validation, their transactions, the
signing workflow and alert raising, over the store, the clinical model and the device manager.

- :mod:`.service`     :class:`ChairService` (one open session and every command on it)
- :mod:`.forms`       :class:`PresessionForm` (as typed) and :func:`number`
- :mod:`.signing`     :class:`SigningFlow`: entries written only once signed (dose and waste, discharge)
- :mod:`.saved_trace` the opt-in trace of what was confirmed as saved (``KETACHART_SAVED_TRACE``)
"""

from .forms import PresessionForm, number
from .service import SIGNING_ERRORS, USER_ERRORS, ChairService, baseline_bp
from .signing import SignatureStep, SigningFlow

__all__ = ["ChairService", "PresessionForm", "SignatureStep", "SigningFlow", "SIGNING_ERRORS", "USER_ERRORS",
           "baseline_bp", "number"]
