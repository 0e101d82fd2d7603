"""Dim-room dark theme and a light theme. Colour is only ever the second cue: every state also has words."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Palette:
    name: str
    bg: str
    panel: str
    panel2: str
    text: str
    muted: str
    border: str
    accent: str
    accent_text: str
    ok: str
    warn: str
    alarm: str
    alarm_bg: str
    warn_bg: str
    hr: str
    spo2: str
    bp: str
    event: str
    plot_bg: str
    plot_axis: str
    infusion_fill: tuple
    paused_fill: tuple
    infusion_text: str
    button_bg: str = ""  # enabled buttons (default: panel2)
    button_border: str = ""
    disabled_bg: str = ""  # disabled buttons: flatter and fainter than enabled ones in both themes
    disabled_text: str = ""


# Each role's colour in the dark and the light theme, side by side: a role cannot be missing from one theme,
# and each pair can be checked for contrast at a glance.
_COLOURS: dict[str, tuple] = {  # role: (dark, light)
    "bg": ("#0b0e12", "#f3f5f7"),
    "panel": ("#141a21", "#ffffff"),
    "panel2": ("#1c242d", "#e8ecf0"),
    "text": ("#d9dee4", "#111820"),
    "muted": ("#8a96a3", "#4f5b66"),
    "border": ("#2a3440", "#c3ccd5"),
    "accent": ("#2f6f9f", "#1d5f8f"),
    "accent_text": ("#eef4f8", "#ffffff"),
    "ok": ("#5cc48a", "#177a45"),
    "warn": ("#e8b04a", "#8a5a00"),
    "alarm": ("#ff6b6b", "#b3121b"),
    "alarm_bg": ("#5a1616", "#ffd9d9"),
    "warn_bg": ("#4a3510", "#ffefc7"),
    "hr": ("#5cd68d", "#0e8a45"),
    "spo2": ("#4fb8f0", "#0b6fb0"),
    "bp": ("#e9a6ff", "#8b2fa5"),
    "event": ("#f3d36b", "#9a6b00"),
    "plot_bg": ("#0b0e12", "#ffffff"),
    "plot_axis": ("#6d7884", "#5d6873"),
    "infusion_fill": ((70, 130, 190, 85), (29, 95, 143, 55)),
    "paused_fill": ((232, 176, 74, 70), (200, 130, 0, 60)),
    "infusion_text": ("#7fb2dd", "#1d5f8f"),
    "button_bg": ("#1c242d", "#ffffff"),
    "button_border": ("#3a4654", "#7f8b97"),
    "disabled_bg": ("#10151b", "#e4e8ec"),
    "disabled_text": ("#5f6b77", "#8a949e"),
}
DARK = Palette(name="dark", **{role: pair[0] for role, pair in _COLOURS.items()})
LIGHT = Palette(name="light", **{role: pair[1] for role, pair in _COLOURS.items()})
THEMES = {"dark": DARK, "light": LIGHT}


def stylesheet(p: Palette, scale: float = 1.0) -> str:
    f = lambda px: f"{round(px * scale)}px"  # noqa: E731
    return f"""
* {{ font-size: {f(17)}; color: {p.text}; }}
QMainWindow, QWidget#screen, QStackedWidget, QDialog {{ background: {p.bg}; }}
QFrame#panel, QGroupBox {{ background: {p.panel}; border: 1px solid {p.border}; border-radius: 8px; }}
QGroupBox {{ margin-top: 14px; padding-top: 10px; font-weight: bold; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: {p.muted}; }}
QLabel {{ background: transparent; }}
QLabel#muted, QLabel#plotLegend {{ color: {p.muted}; font-size: {f(15)}; }}
QLabel#title {{ font-size: {f(26)}; font-weight: bold; }}
QLabel#patientBar {{ font-size: {f(22)}; font-weight: bold; }}
QLabel#stateBadge {{ font-size: {f(18)}; font-weight: bold; padding: 4px 12px; border-radius: 6px;
    background: {p.panel2}; border: 1px solid {p.border}; }}
