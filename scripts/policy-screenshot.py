"""Regenerate docs/screenshots/policy.png (offscreen, dark theme): .venv/bin/python scripts/policy-screenshot.py"""
import os
import sys
import tempfile
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtWidgets import QApplication  # noqa: E402

app = QApplication([])
from ketachart.auth import Accounts  # noqa: E402
from ketachart.auth.policy_admin import change_policy  # noqa: E402
from ketachart.domain.clock import FakeClock  # noqa: E402
from ketachart.store.open import open_store  # noqa: E402
from ketachart.ui.auth import AdminDialog  # noqa: E402
from ketachart.ui.theme import DARK, stylesheet  # noqa: E402
from tests.ui.helpers import FAST_HASHER  # noqa: E402

clock = FakeClock()
store = open_store(Path(tempfile.mkdtemp()) / "c.db", unencrypted=True, clock=clock)
store.create_user("admin", "Pat Admin", "admin", FAST_HASHER.hash("admin-pass"))
acc = Accounts(store, hasher=FAST_HASHER)
admin = acc.sign_in("admin", "admin-pass").user
clock.advance(3600)
change_policy(acc, ["dose_cap_mg=120", "nibp_interval_min=10"], "medical director memo",
              lambda: acc.verify_for_signature("admin", "admin-pass", purpose="policy-change"))
dlg = AdminDialog(acc, admin)
dlg.setStyleSheet(stylesheet(DARK))
dlg.resize(1280, 800)
dlg.tabs.setCurrentWidget(dlg.policy_page)
page = dlg.policy_page
page.fields["hr_low"].setText("45")
page.reason.setText("")
page.save()  # no reason: shows the refusal message
dlg.show()
for _ in range(5):
    app.processEvents()
out = Path(__file__).resolve().parents[1] / "docs" / "screenshots" / "policy.png"
dlg.grab().save(str(out))
print(out)
dlg.close()
store.close()
