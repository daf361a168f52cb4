"""Fixtures of the security tests: the end-to-end stack (worker and beat processes)."""

from __future__ import annotations

from tests.e2e.conftest import e2e_redis, stack  # noqa: F401 - fixtures, used by name
