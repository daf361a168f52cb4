"""Fixtures of the reliability tests: the end-to-end stack (worker and beat processes) and a
private redis-server."""

from __future__ import annotations

from tests.e2e.conftest import e2e_redis, stack  # noqa: F401 - fixtures, used by name
from tests.reliability.pipeline import private_redis  # noqa: F401 - a fixture, used by name
