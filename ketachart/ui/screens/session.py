"""The session screen: large numerics, the live plot, the clocks, one-tap entry, alerts and devices."""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ...domain.scales import DISSOCIATION_LABELS, MOAAS_LABELS, cadss6_labels
from ...domain.session import SessionState
from ...domain.vocabulary import OBSERVATION_KINDS as _K
from ...domain.vocabulary import Kind, dose_words
from .. import viewmodels as vm
from ..controller import ChairController
from ...hardware.devices import MONITOR_PROTOCOLS, PROTOCOL_LABELS, PUMP_PROTOCOLS, available_ports
from ..plot_markers import infusion_spans, plot_markers
from ..theme import Palette, level_color
from .common import ElidedLabel, Field, FormDialog, MessageLine, ScorePicker, button, intervention_picks, note_picks

STATE_WORDS = {"streaming": "streaming", "silent": "SILENT", "lost": "LOST - reconnecting", "connecting": "connecting",
               "negotiating": "connecting", "disconnected": "off"}


class _Tile(QFrame):
    """A panel tile: a label, a large value and a sub line, styled by their names (``numLabel``, ``clockValue``
    ...). Label and sub line end in "…" (whole text in the tooltip) rather than being cut mid-word in a narrow
    tile. Laid out by the subclass."""

    def __init__(self, style: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        self.label = ElidedLabel()
        self.value = QLabel()
        self.sub = ElidedLabel()
        for w, part in ((self.label, "Label"), (self.value, "Value"), (self.sub, "Sub")):
            w.setObjectName(style + part)
        for w in (self.label, self.sub):
            w.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._shown: tuple | None = None

    def _showing(self, model: object, pal: Palette) -> bool:
        """True when the tile already shows ``model`` in ``pal``: then no relayout, no restyle, no repaint."""
        key = (model, pal.name)
        if self._shown == key:
            return True
        self._shown = key
        return False


class NumericTile(_Tile):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("num", parent)
        self.value.setText("--")
        self.cue = QLabel()
        self.cue.setObjectName("numCue")
        self.cue.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.unit = QLabel()
        self.unit.setObjectName("numUnit")
        self.unit.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom)
        grid = QGridLayout(self)
        grid.setContentsMargins(12, 6, 12, 6)
        grid.setVerticalSpacing(0)
        grid.addWidget(self.label, 0, 0)
        grid.addWidget(self.cue, 0, 1)
        grid.addWidget(self.value, 1, 0, 1, 2)
        grid.addWidget(self.unit, 1, 1)
        grid.addWidget(self.sub, 2, 0, 1, 2)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)

    def render(self, n: vm.NumericVM, pal: Palette) -> None:
        if self._showing(n, pal):
            return
        color = level_color(pal, n.level)
        wide = n.key == "bp"  # beside a wide value ("185/116") the unit would overlap it: it leads the sub line
        self.label.set_full_text(n.label)
        self.unit.setVisible(not wide)
        self.value.setText(n.value)
        self.value.setStyleSheet(f"color: {color};")
        self.unit.setText(n.unit)
        self.cue.setText(("⚠ " if n.level == "alarm" else "") + n.cue)
        self.cue.setStyleSheet(f"color: {color};")
        self.sub.set_full_text(" · ".join(x for x in ((n.unit if wide else ""), n.sub) if x))
        self.sub.setVisible(bool(n.sub) or wide)


class ClockTile(_Tile):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("clock", parent)
        box = QVBoxLayout(self)
        box.setContentsMargins(12, 4, 12, 4)
        box.setSpacing(0)
        for w in (self.label, self.value, self.sub):
            box.addWidget(w)

    def render(self, c: vm.ClockVM, pal: Palette) -> None:
        if self._showing(c, pal):
            return
        self.label.set_full_text(c.label)
        self.label.setStyleSheet(f"color: {pal.alarm};" if c.level == "alarm" else "")
        self.value.setText(c.value)
        self.value.setStyleSheet(f"color: {level_color(pal, c.level)};")
        self.sub.set_full_text(c.sub)


