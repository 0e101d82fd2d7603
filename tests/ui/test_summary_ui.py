"""Print, Print preview and Save as PDF through the chair screens (the work runs in a worker thread)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ketachart.store.models import AuditEvent
from tests.e2e.test_session_flow import checked_in_session

needs_pdftotext = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) missing")


def pdf_text(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


@needs_pdftotext
def test_save_as_pdf_from_the_session_screen(window, qtbot, store, tmp_path):
    sid = checked_in_session(window, qtbot)
    s = window.session
    assert s.summary.button.isVisible()
    assert [a.text() for a in s.summary.button.menu().actions()] == [
        "Print…", "Print preview…", "Save as PDF…", "REMS form as PDF…",
        "Discharge handout as PDF (charted as given)…", "", "Export"]  # records (issue 16), exports (issue 18)
    path = tmp_path / "summary.pdf"
    job = s.summary.save_pdf(str(path))
    assert "preparing" in s.message.text()  # returned at once: the event loop was never blocked
    with qtbot.waitSignal(job.finished, timeout=60_000):
        pass
    assert path.exists() and path.read_bytes()[:5] == b"%PDF-"
    text = pdf_text(path)
    assert "MRN-1" in text and "IN PROGRESS" in text
    assert "Saved" in s.message.text() and str(path) in s.message.text()
    assert any(a["action"] == "export" and a["target"] == f"sessions:{sid}" for a in store.rows(AuditEvent))


def test_a_failure_is_shown(window, qtbot, tmp_path, monkeypatch):
    checked_in_session(window, qtbot)
    s = window.session
    monkeypatch.setattr("PySide6.QtWidgets.QMessageBox.warning", lambda *a, **k: None)
    job = s.summary.save_pdf(str(tmp_path / "no-such-dir" / "x" / "summary.pdf"))
    with qtbot.waitSignal(job.failed, timeout=60_000):
        pass
    assert s.message.kind == "error" and "Save as PDF failed" in s.message.text()


@needs_pdftotext
def test_finished_session_from_the_course_view(window, qtbot, store, tmp_path):
    from ketachart.demo import write_demo_session

    write_demo_session(store, seed=0, monitoring_minutes=125)
    window.show_patients()
    p = window.patients
    p.select_mrn("DEMO-0000")
    p.show_course()
    assert not p.summary.button.isEnabled()  # nothing picked yet
    p.sessions.setCurrentRow(0)
    assert p.summary.button.isEnabled()
    path = tmp_path / "course.pdf"
    job = p.summary.save_pdf(str(path))
    with qtbot.waitSignal(job.finished, timeout=60_000):
        pass
    text = pdf_text(path)
    assert "DEMO-0000" in text and "IN PROGRESS" not in text
