"""Shared fixtures. Qt runs headless; time is a FakeClock; databases are real SQLite files in tmp_path."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# CI replays the same fuzz examples on every run (a red CI must mean a change broke something, not that the
# dice found an old bug); developers' runs keep exploring new examples, and what they find becomes a test.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

from ketachart.domain.clock import FakeClock  # noqa: E402


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
