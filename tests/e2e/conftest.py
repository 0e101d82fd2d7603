"""UI fixtures (defined in helpers so e2e tests share them)."""

from tests.ui.helpers import accounts, store, window  # noqa: F401
