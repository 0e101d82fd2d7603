"""The one labelled value every part of the printed summary is made of."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    label: str
    value: str
    flag: bool = False  # print highlighted (override, mismatch, not acknowledged ...)
