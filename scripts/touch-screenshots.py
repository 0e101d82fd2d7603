"""Regenerate the sign-in, signature, lock and touch screenshots in docs/screenshots (offscreen, ~20 s):

    .venv/bin/python scripts/touch-screenshots.py

Full-window shots (locked, the pre-session with its keypad) at 1280x800 and 1920x1080 (``-1080p``); dialogs
once (they do not depend on the window size). The chair screens themselves: docs/screenshots/make_screenshots.sh.
"""

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

app = QApplication([])

from ketachart.app import create_main_window  # noqa: E402
from ketachart.auth import Accounts  # noqa: E402
from ketachart.domain.clock import FakeClock  # noqa: E402
from ketachart.store.open import open_store  # noqa: E402
from tests.e2e.test_session_flow import fill_presession  # noqa: E402
from tests.ui.helpers import FAST_HASHER, PINS, calm, vitals  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def settle(n: int = 8) -> None:
    for _ in range(n):
        app.processEvents()


def feed(w, readings) -> None:
    before = w.c.bridge.delivered
    w.c.bridge.submit_many(readings)
    while w.c.bridge.delivered < before + len(readings):
        app.processEvents()


def save(widget, name: str) -> None:
    settle()
    widget.grab().save(str(OUT / f"{name}.png"))
    print("wrote", OUT / f"{name}.png", f"{widget.width()}x{widget.height()}")


def tap(widget) -> None:
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton, pos=widget.rect().center())
    settle(2)


def run(width: int, height: int, suffix: str, dialogs: bool) -> None:
    clock = FakeClock()
    store = open_store(Path(tempfile.mkdtemp()) / "c.db", unencrypted=True, clock=clock)
    store.author = "nurse.a"
    store.set_policy(store.policy.changed(order_required_before_dose=False))  # the order step: its own shots
    store.create_user("admin", "Pat Admin", "admin", FAST_HASHER.hash(PINS["admin"]))
    store.create_user("nurse.a", "Ada Nurse, RN", "nurse", FAST_HASHER.hash(PINS["nurse.a"]))
    store.create_user("nurse.b", "Ben Okafor, RN", "nurse", FAST_HASHER.hash(PINS["nurse.b"]))
    w = create_main_window(store, clock, repaint_ms=50, accounts=Accounts(store, hasher=FAST_HASHER), idle_min=0)
    w.resize(width, height)
    w.show()
    settle()
    dlg = w.auth.dialog
    tap(dlg.users.buttons["nurse.a"])
    dlg.pin_pad.type_pin("24")
    if dialogs:
        save(dlg, "signin")
    dlg.pin_pad.type_pin("68")
    tap(dlg.pin_pad.ok)
    settle()

    tap([b for b in w.patients.findChildren(type(dlg.pin_pad.ok)) if b.text().startswith("New patient")][0])
    nd = w.patients.dialog
    nd.set_values(mrn="MRN-1", family="Rivera", dob="1984-03-12")
    tap(nd.widgets["weight"])
    nd.keypad.type_text("80")
    tap(nd.widgets["given"])
    nd.keypad.type_text("Jordan")
    if dialogs:
        save(nd, "new-patient")
    tap(nd.widgets["sex"].buttons[0])
    assert nd.submit(), nd.error.text()
    w.patients.select_mrn("MRN-1")
    feed(w, vitals(clock, 5))
    w.patients.start("IV")
    fill_presession(w)
    w.presession.weight.clear()
    tap(w.presession.weight)
    w.presession.keypad.type_text("80")
    save(w, f"presession-keypad{suffix}")
    tap(w.presession.keypad.keys["Done"])
    w.presession.submit()
    sd = w.presession.sign_dialog
    sd.pin_pad.type_pin("24")
    if dialogs:
        save(sd, "reauth")
    sd.pin_pad.type_pin("68")
    tap(sd.pin_pad.ok)
    sd = w.presession.sign_dialog
    sd.pin_pad.type_pin(PINS["nurse.b"])
    tap(sd.pin_pad.ok)
    settle()
    s = w.session
    feed(w, vitals(clock, 10))
    s.start_infusion()
    feed(w, calm(clock, 12))
    if dialogs:
        for name, opener in (("cadss", s.open_cadss), ("nausea", s.open_nausea), ("note", s.open_note),
                             ("intervention", s.open_intervention), ("vitals-dialog", s.open_vitals)):
            opener()
            d = s.dialog
            if name == "cadss":
                for i, row in enumerate(d.widgets.values()):
                    if i < 4:
                        row.setCurrentIndex(1 + i % 3)
            if name == "note":
                tap(d.pick_buttons["patient resting"])
            if name == "intervention":
                tap(d.pick_buttons["ondansetron 4 mg IV"])
            save(d, name)
            d.reject()
            settle()
    feed(w, vitals(clock, 20, spo2=88))  # an alert, shown on the lock screen
    w.auth.lock_now()
    for _ in range(3):
        w._repaint()
        settle()
    save(w, f"locked{suffix}")
    w.close()
    store.close()


run(1280, 800, "", True)
run(1920, 1080, "-1080p", False)
