"""Admin dialog page "Patient records": records sharing an MRN (possible duplicates) and the links in force.

An admin links two records of one person (the merged record reads as the kept one from then on; both stay)
or ends a link, each with a reason (:mod:`ketachart.auth.patient_admin`, the same path as
``ketachart patients link``). The page holds no clinical state: it re-reads the store after every action.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...auth import Accounts, SignedInUser
from ...auth import patient_admin
from .fields import error_line, record_table, run_action

RECORD_COLUMNS = ("Patient id", "MRN", "Name", "Born", "Possible duplicate of")
LINK_COLUMNS = ("Merged record", "Reads as", "Linked by", "When (UTC)", "Reason")


class PatientLinksPage(QWidget):
    def __init__(self, accounts: Accounts, actor: SignedInUser, parent=None) -> None:  # noqa: ANN001
        super().__init__(parent)
        accounts.require(actor, "link-patients")
        self.accounts, self.actor = accounts, actor
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Records that share an MRN. Select the record to keep, then Link the other into it."))
        self.records = record_table(RECORD_COLUMNS, self, select_rows=True)
        layout.addWidget(self.records)
        row = QHBoxLayout()
        self.keep = QLineEdit(self)
        self.keep.setPlaceholderText("Keep (patient id)")
        self.merge = QLineEdit(self)
        self.merge.setPlaceholderText("Merge (patient id)")
        self.reason = QLineEdit(self)
        self.reason.setPlaceholderText("Reason (required)")
        self.link_button = QPushButton("Link", self)
        self.unlink_button = QPushButton("Unlink merge record", self)
        for w in (self.keep, self.merge, self.reason, self.link_button, self.unlink_button):
            row.addWidget(w)
        layout.addLayout(row)
        layout.addWidget(QLabel("Links in force"))
        self.links = record_table(LINK_COLUMNS, self)
        layout.addWidget(self.links)
        self.message = error_line(self, "patientLinksMessage")
        layout.addWidget(self.message)
        self.records.itemSelectionChanged.connect(self._picked)
        self.link_button.clicked.connect(lambda _=False: self.link())
        self.unlink_button.clicked.connect(lambda _=False: self.unlink())
        self.refresh()

    def refresh(self) -> None:
        groups = patient_admin.duplicates(self.accounts, self.actor)
        rows = [(p, [q["patient_id"] for q in g if q is not p]) for g in groups for p in g]
        self.records.setRowCount(len(rows))
        for i, (p, others) in enumerate(rows):
            values = (p["patient_id"], p["mrn"], f"{p['family_name']}, {p['given_name']}", p["birth_date"],
                      ", ".join(others))
            for j, v in enumerate(values):
                self.records.setItem(i, j, QTableWidgetItem(v))
        links = patient_admin.links(self.accounts, self.actor)
        self.links.setRowCount(len(links))
        for i, k in enumerate(links):
            values = (k["merged_id"], k["kept_id"], k["author"], f"{k['recorded_at']:%Y-%m-%d %H:%M}", k["reason"] or "")
            for j, v in enumerate(values):
                self.links.setItem(i, j, QTableWidgetItem(v))

    def _picked(self) -> None:
        """Selecting a record proposes it as kept and its first possible duplicate as merged."""
        row = self.records.currentRow()
        if row < 0:
            return
        self.keep.setText(self.records.item(row, 0).text())
        self.merge.setText(self.records.item(row, 4).text().split(", ")[0])

    def _run(self, fn, done: str) -> bool:  # noqa: ANN001
        ok = run_action(self.message, fn, done)
        if ok:
            self.reason.clear()
            self.refresh()
        return ok

    def link(self) -> bool:
        keep, merge = self.keep.text().strip(), self.merge.text().strip()
        return self._run(lambda: patient_admin.link(self.accounts, self.actor, keep, merge, self.reason.text()),
                         f"Linked {merge} into {keep}: both records stay; it reads as one patient.")

    def unlink(self) -> bool:
        merge = self.merge.text().strip()
        return self._run(lambda: patient_admin.unlink(self.accounts, self.actor, merge, self.reason.text()),
                         f"Unlinked {merge}: it reads as its own patient again.")
