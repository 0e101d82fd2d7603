"""Export from the app (issue 18): the summary's Print / PDF menu exports FHIR and CSV in a worker thread with a
progress dialog, audits it, and shows a failure with what to do."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QWidget

from ketachart.store.models import AuditEvent
from ketachart.ui import report_actions
from ketachart.ui.summary_actions import SummaryActions

SYSTEM = "https://ehr.clinic.example/fhir/sid/mrn"


@pytest.fixture
def actions(demo, qtbot, monkeypatch):
    monkeypatch.setenv("KETACHART_MRN_SYSTEM", SYSTEM)
    store, sid = demo
    parent = QWidget()
    qtbot.addWidget(parent)
    shown = []
    return SummaryActions(parent, store, lambda: sid, lambda text, kind: shown.append((kind, text))), shown


def test_the_menu_offers_every_export(actions):
    a, _ = actions
    texts = [act.text() for act in a.export_actions.values()]
    assert texts == ["FHIR for the EHR…", "FHIR, vitals per minute…", "CSV…", "CSV for Excel…"]
    assert a.button.accessibleName() and a.button.accessibleDescription()


@pytest.mark.parametrize("kind, check", [
    ("fhir", lambda raw: json.loads(raw)["type"] == "transaction"),
    ("fhir-minute", lambda raw: any("effectivePeriod" in e["resource"] for e in json.loads(raw)["entry"])),
    ("excel", lambda raw: raw.encode("utf-8").startswith(b"\xef\xbb\xbf") or raw.startswith("\ufeff")),
])
def test_export_runs_in_the_background_with_progress_and_is_audited(demo, actions, qtbot, tmp_path, kind, check):
    a, shown = actions
    store, sid = demo
    before = len(store.rows(AuditEvent))
    path = tmp_path / f"out-{kind}"
    steps = []
    job = a.export(kind, str(path))
    job.signals.progress.connect(lambda done, total: steps.append((done, total)))
    with qtbot.waitSignal(job.finished, timeout=120_000):
        pass
    assert check(path.read_text(encoding="utf-8"))
    assert steps and steps[-1][0] == steps[-1][1]  # the progress dialog reached the end
    assert shown[0] == ("info", f"Export {report_actions.EXPORT_FORMATS[kind][0].rstrip('…')}: preparing the export…")
    assert shown[-1][0] == "saved" and str(path) in shown[-1][1]
    (audit,) = store.rows(AuditEvent)[before:]
    assert audit["action"] == "export" and audit["target"] == f"sessions:{sid}"
    assert json.loads(audit["details"])["format"] == ("csv" if kind == "excel" else "fhir")


def test_a_failed_export_says_what_to_do_and_writes_nothing(demo, actions, qtbot, tmp_path, monkeypatch):
    a, shown = actions
    store, _ = demo
    monkeypatch.delenv("KETACHART_MRN_SYSTEM")
    path = tmp_path / "no.json"
    job = a.export("fhir", str(path))
    with qtbot.waitSignal(job.failed, timeout=60_000) as blocker:
        pass
    assert "MRN system is not set" in blocker.args[0] and "admin" in blocker.args[0]
    assert job.error_box.isVisible() and "not made" in job.error_box.text()
    assert shown[-1][0] == "error" and not path.exists()
    job.error_box.close()
    missing = tmp_path / "no-such-folder" / "s.csv"
    job = a.export("csv", str(missing))
    with qtbot.waitSignal(job.failed, timeout=60_000) as blocker:
        pass
    assert "Check that the drive" in blocker.args[0] or "Choose another folder" in blocker.args[0]
    job.error_box.close()
