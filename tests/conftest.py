"""Shared fixtures."""

from tests.support.messages import task_identity  # noqa: F401  (a fixture, used by name)
