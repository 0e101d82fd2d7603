"""UI fixtures (defined in helpers so e2e tests share them)."""

from tests.ui.helpers import store, window  # noqa: F401
