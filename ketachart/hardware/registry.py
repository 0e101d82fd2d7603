"""Codecs and simulators are found by protocol name (``ge``, ``philips``, ...): one way to file them."""

from __future__ import annotations

from typing import Callable, TypeVar

T = TypeVar("T", bound=type)


def registrar(table: dict[str, Callable]) -> Callable[[str], Callable[[T], T]]:
    """``register = registrar(TABLE)``; then ``@register("ge")`` files a class in TABLE under its protocol name
    and tells the class that name (``cls.protocol``)."""

    def register(name: str) -> Callable[[T], T]:
        def deco(cls: T) -> T:
            cls.protocol = name
            table[name] = cls
            return cls

        return deco

    return register
