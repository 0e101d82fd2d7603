"""Save as PDF from the app: built and painted in a worker thread, the event loop keeps running, audited."""

from __future__ import annotations

from ketachart.store.models import AuditEvent
from ketachart.store.open import open_store
from ketachart.ui import report_actions


def test_save_pdf_runs_in_the_background_and_audits(demo, qtbot, tmp_path):
    store, sid = demo
    path = tmp_path / "saved.pdf"
    before = len(store.rows(AuditEvent))
    job = report_actions.save_pdf(None, store, sid, path,
                                  open_reader=lambda: open_store(store.path, unencrypted=True, lock=False, verify=False))
    with qtbot.waitSignal(job.finished, timeout=60_000) as blocker:
        pass
    assert "Saved 2 page(s)" in blocker.args[0]
    assert path.read_bytes()[:5] == b"%PDF-"
    audits = store.rows(AuditEvent)[before:]
    assert [(a["action"], a["target"]) for a in audits] == [("export", f"sessions:{sid}")]


def test_unknown_session_fails_without_a_file(demo, qtbot, tmp_path):
    store, _ = demo
    path = tmp_path / "none.pdf"
    job = report_actions.ReportJob(None, store, "nope", "pdf", path=path,
                                   open_reader=lambda: open_store(store.path, unencrypted=True, lock=False, verify=False))
    with qtbot.waitSignal(job.failed, timeout=60_000) as blocker:
        job.start()
    assert "nope" in blocker.args[0] and not path.exists()
