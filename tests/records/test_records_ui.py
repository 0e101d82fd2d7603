"""The records from the app: the REMS forms due list (save the page, mark submitted as the signed-in user) and
the summary button's REMS and handout entries (headless, real chart)."""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone

import pytest

from ketachart.domain.clock import FakeClock
from ketachart.store.models import Observation
from ketachart.store.open import open_store
from ketachart.store.records import rems_submission

from .test_records_cli import _in_session

pytestmark = pytest.mark.usefixtures("qapp")


@pytest.fixture
def chart(tmp_path):
    store = open_store(tmp_path / "chart.db", unencrypted=True,
                       clock=FakeClock(datetime(2026, 1, 8, 14, 0, tzinfo=timezone.utc)))
    store.create_user("demo.nurse", "Alex Morgan, RN", "nurse")
    sid = _in_session(store)
    store.clock.advance(24 * 3600)  # the next day: 6 of the 7 days left
    yield store, sid
    store.close()


def test_rems_due_dialog_saves_the_form_and_marks_it_submitted(chart, tmp_path, qtbot):
    from ketachart.ui.records_actions import RemsDueDialog

    store, sid = chart
    store.author = "demo.nurse"
    dlg = RemsDueDialog(store)
    qtbot.addWidget(dlg)
    assert dlg.list.count() == 1 and dlg.selected() == sid
    assert "01/08/2026" in dlg.list.item(0).text() and "6 day(s) left" in dlg.list.item(0).text()
    out = tmp_path / "rems.pdf"
    dlg.save_selected(out)
    assert out.exists() and "REMS form saved" in dlg.message.text()
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True).stdout
    assert "SPRAVATO REMS" in text and "RP-00012345" in text
    dlg.note.setText("portal #99")
    dlg.mark_selected()
    row = rems_submission(store, sid)
    assert row is not None and row["author"] == "demo.nurse" and "portal #99" in row["text"]
    assert "Alex Morgan, RN" in row["text"] and dlg.selected() is None
    assert dlg.list.item(0).text() == "No REMS forms due"


def test_summary_button_offers_the_rems_form_and_the_handout(chart, tmp_path, qtbot):
    from PySide6.QtWidgets import QWidget

    from ketachart.ui.summary_actions import SummaryActions

    store, sid = chart
    parent = QWidget()
    qtbot.addWidget(parent)
    shown = []
    actions = SummaryActions(parent, store, lambda: sid, lambda text, kind: shown.append((kind, text)))
    assert actions.rems_action.text().startswith("REMS form") and "handout" in actions.handout_action.text()
    assert actions._records("save_rems_pdf", str(tmp_path / "r.pdf")).startswith("REMS form saved")
    text = actions._records("save_handout_pdf", str(tmp_path / "h.pdf"))
    assert "charted as given" in text and (tmp_path / "h.pdf").exists()
    assert any(o["kind"] == "handout-given" for o in store.rows(Observation, session_id=sid))
