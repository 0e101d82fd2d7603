"""The main window: four screens on a stack, one repaint timer, the alert sound.

Handlers only mark what is stale; :meth:`MainWindow._repaint` (one QTimer) redraws it. On opening, any
session still in progress (a relaunch after a crash) is reopened with its data and clocks.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QMainWindow, QSizePolicy, QStackedWidget

from ..domain.session import SessionState
from .controller import ChairController
from .screens.discharge import DischargeScreen
from .screens.patients import PatientsScreen
from .screens.presession import PresessionScreen
from .screens.session import SessionScreen
from .sound import AlertSound, SoundStatus
from .theme import THEMES, stylesheet

from .viewmodels import open_alerts as vm_open_alerts

REPAINT_MS = 500


class MainWindow(QMainWindow):
    def __init__(self, store, clock, controller: ChairController, accounts, *, theme: str | None = None,
                 repaint_ms: int = REPAINT_MS, idle_min: float | None = None, lock_tick_ms: int = 1000) -> None:
        """Built by ``ketachart.app.create_main_window`` (the chair, its signatures and ``accounts``)."""
        super().__init__()
        self.store = store
        self.clock = clock
        self.setWindowTitle("KetaChart")
        self.resize(1280, 800)
        from .accessibility import UiPrefs, system_theme

        self.prefs = UiPrefs.for_chart(store.path)  # theme and text size, remembered for this chair
        choice = theme or self.prefs.theme  # --theme is for this run only
        self.palette_ = THEMES.get(system_theme() if choice == "system" else choice, THEMES["dark"])
        self.c = controller
        self.c.setParent(self)
        self.stack = QStackedWidget()
        self.setCentralWidget(self.stack)
        self.patients = PatientsScreen(self.c, self.palette_)
        self.presession = PresessionScreen(self.c)
        self.session = SessionScreen(self.c, self.palette_)
        self.discharge = DischargeScreen(self.c)
        self.blank = QLabel("KetaChart - sign in to see the chart")  # all that shows before sign-in
        self.blank.setObjectName("title")
        self.blank.setAlignment(Qt.AlignmentFlag.AlignCenter)
        for w in (self.blank, self.patients, self.presession, self.session, self.discharge):
            self.stack.addWidget(w)
        self.stack.setCurrentWidget(self.blank)
        self._current_screen = self.blank
        self.stack.currentChanged.connect(self._screen_changed)
        self.status_label = QLabel(f"Chart: {store.path}  ·  chair {store.device_id}")
        self.status_label.setObjectName("muted")
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.statusBar().addWidget(self.status_label, 1)
        self.vitals_label = QLabel()
        self.vitals_label.setObjectName("muted")
        # one line, bounded: a long or two-line writer error must never grow the window past the screen
        self.vitals_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.vitals_label.setMaximumWidth(360)
        self.statusBar().addPermanentWidget(self.vitals_label)
        self.user_label = QLabel("")
        self.statusBar().addPermanentWidget(self.user_label)
        self.sound = AlertSound(self)
        self.sound_status = SoundStatus(self.sound)  # "alarm sound unavailable" while nothing can be heard
        self.statusBar().addPermanentWidget(self.sound_status)

        self.patients.session_opened.connect(lambda _sid: self.route())
        self.presession.done.connect(self.show_session)
        self.presession.want_patients.connect(self.show_patients)
        self.session.want_patients.connect(self.show_patients)
        self.session.want_discharge.connect(self.show_discharge)
        self.session.want_theme.connect(self.toggle_theme)
        self.discharge.back.connect(self.show_session)
        self.discharge.discharged.connect(self._after_discharge)
        self.c.view_changed.connect(lambda: self.mark("view"))
        self.c.alerts_changed.connect(lambda: self.mark("alerts"))
        self.c.discharge_due.connect(self.show_discharge)
        from .screens.mismatch import MismatchPrompts

        self.mismatch = MismatchPrompts(self.c, self)  # "monitor says another patient": the nurse decides
        self._dirty: set[str] = {"view", "alerts"}
        self._ticks = 0
        self.repaints = 0
        from .accessibility import Accessibility  # names, focus order, chair keys and their help, OS theme

        self.a11y = Accessibility(self, self.prefs)
        self.apply_theme()
        self.timer = QTimer(self)
        self.timer.setInterval(repaint_ms)
        self.timer.timeout.connect(self._repaint)
        self.timer.start()
        from .chair_auth import ChairAuth

        self.accounts = accounts
        self.signatures = self.c.signatures
        self.auth = ChairAuth(self, self.accounts, clock, idle_min=idle_min, tick_ms=lock_tick_ms)
        self.auth.start()  # no patient data before sign-in: reopen() runs from on_signed_in

    # --- who is signed in (ChairAuth calls these) ---------------------------------------------------
    def on_signed_in(self, session, reopen: bool = True) -> None:
        self.user_label.setText(f"Charting as {session.user.display_name}")
        if reopen and self.stack.currentWidget() is self.blank:
            self.reopen()
        self.mark("view")

    def on_unlocked(self, session) -> None:
        self.user_label.setText(f"Charting as {session.user.display_name}")
        self.mark("view")
        self._repaint()

    def on_signed_out(self) -> None:
        self.user_label.setText("Signed out")
        self.show_blank()

    def show_blank(self) -> None:
        self.stack.setCurrentWidget(self.blank)

    def _screen_changed(self, _index: int) -> None:
        """Stale text goes with the screen it was about: the message line of the screen just left is cleared."""
        left, self._current_screen = self._current_screen, self.stack.currentWidget()
        line = getattr(left, "message", None)
        if line is not None and hasattr(line, "clear") and left is not self._current_screen:
            line.clear()

    # --- navigation -----------------------------------------------------------------------------------
    def reopen(self) -> None:
        """Reopen a session in progress (crash recovery), else show the patient list."""
        sid = self.c.session_in_progress()
        if sid:
            self.c.open_session(sid)
            self.route()
        else:
            self.show_patients()

    def route(self) -> None:
        v = self.c.view
        if v is None and self.c.planned is not None:
            self.show_presession()
        elif v is None:
            self.show_patients()
        elif v.state is SessionState.PLANNED or (v.state is SessionState.CHECKED_IN and v.dose is None):
            self.show_presession()
        else:
            self.show_session()

    def show_patients(self) -> None:
        if self.accounts.current is None:
            return self.show_blank()
        self.patients.reload()
        self.stack.setCurrentWidget(self.patients)

    def show_presession(self) -> None:
        self.presession.load()
        self.stack.setCurrentWidget(self.presession)

    def show_session(self) -> None:
        self.mark("view")
        self.stack.setCurrentWidget(self.session)
        self._repaint()
        self.session.setFocus()

    def show_discharge(self) -> None:
        if self.c.view is None:
            return
        self.discharge.load()
        self.stack.setCurrentWidget(self.discharge)

    def _after_discharge(self, _sid: str) -> None:
        pid = self.c.view.patient["patient_id"] if self.c.view is not None else None
        self.c.close_session()
        self.show_patients()
        if pid:
            self.patients.select_patient(pid)  # by id: the list may have grown or reordered meanwhile

    def toggle_theme(self) -> None:
        """Dark -> light -> follow the operating system -> dark (remembered for this chair)."""
        self.set_theme(self.a11y.next_theme())

    def set_theme(self, name: str) -> None:
        self.palette_ = THEMES.get(name, THEMES["dark"])
        self.apply_theme()

    def apply_theme(self) -> None:
        scale = 1.0 if self.width() >= 1500 or self.width() < 100 else 0.9
        self._set_sheet(stylesheet(self.palette_, scale * self.a11y.text_scale))
        self.session.apply_palette(self.palette_)
        self.patients.apply_palette(self.palette_)
        self.mark("view")

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        wide = event.size().width() >= 1500
        if getattr(self, "_wide", None) != wide:
            self._wide = wide
            self._set_sheet(stylesheet(self.palette_, (1.0 if wide else 0.9) * self.a11y.text_scale))

    def _set_sheet(self, sheet: str) -> None:
        """Re-styling every widget is the slowest step of showing the window: only when the sheet changed
        (the first resize on show would otherwise apply the very sheet ``apply_theme`` just set)."""
        if sheet != self.styleSheet():
            self.setStyleSheet(sheet)

    # --- the one repaint timer -------------------------------------------------------------------------
    def mark(self, what: str) -> None:
        self._dirty.add(what)

    def _repaint(self) -> None:
        self._ticks += 1
        self.repaints += 1
        self.c.tick()
        locked = self.auth.is_locked
        open_alerts = vm_open_alerts(self.c.unacknowledged(), self.clock.now())
        if locked:
            self.auth.feed(self.lock_clocks_text(), bool(open_alerts), [a.line for a in open_alerts])
        dirty, self._dirty = (set(), self._dirty) if locked else (self._dirty, set())
        if locked:
            pass  # nothing behind the privacy screen is redrawn; monitoring and the sound go on
        elif self.stack.currentWidget() is self.session:
            if "view" in dirty:
                self.session.render_view()
            elif "alerts" in dirty:
                self.session.render_banner()
            self.session.render_live()
        if not locked and self.stack.currentWidget() is self.discharge:
            self.discharge.update_decision()
        # high priority while any critical alert is open, medium for warnings only; until acknowledged
        self.sound.set_active(bool(open_alerts), "high" if any(a.severity == "critical" for a in open_alerts) else "medium")
        err = f" · {self.c.vitals_error}" if self.c.vitals_error else ""
        text = f"vitals saved: {self.c.vitals_saved}{err}"
        self.vitals_label.setText(" ".join(text.split()))  # one line; the whole text in the tooltip
        self.vitals_label.setToolTip(text if err else "")

    def lock_clocks_text(self) -> str:
        """The clocks for the lock screen: times only, never who the patient is."""
        from .viewmodels import clocks, local

        now = self.clock.now()
        last = self.c.live.last_nibp()
        parts = [f"{c.label} {c.value}" for c in clocks(self.c.view, now, self.c.policy, last[0] if last else None,
                                                         self.c.nasal_schedule())]
        return "\n".join([local(now)] + parts)  # one per line: legible across the room, never clipped

    def closeEvent(self, event) -> None:  # noqa: N802
        self.timer.stop()
        self.a11y.shutdown()
        self.auth.shutdown()
        self.sound.close()
        self.c.shutdown()
        super().closeEvent(event)