class MarkerPopover(QFrame):
    """A plot marker's details in a small box beside the marker; a tap anywhere else closes it."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent, Qt.WindowType.Popup | Qt.WindowType.FramelessWindowHint)
        self.setObjectName("panel")
        box = QVBoxLayout(self)
        box.setContentsMargins(10, 8, 10, 8)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setMaximumWidth(360)
        box.addWidget(self.text)

    def show_at(self, text: str, global_pos) -> None:
        from PySide6.QtCore import QPoint

        if not text:
            return
        self.text.setText(text)
        self.adjustSize()
        pos = QPoint(global_pos.x() + 14, global_pos.y() - self.height() // 2)
        screen = self.parentWidget().window().geometry() if self.parentWidget() else None
        if screen is not None:  # keep it on the window: left of the marker near the right edge
            if pos.x() + self.width() > screen.right():
                pos.setX(global_pos.x() - 14 - self.width())
            pos.setY(max(screen.top(), min(pos.y(), screen.bottom() - self.height())))
        self.move(pos)
        self.show()


class SessionScreen(QWidget):
    want_discharge = Signal()
    want_patients = Signal()
    want_theme = Signal()

    def __init__(self, controller: ChairController, palette: Palette, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("screen")
        self.c = controller
        self.pal = palette
        self.dialog = None  # the open entry dialog, if any (tests and autoplay reach it here)
        self._entries: list[vm.EntryVM] = []
        root = QVBoxLayout(self)
        root.setContentsMargins(10, 8, 10, 8)
        root.setSpacing(8)

        # header: who, state, devices
        head = QHBoxLayout()
        self.patient_label = ElidedLabel()
        self.patient_label.setObjectName("patientBar")
        self.patient_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        head.addWidget(self.patient_label, 1)
        self.state_badge = QLabel()
        self.state_badge.setObjectName("stateBadge")
        head.addWidget(self.state_badge)
        self.device_label = QLabel()
        self.device_label.setObjectName("muted")
        self.device_label.setTextFormat(Qt.TextFormat.RichText)
        self.device_label.setWordWrap(True)
        self.device_label.setMaximumWidth(330)
        head.addWidget(self.device_label)
        head.addWidget(button("Devices…", self.open_device_panel, tip="Pick monitor / pump protocol and port"))
        from ..summary_actions import SummaryActions  # Print, Print preview, Save as PDF (in the background)

        self.summary = SummaryActions(self, self.c.store, lambda: self.c.session_id,
                                      lambda text, kind: self.message.show_message(text, kind))
        head.addWidget(self.summary.button)
        head.addWidget(button("◐", self.want_theme.emit, tip="Dark / light theme"))
        head.addWidget(button("Patients", self.want_patients.emit))
        root.addLayout(head)

        # alert banner (shown until acknowledged)
        self.banner = QFrame()
        self.banner.setObjectName("banner")
        bl = QHBoxLayout(self.banner)
        bl.setContentsMargins(12, 4, 8, 4)
        texts = QVBoxLayout()
        self.banner_text = QLabel()  # the alert to act on first; Acknowledge opens this one
        self.banner_text.setWordWrap(True)
        self.banner_text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        texts.addWidget(self.banner_text)
        self.banner_list = QLabel()  # every other open alert, with its age
        self.banner_list.setWordWrap(True)
        self.banner_list.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        texts.addWidget(self.banner_list)
        bl.addLayout(texts, 1)
        self.banner_alert_id: str | None = None
        self.ack_button = button("Acknowledge…", self.open_ack, name="danger", shortcut="A")
        bl.addWidget(self.ack_button)
        self.banner.hide()
        root.addWidget(self.banner)
        self.monitoring_line = QLabel("⚠ No monitor streaming: vitals are not being watched")
        self.monitoring_line.setObjectName("warnText")
        self.monitoring_line.hide()
        root.addWidget(self.monitoring_line)

        self.due_banner = QFrame()
        self.due_banner.setObjectName("dueBanner")
        dl = QHBoxLayout(self.due_banner)
        dl.setContentsMargins(12, 4, 8, 4)
        self.due_text = QLabel("The 2-hour discharge check is due.")
        dl.addWidget(self.due_text, 1)
        dl.addWidget(button("Open discharge check", self.want_discharge.emit, name="primary"))
        self.due_banner.hide()
        root.addWidget(self.due_banner)

        # middle: clocks + plot + entries | numerics
        mid = QHBoxLayout()
        mid.setSpacing(8)
        left = QVBoxLayout()
        left.setSpacing(6)
        clocks = QHBoxLayout()
        self.clock_tiles = [ClockTile() for _ in range(3)]
        for t in self.clock_tiles:
            clocks.addWidget(t)
        self.pump_tile = ClockTile()  # the pump at the chair (IV): rate, volumes, state, alarms, age
        for label in (self.pump_tile.label, self.pump_tile.value, self.pump_tile.sub):
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens the window
        self.pump_tile.setMinimumWidth(150)
        self.pump_tile.hide()
        clocks.addWidget(self.pump_tile)
        left.addLayout(clocks)
        self.popover = MarkerPopover(self)  # a tapped marker's details, beside the marker (nothing reflows)
        # The live plot (pyqtgraph, numpy: a third of a second to import) is built when this screen is first
        # shown or the plot first asked for, not at start-up: the app opens on the patient list.
        self._plot = None
        self.plot_slot = QWidget()
        QVBoxLayout(self.plot_slot).setContentsMargins(0, 0, 0, 0)
        left.addWidget(self.plot_slot, 5)
        self.detail = QLabel("Tap a marker on the plot for its details.")
        self.detail.setObjectName("muted")
        self.detail.setWordWrap(True)
        self.detail.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        left.addWidget(self.detail)
        mid.addLayout(left, 1)

        right = QVBoxLayout()
        right.setSpacing(6)
        self.tiles = {k: NumericTile() for k in ("hr", "spo2", "bp", "rr")}
        # two rows of two (four stacked tiles do not fit 800 px high): HR | SpO2, then the wider BP | RR
        for keys, stretch in ((("hr", "spo2"), (1, 1)), (("bp", "rr"), (3, 2))):
            row = QHBoxLayout()
            row.setSpacing(6)
            for k, st in zip(keys, stretch):
                self.tiles[k].setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Maximum)
                row.addWidget(self.tiles[k], st)
            right.addLayout(row, 1)
        elabel = QHBoxLayout()
        t = QLabel("Charted")
        t.setObjectName("numLabel")
        elabel.addWidget(t)
        self.amend_hint = QLabel("")  # "select an entry first": one fixed line, so nothing reflows
        self.amend_hint.setObjectName("warnText")
        self.amend_hint.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        elabel.addWidget(self.amend_hint, 1)
        self.amend_button = button("Correct…", self.open_amend, tip="Correct the selected entry (the original stays)")
        elabel.addWidget(self.amend_button)
        right.addLayout(elabel)
        self.entry_list = QListWidget()
        self.entry_list.setObjectName("chartedList")  # compact rows: at least 8 entries in view at 1280x800
        self.entry_list.setWordWrap(True)
        self.entry_list.setAlternatingRowColors(True)
        self.entry_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.entry_list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.entry_list.setMinimumHeight(60)
        right.addWidget(self.entry_list, 4)
        rw = QWidget()
        rw.setLayout(right)
        rw.setFixedWidth(400)
        self.side = rw
        mid.addWidget(rw)
        root.addLayout(mid, 1)

        # quick entry
        q1 = QHBoxLayout()
        q1.setSpacing(6)
        lab = QLabel(_K[Kind.DISSOCIATION].label)
        lab.setObjectName("clockLabel")
        q1.addWidget(lab)
        self.diss_buttons = []
        for v in range(5):
            b = button(str(v), lambda v=v: self.c.attempt(self.c.chart_dissociation, v), name="score",
                       tip=f"{_K[Kind.DISSOCIATION].label} {v}: {DISSOCIATION_LABELS[v]}")
            self.diss_buttons.append(b)
            q1.addWidget(b)
        q1.addSpacing(16)
        lab = QLabel(f"{_K[Kind.SEDATION].label} (MOAA/S)")
        lab.setObjectName("clockLabel")
        q1.addWidget(lab)
        self.sed_buttons = []
        for v in range(5, -1, -1):
            b = button(str(v), lambda v=v: self.c.attempt(self.c.chart_sedation, v), name="score",
                       tip=f"MOAA/S {v}: {MOAAS_LABELS[v]}")
            self.sed_buttons.append(b)
            q1.addWidget(b)
        q1.addSpacing(16)
        self.message = MessageLine()
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        q1.addWidget(self.message, 1)
        root.addLayout(q1)

        q2 = QHBoxLayout()
        q2.setSpacing(6)
        self.quick = {
            "nausea": button(f"{_K[Kind.NAUSEA].label} [N]", self.open_nausea, shortcut="N"),
            "cadss": button(f"{_K[Kind.CADSS6].label} [C]", self.open_cadss, shortcut="C"),
            "note": button(f"{_K[Kind.NOTE].label} [T]", self.open_note, shortcut="T"),
            "intervention": button(f"{_K[Kind.INTERVENTION].label} [I]", self.open_intervention, shortcut="I"),
            "vitals": button("Vitals [V]", self.open_vitals, shortcut="V"),
        }
        for b in self.quick.values():
            q2.addWidget(b)
        q2.addStretch(1)
        self.start_button = button("▶ Start [G]", self.start_infusion, name="primary", shortcut="G")
        # intranasal esketamine: each further device is charted with its time (the start charts device 1)
        self.device_button = button("Device 2 given [G]", self.chart_device, name="primary", shortcut="G",
                                    tip="Chart the next Spravato device as given now")
        self.device_button.hide()
        self.pause_button = button("Pause [P]", self.pause_or_resume, shortcut="P")
        self.rate_button = button("Rate… [R]", self.open_rate, shortcut="R")
        self.stop_button = button("■ Stop [Q]", self.open_stop, shortcut="Q")
        self.discharge_button = button("Discharge check [X]", self.want_discharge.emit, shortcut="X")
        for b in (self.start_button, self.device_button, self.pause_button, self.rate_button, self.stop_button,
                  self.discharge_button):
            q2.addWidget(b)
        root.addLayout(q2)

        self.keys = {"D": self.open_dissociation, "S": self.open_sedation, "N": self.open_nausea, "C": self.open_cadss,
                     "T": self.open_note, "I": self.open_intervention, "V": self.open_vitals, "G": self.start_or_next_device,
                     "P": self.pause_or_resume, "R": self.open_rate, "Q": self.open_stop, "X": self.want_discharge.emit,
                     "A": self.open_ack, "L": lambda: self.plot.set_follow(True)}
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.c.message.connect(self._on_message)

    def keyPressEvent(self, event) -> None:  # noqa: N802
        """Every quick entry has a key (no modifiers; the screen has no text fields to type into)."""
        slot = self.keys.get(event.text().upper()) if event.text() else None
        if slot is not None and not (event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)):
            slot()
            return
        super().keyPressEvent(event)

    # --- rendering ------------------------------------------------------------------------------------
    @property
    def plot(self):
        """The live plot, built on first use (see ``plot_slot``)."""
        if self._plot is None:
            from ..plot import LivePlot
            from ..touch import size_targets

            plot = LivePlot(self.pal)
            plot.marker_clicked_at.connect(self.popover.show_at)
            self.plot_slot.layout().addWidget(plot)
            size_targets(plot)
            self._plot = plot
        return self._plot

    def setVisible(self, visible: bool) -> None:  # noqa: N802
        if visible and self._plot is None:
            self.plot  # noqa: B018  - built before the show event, so names, focus order and sizes include it
        super().setVisible(visible)

    def apply_palette(self, pal: Palette) -> None:
        self.pal = pal
        if self._plot is not None:
            self._plot.apply_palette(pal)

    _message_session: str | None = None  # the session open when the message line was last written

    def _on_message(self, text: str, kind: str) -> None:
        """The chair's "saved"/error line, about this session: said while another screen shows about the session
        already on screen here (a new patient saved on the patient list), it belongs to that screen."""
        if not self.isVisible() and self.c.session_id == self._message_session and kind != "error":
            return
        self._message_session = self.c.session_id
        self.message.show_message(text, kind)

    def render_view(self) -> None:
        """After a command or a new alert: header, entries, buttons, banner."""
        v = self.c.view
        if v is None:
            self.patient_label.set_full_text("No session open")
            self.state_badge.setText("")
            self.entry_list.clear()
            self.banner.hide()
            return
        if self._message_session != v.id:  # said about another session (or none): it goes
            self._message_session = v.id
            self.message.clear()
        p = v.patient
        dose = v.dose.row if v.dose else None
        dose_text = f" · {dose_words(dose['route'], dose['dose_mg'])}" if dose else ""
        self.patient_label.set_full_text(f"{p['family_name'].upper()}, {p['given_name']} · MRN {p['mrn']} · session "
                                         f"{v.session_number}{dose_text}")
        self.state_badge.setText(vm.STATE_LABELS.get(v.state, v.state.value))
        s = v.state
        nasal = v.session["route"] == "IN"  # esketamine devices: no infusion, rate, pause or pump
        self.start_button.setEnabled(s is SessionState.CHECKED_IN and v.dose is not None)
        self.start_button.setText("▶ Start: device 1 [G]" if nasal else "▶ Start [G]")
        self.pause_button.setEnabled(s in (SessionState.INFUSING, SessionState.PAUSED))
        self.pause_button.setText("Resume [P]" if s is SessionState.PAUSED else "Pause [P]")
        self.rate_button.setEnabled(s in (SessionState.INFUSING, SessionState.PAUSED) and not nasal)
        self.stop_button.setEnabled(s in (SessionState.INFUSING, SessionState.PAUSED))
        self.stop_button.setText("■ End administration [Q]" if nasal else "■ Stop [Q]")
        sched = self.c.nasal_schedule() if nasal else None
        device_next = sched is not None and sched.next_device is not None and s is SessionState.INFUSING
        self.start_button.setVisible(not nasal or s is SessionState.CHECKED_IN or not device_next)
        self.device_button.setVisible(device_next)
        if device_next:
            self.device_button.setText(f"Device {sched.next_device} given [G]")
        for b in (self.pause_button, self.rate_button):
            b.setVisible(not nasal)
        self.discharge_button.setEnabled(s is SessionState.RECOVERY)
        open_ = not s.is_final
        for b in self.diss_buttons + self.sed_buttons + list(self.quick.values()):
            b.setEnabled(open_)
        names = {u["user_id"]: u["display_name"] for u in self.c.store.users()}
        self._entries = vm.entries(v, names)
        self.entry_list.clear()
        for e in self._entries:
            text = f"{e.time}  {e.text}" + (f"  · {e.author}" if e.author and e.author != "system" else "")
            if e.flags:
                text += "\n   " + " · ".join(e.flags)
            if e.history:
                text += "\n   " + " · ".join(e.history)
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, e.entry_id)
            if e.table == "alerts" and "NOT ACKNOWLEDGED" in e.flags:
                item.setForeground(Qt.GlobalColor.red)
            self.entry_list.addItem(item)
        self.entry_list.scrollToTop()  # the newest entry (the list is newest first) is always in view
        self.render_banner()

    def render_banner(self) -> None:
        """The alert to act on first (critical, then oldest) with the button that acknowledges that same alert,
        and every other open alert with its age."""
        alerts = vm.open_alerts(self.c.unacknowledged(), self.c.clock.now())
        if not alerts:
            self.banner_alert_id = None
            self.banner.hide()
            return
        top = alerts[0]
        self.banner_alert_id = top.id
        self.banner_text.setText(top.line + (f"  (+{len(alerts) - 1} more below)" if len(alerts) > 1 else ""))
        self.banner_list.setText("\n".join(a.line for a in alerts[1:]))
        self.banner_list.setVisible(len(alerts) > 1)
        self.banner.show()

    def changeEvent(self, event) -> None:  # noqa: N802
        if event.type() in (QEvent.Type.StyleChange, QEvent.Type.FontChange):
            QTimer.singleShot(0, self._fit_tiles)  # once the tiles' labels have their new fonts
        super().changeEvent(event)

    def showEvent(self, event) -> None:  # noqa: N802
        self._fit_tiles()
        super().showEvent(event)

    def _fit_tiles(self) -> None:
        """The side column is as wide as the largest BP ("888/888") needs at this text size (the BP tile takes
        3/5 of it), never narrower than 400 px: values never clip and the column never jumps as they change."""
        tile = self.tiles["bp"]
        for w in (tile.value, tile.label, tile.cue):
            w.ensurePolished()
        need = max(tile.value.fontMetrics().horizontalAdvance("888/888"),
                   tile.label.fontMetrics().horizontalAdvance("NIBP")
                   + tile.cue.fontMetrics().horizontalAdvance("⚠ PRE-DOSE HIGH") + 12) + 30
        width = max(400, int(need * 5 / 3) + 6)
        if self.side.width() != width:
            self.side.setFixedWidth(width)

    def render_live(self) -> None:
        """Every repaint tick: numerics, clocks, plot, device states, alert ages, monitoring missing."""
        now = self.c.clock.now()
        policy = self.c.policy
        running = self.c.state in (SessionState.INFUSING, SessionState.PAUSED, SessionState.RECOVERY)
        self.monitoring_line.setVisible(running and not self.c.monitor_streaming())
        if self.banner.isVisible():
            self.render_banner()  # the ages move on
        stale = max(30.0, 3 * self.c.speed)
        manual = vm.manual_bp(self.c.view)
        for n in vm.numerics(self.c.live, now, policy, stale_s=stale, manual=manual, started=running,
                             manual_rr=vm.manual_rr(self.c.view)):
            self.tiles[n.key].render(n, self.pal)
        last = self.c.live.last_nibp()
        for tile, cvm in zip(self.clock_tiles, vm.clocks(self.c.view, now, policy, last[0] if last else None,
                                                         self.c.nasal_schedule())):
            tile.render(cvm, self.pal)
        self._render_pump(now)
        markers, alerts = plot_markers(self._entries)
        nasal = self.c.view is not None and self.c.view.session["route"] == "IN"
        spans = [] if nasal else infusion_spans(self.c.view, now)  # nothing is infused intranasally: no shading
        self.plot.refresh(self.c.live, now.timestamp(), spans, markers, alerts, policy, manual)
        parts = []
        for conn in self.c.devices.connections.values():
            word = STATE_WORDS.get(conn.state, conn.state)
            color = self.pal.ok if conn.state == "streaming" else self.pal.warn if conn.state in ("connecting", "negotiating") else self.pal.alarm
            sim = " (sim)" if conn.simulated else ""
            parts.append(f"{conn.name.capitalize()}{sim}: <b style='color:{color}'>{word}</b>")
        self.device_label.setText(" &nbsp; ".join(parts) or "No devices connected")
        v = self.c.view
        due = (v is not None and v.state is SessionState.RECOVERY and v.infusion_started_at is not None
               and now - v.infusion_started_at >= timedelta(minutes=policy.discharge_min_after_start))
        self.due_banner.setVisible(False)  # the discharge clock says DUE; the button below turns primary
        if self.discharge_button.objectName() != ("primary" if due else ""):
            self.discharge_button.setObjectName("primary" if due else "")
            self.discharge_button.setText("Discharge check DUE [X]" if due else "Discharge check [X]")
            self.discharge_button.style().unpolish(self.discharge_button)
            self.discharge_button.style().polish(self.discharge_button)

    def pump_connected(self) -> bool:
        return any(c.protocol in PUMP_PROTOCOLS for c in self.c.devices.connections.values()) if self.c.devices else False

    def _render_pump(self, now) -> None:
        """The pump tile on an IV session (never on an intranasal one: nothing is infused)."""
        v = self.c.view
        report = self.c.pump_report()
        iv = v is not None and v.session["route"] == "IV"
        show = iv and (report is not None or self.pump_connected())
        self.pump_tile.setVisible(show)
        if show:
            pvm = vm.pump_tile(report, now, self.c.charted_pump_rate(), self.pump_connected(), self.c.pump_fresh_s)
            self.pump_tile.render(pvm, self.pal)
            self.pump_tile.setToolTip(f"{pvm.label}\n{pvm.value}\n{pvm.sub}")

    # --- entry dialogs --------------------------------------------------------------------------------
    def _show(self, dialog) -> None:
        self.dialog = dialog
        dialog.finished.connect(lambda _r, d=dialog: self._closed(d))
        dialog.open()

    def _closed(self, dialog) -> None:
        if self.dialog is dialog:
            self.dialog = None
        dialog.deleteLater()

    def open_dissociation(self) -> None:
        self._show(ScorePicker(self, "Dissociation (clinician global)", [(v, DISSOCIATION_LABELS[v]) for v in range(5)],
                               lambda v, _x: self.c.chart_dissociation(v)))

    def open_sedation(self) -> None:
        self._show(ScorePicker(self, "Sedation: MOAA/S", [(v, MOAAS_LABELS[v]) for v in range(5, -1, -1)],
                               lambda v, _x: self.c.chart_sedation(v)))

    def open_nausea(self) -> None:
        self._show(ScorePicker(self, "Nausea 0-10", [(v, str(v)) for v in range(11)],
                               lambda v, vom: self.c.chart_nausea(v, vom), check="Vomiting [V]"))

    def open_cadss(self) -> None:
        fields = [Field(str(i), label, "taps", "", [(v, str(v)) for v in range(5)])  # one tap per item
                  for i, label in cadss6_labels(self.c.policy.cadss6_item_text)]
        def total(vals: dict) -> str:
            done = [int(v) for v in vals.values() if v != ""]
            left = len(vals) - len(done)
            return f"Total {sum(done)} / 24" + (f"  ({left} item{'s' if left != 1 else ''} still to score)" if left else "")

        self._show(FormDialog(self, "CADSS-6 (items 0-4)", fields,
                              lambda vals: self.c.chart_cadss6({k: (v if v != "" else "x") for k, v in vals.items()}),
                              intro="Items 1, 2, 6, 7, 15 and 22 of the CADSS; wording as entered by the clinic.",
                              live=total))

    def open_note(self) -> None:
        self._show(FormDialog(self, "Note", [
            Field("text", "Note", "text"),
            Field("when", "Happened at (HH:MM)", placeholder="leave empty for now; an earlier time makes a late entry"),
        ], lambda v: self.c.chart_note(v["text"], effective_at=self.c.parse_time(v.get("when", ""))),
            picks=note_picks(self.c.policy)))

    def open_intervention(self) -> None:
        self._show(FormDialog(self, "Intervention", [
            Field("drug", "Drug / action", placeholder="e.g. ondansetron"), Field("dose", "Dose"),
            Field("unit", "Unit", "combo", "mg", [("mg", "mg"), ("mcg", "mcg"), ("mL", "mL"), ("L/min", "L/min"), ("", "-")]),
            Field("route", "Route", "combo", "IV", [("IV", "IV"), ("PO", "PO"), ("SL", "SL"), ("IM", "IM"), ("nasal", "nasal"), ("", "-")]),
        ], lambda v: self.c.chart_intervention(v["drug"], v["dose"], v["unit"], v["route"]),
            picks=intervention_picks(self.c.policy)))

    def open_vitals(self) -> None:
        self._show(FormDialog(self, "Manual vitals", [
            Field("sys", "Systolic BP (mmHg)"), Field("dia", "Diastolic BP (mmHg)"), Field("hr", "Heart rate (/min)"),
            Field("spo2", "SpO2 (%)"), Field("rr", "Respiratory rate (/min)"),
            Field("taken_at", "Taken at (HH:MM)", placeholder="now"),
        ], lambda v: self.c.chart_manual_vitals(v["sys"], v["dia"], v["hr"], v["spo2"], taken_at=v["taken_at"],
                                                rr=v["rr"])))

    def start_infusion(self, predose: str | None = None, without_monitor: str | None = None) -> None:
        """Start; the service says what must be confirmed first: the pre-dose BP (the latest before the start,
        from the monitor or typed), then starting with no monitor streaming. Each asks for a reason."""
        if self.c.state is not SessionState.CHECKED_IN:
            return
        ok = self.c.attempt(self.c.start_infusion, predose_reviewed=predose, without_monitor=without_monitor)
        if ok is not False:
            return
        if self.c.baseline_over_limit() and not predose:
            self._show(FormDialog(self, "Pre-dose blood pressure", [
                Field("reason", "Reviewed with / decision", placeholder="e.g. repeat BP 136/86; prescriber agreed")],
                lambda v: self._start_confirmed("predose", v["reason"], without_monitor), submit_text="Start anyway",
                intro=self.c.baseline_over_limit()))
        elif not self.c.monitor_streaming():
            self._show(FormDialog(self, "No monitor streaming", [
                Field("reason", "Why start without a monitor", placeholder="e.g. monitor in repair; manual vitals every 5 min")],
                lambda v: self._start_confirmed("monitor", predose, v["reason"]), submit_text="Start without monitor",
                intro="No monitor is sending readings. Starting now raises a warning that stays until monitoring returns."))

    def _start_confirmed(self, what: str, predose: str | None, without_monitor: str | None) -> None:
        from ...domain.errors import ClinicalInputError

        reason = predose if what == "predose" else without_monitor
        if not (reason or "").strip():
            raise ClinicalInputError("say who reviewed the pre-dose BP and what was decided" if what == "predose"
                                     else "say why administration starts without a monitor")
        if not self.c.start_infusion(predose_reviewed=predose, without_monitor=without_monitor):
            if what == "predose":  # the BP is reviewed; the monitor question comes next
                from PySide6.QtCore import QTimer

                QTimer.singleShot(0, lambda: self.start_infusion(predose=predose))

    def start_or_next_device(self) -> None:
        """[G]: start; on an intranasal session once started, the next device."""
        if self.c.state is SessionState.CHECKED_IN:
            self.start_infusion()
        elif self.device_button.isVisible():
            self.chart_device()

    def chart_device(self) -> None:
        self.c.attempt(self.c.chart_nasal_device)

    def pause_or_resume(self) -> None:
        if self.c.state is SessionState.PAUSED:
            self.c.attempt(self.c.resume)
        elif self.c.state is SessionState.INFUSING:
            self._show(FormDialog(self, "Pause infusion", [Field("reason", "Reason")], lambda v: self.c.pause(v["reason"])))

    def open_rate(self) -> None:
        """The current rate, -25 % / -50 % in one tap (or a custom rate), and the time left at the new rate
        from the volume still to run."""
        if self.c.state not in (SessionState.INFUSING, SessionState.PAUSED):
            return
        current = self.c.current_rate()

        def left(v: dict) -> str:
            r = self.c.remaining_at(v.get("rate"))
            return f"{r[0]:.1f} mL left: about {r[1]:.0f} min at {v['rate']} mL/h" if r else ""

        dialog = FormDialog(self, "Change infusion rate", [Field("rate", "New rate (mL/h)"), Field("reason", "Reason")],
                            lambda v: self.c.change_rate(v["rate"], v["reason"]), live=left,
                            intro=f"Current rate {current:g} mL/h" if current else "")
        if current:
            row = QHBoxLayout()
            for pct in (25, 50):
                new = round(current * (100 - pct) / 100, 1)
                b = button(f"-{pct} % ({new:g} mL/h)", lambda n=new, p=pct: dialog.set_values(
                    rate=f"{n:g}", reason=dialog.values()["reason"] or f"rate reduced {p}%"))
                b.setObjectName(f"minus{pct}")
                row.addWidget(b)
            dialog.layout().insertLayout(2, row)
        self._show(dialog)

    def open_stop(self) -> None:
        """Completed or stopped early (with the reason), and the amount delivered: the pump's volume infused
        when a pump is connected, else typed (empty on a completed infusion = the ordered volume)."""
        if self.c.state not in (SessionState.INFUSING, SessionState.PAUSED):
            return
        sched = self.c.nasal_schedule()
        if sched is not None:  # intranasal: the administration ends after the last device (or early, with why)
            given = len(sched.given)
            self._show(FormDialog(self, "Administration complete", [
                Field("outcome", "Outcome", "combo", "completed" if sched.all_given else "early",
                      [("completed", "All devices given"), ("early", "Ended early (fewer devices)")]),
                Field("reason", "Reason (required when ended early)")],
                lambda v: self.c.stop_infusion(v["reason"], completed=v["outcome"] == "completed"),
                submit_text="End administration",
                intro=f"{given} of {sched.devices_planned} esketamine devices charted."))
            return
        pump = self.c.pump_volume_infused()
        dose = self.c.view.dose.row if self.c.view and self.c.view.dose else {}
        ordered = f"{dose.get('volume_ml') or 0:g} mL ({dose.get('dose_mg') or 0:g} mg)"
        if pump is not None:
            intro = f"Ordered {ordered}. The pump reports {pump:g} mL infused: that is charted as delivered."
            volume = []
        else:
            intro = (f"Ordered {ordered}. No pump is connected: type the volume delivered "
                     "(leave empty when the whole ordered volume ran).")
            volume = [Field("delivered_ml", "Volume delivered (mL)", placeholder="mL")]
        self._show(FormDialog(self, "Stop infusion", [
            Field("outcome", "Outcome", "combo", "completed",
                  [("completed", "Completed as ordered"), ("early", "Stopped early")]),
            Field("reason", "Reason (required when stopped early)"), *volume],
            lambda v: self.c.stop_infusion(v["reason"], completed=v["outcome"] == "completed",
                                           delivered_ml=v.get("delivered_ml")),
            submit_text="Stop infusion", intro=intro))

    def open_ack(self) -> None:
        """Acknowledge the alert the banner shows (never another one)."""
        self.render_banner()
        a = next((x for x in self.c.unacknowledged() if x["id"] == self.banner_alert_id), None)
        if a is None:
            return
        self._show(FormDialog(self, "Acknowledge alert", [
            Field("action", "Action taken", "text", placeholder="What was done (required)")],
            lambda v: self.c.acknowledge(a["id"], v["action"]), submit_text="Acknowledge",
            intro=f"{vm.local(a['effective_at'])}: {a['message']} (policy v{a['policy_version']})"))

    def selected_entry(self) -> vm.EntryVM | None:
        item = self.entry_list.currentItem()
        if item is None:
            return None
        eid = item.data(Qt.ItemDataRole.UserRole)
        return next((e for e in self._entries if e.entry_id == eid), None)

    def open_amend(self, entry: vm.EntryVM | None = None) -> None:
        entry = entry or self.selected_entry()
        if entry is None:  # said beside the button, on one line that is always there: nothing moves
            self.amend_hint.setText("Select an entry in the list first")
            self.amend_hint.setToolTip("Tap the entry to correct in the Charted list, then Correct…")
            return
        if not entry.amendable:
            # session events (start, pause, stop ...) move the session's state machine and drive its clocks;
            # they are not corrected in place: a mistaken pause is answered with resume and a note.
            self.amend_hint.setText("This entry cannot be corrected: add a note")
            self.amend_hint.setToolTip("Start, pause, stop, dose and alert entries are corrected with a note")
            return
        self.amend_hint.setText("")
        if entry.kind == "rate":
            self._show(FormDialog(self, "Correct a rate change", [
                Field("rate", "Corrected rate (mL/h)", default=f"{entry.value:g}"), Field("reason", "Reason for the correction")],
                lambda v: self.c.amend_rate_change(entry.entry_id, v["reason"], v["rate"]),
                intro=f"Original: {entry.time} {entry.text} - it stays visible in the chart."))
            return
        fields = [Field("value", "Corrected value", default="" if entry.value is None else f"{entry.value:g}")]
        if entry.kind in ("note", "intervention"):
            fields = [Field("text", "Corrected text", "text")]
        fields.append(Field("reason", "Reason for the correction"))

        def submit(v):
            if "text" in v:
                return self.c.amend_observation(entry.entry_id, v["reason"], text=v["text"])
            return self.c.amend_observation(entry.entry_id, v["reason"], value=v["value"])

        self._show(FormDialog(self, "Correct an entry", fields, submit, intro=f"Original: {entry.time} {entry.text}"
                              " - it stays visible in the chart."))

    def open_device_panel(self) -> None:
        protocols = [(p, PROTOCOL_LABELS[p]) for p in MONITOR_PROTOCOLS + PUMP_PROTOCOLS]
        ports = available_ports()
        sims = [(c.port_url, f"{c.port_url} (simulated {c.protocol})") for c in self.c.devices.connections.values() if c.simulated]
        port_options = sims + [(d, f"{d} - {desc}") for d, desc in ports] or [("", "no serial ports found")]
        dlg = FormDialog(self, "Devices", [
            Field("protocol", "Protocol", "combo", "ge", protocols),
            Field("port", "Port", "combo", port_options[0][0], port_options),
            Field("other", "…or port / URL", placeholder="/dev/ttyUSB0, socket://host:port, listen://0.0.0.0:2575"),
        ], lambda v: self._connect(v), submit_text="Connect",
            intro="Connected: " + (", ".join(f"{c.name}: {c.label} on {c.port_url} ({c.state})"
                                             for c in self.c.devices.connections.values()) or "none"))
        self._show(dlg)

    def _connect(self, v: dict) -> None:
        from ...domain.errors import ClinicalInputError

        port = (v.get("other") or "").strip() or v.get("port")
        if not port:
            raise ClinicalInputError("pick a port")
        self.c.devices.connect(v["protocol"], port)
