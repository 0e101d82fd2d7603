"""Philips IntelliVue Data Export over the MIB/RS-232 port (host side), split by concern.

The host associates, answers the monitor's MDS Create event, asks for numerics with an extended poll and
keeps the association alive; the monitor answers about once a second. Layouts and constants follow
``shared/protocols/philips-intellivue-mib.md`` (section numbers below refer to it). ``framing`` (BOF/EOF, escapes, FCS), ``values`` (FLOAT,
MeasurementState, time, physio ids and units), ``pdus`` (association and data-export PDUs, host encoders,
parsers) and ``codec`` (the host's state machine). What only a monitor sends is encoded by the simulator
(``sim/philips_wire.py``).

How the link learns that a new association is needed: after a Refuse, Abort or Release from the monitor, or
when the link's silence watchdog calls ``silence`` (no valid frame for :data:`SILENCE_LOST_S`), the codec
queues an Abort (on silence), waits :data:`RESTART_WAIT_S` and then sets ``needs_restart``; the link answers
with ``start(now)``.
"""

from .codec import *  # noqa: F401,F403  (the package's names, as one module had them)
from .framing import *  # noqa: F401,F403
from .pdus import *  # noqa: F401,F403
from .values import *  # noqa: F401,F403
