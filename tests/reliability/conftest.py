"""Fixtures of the reliability tests: the end-to-end stack (worker and beat processes, on a
private redis-server that ``energylab.testing`` provides as ``private_redis``)."""

from __future__ import annotations

from tests.e2e.conftest import stack  # noqa: F401 - a fixture, used by name
