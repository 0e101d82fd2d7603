"""'The monitor says another patient' through the real window: a real HL7 link (listen://, the real codec) holds
messages naming another MRN; the chair asks the nurse, who charts them here or drops them."""

from __future__ import annotations

import socket

from ketachart.domain.codes import Parameter
from tests.e2e.test_nurse_flow import _checked_in
from tests.hardware.test_tcp_listen_probe import _ack, _free_port, oru
from tests.ui.helpers import wait_writer


def _connect(qtbot, port: int) -> socket.socket:
    for _ in range(200):
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except ConnectionRefusedError:
            qtbot.wait(20)
    raise AssertionError("listener never came up")


def _hr(store, sid) -> list[float]:
    return [r["value"] for r in store.readings(sid) if r["parameter"] == Parameter.HR.value]


def test_another_patients_monitor_data_waits_for_the_nurse(window, qtbot, store, clock):
    sid = _checked_in(window, qtbot)
    assert window.c.devices.patient_mrn == "MRN-S"  # the session's patient, so the codec can compare
    port = _free_port()
    conn = window.c.devices.connect("hl7", f"listen://127.0.0.1:{port}", device_tz="UTC")
    assert conn.settings.patient_mrn == "MRN-S"
    prompts = window.mismatch
    with _connect(qtbot, port) as gw:
        gw.sendall(oru("C1", "MRN-9", "KETA^CHAIR^07", 88, 1))
        assert b"MSA|AA|C1" in _ack(gw)
        qtbot.waitUntil(lambda: prompts.dialog is not None and prompts.dialog.isVisible(), timeout=5000)
        d = prompts.dialog
        assert "monitor says patient MRN MRN-9; this chart is MRN-S" in d.text.text()
        assert "1 reading(s) from KETA^CHAIR^07 are held" in d.detail.text()
        window._repaint()
        assert _hr(store, sid) == []  # held: nothing charted, nothing on the plot
        assert window.c.live.latest.get(Parameter.HR) is None
        d.accept_button.click()  # the same patient (admitted on the monitor under another number)
        qtbot.waitUntil(lambda: window.c.live.latest.get(Parameter.HR) is not None, timeout=5000)
        wait_writer(window, qtbot)
        assert _hr(store, sid) == [88.0]
        assert prompts.dialog is None and window.c.held == {}
        assert "Held monitor readings charted here" in window.session.message.text()

        gw.sendall(oru("C2", "MRN-8", "KETA^CHAIR^07", 131, 2))  # truly another patient
        _ack(gw)
        qtbot.waitUntil(lambda: prompts.dialog is not None, timeout=5000)
        assert "MRN MRN-8" in prompts.dialog.text.text()
        prompts.dialog.reject_button.click()
        qtbot.waitUntil(lambda: window.c.held == {}, timeout=5000)
        wait_writer(window, qtbot)
        assert _hr(store, sid) == [88.0]  # dropped, never charted

        gw.sendall(oru("C3", "MRN-7", "KETA^CHAIR^07", 99, 3))
        _ack(gw)
        qtbot.waitUntil(lambda: prompts.dialog is not None, timeout=5000)
        window.c.close_session()  # no chart open any more: the codec withdraws the question, the dialog goes
        qtbot.waitUntil(lambda: prompts.dialog is None, timeout=5000)
    assert window.c.devices.patient_mrn is None
    answers = store.audit_events_for(f"sessions:{sid}", ["patient-mismatch"])
    assert len(answers) == 2  # both answers audited (ids and counts only)