QLabel#numLabel {{ font-size: {f(20)}; color: {p.muted}; font-weight: bold; }}
QLabel#numValue {{ font-size: {f(58)}; font-weight: bold; }}
QLabel#numUnit {{ font-size: {f(17)}; color: {p.muted}; }}
QLabel#numCue {{ font-size: {f(20)}; font-weight: bold; }}
QLabel#numSub {{ font-size: {f(16)}; color: {p.muted}; }}
QLabel#clockLabel {{ font-size: {f(17)}; color: {p.muted}; font-weight: bold; }}
QLabel#clockValue {{ font-size: {f(38)}; font-weight: bold; }}
QLabel#clockSub {{ font-size: {f(15)}; color: {p.muted}; }}
QLabel#saved {{ color: {p.ok}; font-weight: bold; }}
QLabel#error {{ color: {p.alarm}; font-weight: bold; }}
QLabel#warnText {{ color: {p.warn}; font-weight: bold; }}
QLabel#steps {{ font-family: monospace; font-size: {f(17)}; background: {p.panel2}; padding: 8px; border-radius: 6px; }}
QFrame#banner {{ background: {p.alarm_bg}; border: 2px solid {p.alarm}; border-radius: 8px; }}
QFrame#banner QLabel {{ font-size: {f(22)}; font-weight: bold; }}
QFrame#dueBanner {{ background: {p.warn_bg}; border: 2px solid {p.warn}; border-radius: 8px; }}
QPushButton {{ min-height: 44px; min-width: 44px; padding: 4px 10px; background: {p.button_bg or p.panel2};
    border: 1px solid {p.button_border or p.border}; border-radius: 8px; font-weight: bold; }}
QPushButton:hover {{ border-color: {p.accent}; }}
QPushButton:pressed, QPushButton:checked {{ background: {p.accent}; color: {p.accent_text}; }}
QPushButton:disabled {{ color: {p.disabled_text or p.muted}; background: {p.disabled_bg or p.panel};
    border: 1px solid {p.disabled_bg or p.border}; font-weight: normal; }}
QPushButton#primary {{ background: {p.accent}; color: {p.accent_text}; }}
QPushButton#primary:disabled {{ background: {p.disabled_bg or p.panel}; color: {p.disabled_text or p.muted};
    border: 1px solid {p.disabled_bg or p.border}; }}
QPushButton#danger {{ background: {p.alarm_bg}; border: 2px solid {p.alarm}; }}
QPushButton#score {{ font-size: {f(22)}; min-width: 44px; padding: 4px 6px; }}
QPushButton#liveButton:checked {{ background: {p.panel2}; color: {p.ok}; border-color: {p.ok}; }}
QPushButton#liveButton:!checked {{ background: {p.warn_bg}; color: {p.text}; border: 2px solid {p.warn}; }}
QLineEdit, QComboBox, QSpinBox, QDoubleSpinBox, QDateEdit, QPlainTextEdit, QTextEdit {{ min-height: 40px;
    background: {p.panel2}; border: 1px solid {p.border}; border-radius: 6px; padding: 2px 8px; }}
QLineEdit:focus, QComboBox:focus {{ border: 2px solid {p.accent}; }}
QComboBox QAbstractItemView {{ background: {p.panel2}; selection-background-color: {p.accent}; }}
QCheckBox, QRadioButton {{ min-height: 44px; spacing: 10px; }}
QCheckBox::indicator, QRadioButton::indicator {{ width: 28px; height: 28px; }}
QListWidget, QTableWidget, QTreeWidget {{ background: {p.panel}; border: 1px solid {p.border}; border-radius: 6px;
    alternate-background-color: {p.panel2}; }}
QListWidget::item, QTableWidget::item, QTreeWidget::item {{ min-height: 40px; padding: 4px; }}
QListWidget#chartedList::item {{ min-height: 20px; padding: 1px 4px; }}
QListWidget::item:selected, QTableWidget::item:selected, QTreeWidget::item:selected {{ background: {p.accent};
    color: {p.accent_text}; }}
QHeaderView::section {{ background: {p.panel2}; color: {p.muted}; border: none; padding: 6px; font-weight: bold; }}
QScrollArea {{ border: none; background: {p.bg}; }}
QScrollBar:vertical {{ width: 18px; background: {p.panel}; }}
QScrollBar::handle:vertical {{ background: {p.border}; min-height: 44px; border-radius: 6px; }}
QMenu {{ background: {p.panel2}; border: 1px solid {p.button_border or p.border}; padding: 4px; }}
QMenu::item {{ padding: 10px 28px 10px 16px; min-height: 28px; color: {p.text}; }}
QMenu::item:selected {{ background: {p.accent}; color: {p.accent_text}; }}
QMenu::item:disabled {{ color: {p.disabled_text or p.muted}; }}
QToolTip {{ background: {p.panel2}; color: {p.text}; border: 1px solid {p.border}; font-size: {f(16)}; }}
QStatusBar {{ background: {p.panel}; color: {p.muted}; }}
QTabBar::tab {{ min-height: 44px; padding: 4px 16px; background: {p.panel2}; }}
QTabBar::tab:selected {{ background: {p.accent}; color: {p.accent_text}; }}
"""


def level_color(p: Palette, level: str) -> str:
    return {"alarm": p.alarm, "warn": p.warn, "stale": p.muted, "ok": p.ok}.get(level, p.text)
