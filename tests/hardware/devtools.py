"""Helpers for the device tests: feed codecs, pair a sim with a codec, wait on link threads."""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta, timezone
from typing import Callable

from ketachart.hardware.codecs.base import Codec, CodecTime, FrameEvent, ReadingEvent

from ketachart.hardware.codecs.catalog import codec_for
from ketachart.hardware.link import SilenceWatchdog
from ketachart.hardware.sim.base import DeviceSim

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def at(seconds: float = 0.0) -> CodecTime:
    return CodecTime(T0 + timedelta(seconds=seconds), 1000.0 + seconds)


def feed(codec: Codec, data: bytes, chunks: str = "whole", seed: int = 0, t: float = 0.0) -> list[object]:
    """Feed bytes whole, one byte at a time, or in random chunk sizes; return all events."""
    events: list[object] = []
    if chunks == "whole":
        parts = [data]
    elif chunks == "bytes":
        parts = [data[i:i + 1] for i in range(len(data))]
    else:
        rng = random.Random(seed)
        parts, i = [], 0
        while i < len(data):
            n = rng.randint(1, 64)
            parts.append(data[i:i + n])
            i += n
    for part in parts:
        codec.receive_data(part, at(t))
        events += codec.events()
    return events


def readings(events: list[object]) -> list:
    return [e.reading for e in events if isinstance(e, ReadingEvent)]


def values(events: list[object]) -> dict[str, float | None]:
    """Last value per parameter name."""
    return {r.parameter.value: r.value for r in readings(events)}


def frames(events: list[object]) -> list[FrameEvent]:
    return [e for e in events if isinstance(e, FrameEvent)]


class Watch:
    """The link's silence watchdog (the one owner of silence) for in-memory conversations."""

    def __init__(self, codec: Codec, t: float = 0.0, at: Callable[[float], CodecTime] = at) -> None:
        self.codec = codec
        self.at = at
        self.dog = SilenceWatchdog(codec.link_hint.quiet_time_s, at(t).mono)

    def see(self, events: list[object], t: float) -> list[object]:
        if any(isinstance(e, FrameEvent) and e.valid for e in events):
            self.dog.alive(self.at(t).mono)
        return events

    def check(self, t: float) -> float | None:
        return self.dog.check(self.codec, self.at(t))


def run_pair(protocol: str, sim: DeviceSim, t_start: float, t_end: float, step: float = 0.25):
    """Drive a sim and a fresh codec against each other in memory; return (codec, events)."""
    codec = codec_for(protocol)
    events: list[object] = []
    t = t_start
    watch = Watch(codec, t)
    sim.receive_data(codec.start(at(t)), t)
    while t <= t_end:
        sim.tick(t)
        out = sim.data_to_send()
        if out:
            codec.receive_data(out, at(t))
        events += watch.see(codec.events(), t)
        codec.tick(at(t))
        watch.check(t)
        if codec.needs_restart:
            sim.receive_data(codec.start(at(t)), t)
        back = codec.data_to_send()
        if back:
            sim.receive_data(back, t)
        t += step
    return codec, events


class Recorder:
    """Collects link callbacks from the link's thread and lets the test wait for a condition."""

    def __init__(self) -> None:
        self.readings: list = []
        self.states: list[tuple[str, str]] = []
        self.cond = threading.Condition()

    def on_reading(self, reading) -> None:
        with self.cond:
            self.readings.append(reading)
            self.cond.notify_all()

    def on_state(self, state: str, detail: str = "") -> None:
        with self.cond:
            self.states.append((state, detail))
            self.cond.notify_all()

    @property
    def state(self) -> str | None:
        return self.states[-1][0] if self.states else None

    def wait(self, predicate: Callable[[], bool], timeout: float = 5.0, advance: Callable[[], None] | None = None,
             slice_s: float = 0.05) -> bool:
        """Wait until predicate() holds; between short waits, optionally move the fake clock on."""
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            with self.cond:
                while not predicate():
                    if deadline.is_set():
                        return False
                    if advance is not None:
                        self.cond.release()
                        try:
                            advance()
                        finally:
                            self.cond.acquire()
                    self.cond.wait(slice_s)
                return True
        finally:
            timer.cancel()
