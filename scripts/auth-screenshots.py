"""Regenerate docs/screenshots/signin.png, reauth.png and locked.png (offscreen): .venv/bin/python scripts/auth-screenshots.py"""
import os, sys
os.environ["QT_QPA_PLATFORM"]="offscreen"
sys.path.insert(0, "/work/main")
from pathlib import Path
import tempfile
from PySide6.QtWidgets import QApplication
app = QApplication([])
from ketachart.domain.clock import FakeClock
from ketachart.store.open import open_store
from ketachart.app import create_main_window
from ketachart.auth import Accounts
from tests.ui.helpers import FAST_HASHER, PINS, vitals, nibp
from tests.e2e.test_session_flow import new_patient, fill_presession, sign_presession
clock = FakeClock()
d = Path(tempfile.mkdtemp())
store = open_store(d/"c.db", unencrypted=True, clock=clock)
store.create_user("admin","Pat Admin","admin",FAST_HASHER.hash("admin-pass"))
store.create_user("nurse.a","Ada Nurse, RN","nurse",FAST_HASHER.hash(PINS["nurse.a"]))
store.create_user("nurse.b","Ben Okafor, RN","nurse",FAST_HASHER.hash(PINS["nurse.b"]))
acc = Accounts(store, hasher=FAST_HASHER)
w = create_main_window(store, clock, repaint_ms=50, accounts=acc, idle_min=0)
w.resize(1280, 800); w.show()
for _ in range(5): app.processEvents()
out = Path("/work/main/docs/screenshots")
dlg = w.auth.dialog
dlg.user_id.setText("nurse.a")
dlg.grab().save(str(out/"signin.png"))
dlg.secret.setText(PINS["nurse.a"]); assert dlg.submit()
class Q:  # minimal qtbot stand-in
    def waitUntil(self, f, timeout=5000):
        import time; t=time.time()
        while not f():
            app.processEvents()
            assert time.time()-t < timeout/1000
q=Q()
new_patient(w)
w.patients.start("IV")
fill_presession(w)
w.presession.submit()
w.presession.sign_dialog.resize(520, 300)
for _ in range(5): app.processEvents()
w.presession.sign_dialog.grab().save(str(out/"reauth.png"))
from tests.ui.helpers import sign
sign(w.presession.sign_dialog, PINS["nurse.a"]); sign(w.presession.sign_dialog, PINS["nurse.b"])
w.session.start_infusion()
before = w.c.bridge.delivered
rs = vitals(clock, 60, spo2=97) + nibp(clock, 128, 80, 96) + vitals(clock, 20, spo2=88)
w.c.bridge.submit_many(rs)
q.waitUntil(lambda: w.c.bridge.delivered >= before + len(rs))
w.auth.lock_now()
for _ in range(3):
    w._repaint(); app.processEvents()
w.grab().save(str(out/"locked.png"))
print("alert", w.auth.lock.screen.alert.isVisible(), w.sound.active)
w.close(); store.close()
