"""``/healthz``: can this installation do its job now? For compose, load balancers and people.

One JSON answer: 200 when every check passes, 503 when one fails, with each check's result::

    {"status": "ok", "checks": {"database": {"ok": true, "ms": 0.8}, "redis": {...},
     "influxdb": {...}, "writer": {"ok": true, "ms": 0.3, "oldest_sample_waiting_s": 2.1, ...}}}

Cheap: one round trip per service, each with a short timeout (:data:`TIMEOUT_S`), so a scrape
every few seconds costs nothing and a dead service answers 503 within seconds. No
authentication, so it names no secret: a failure is told by which service and the error's type,
never the error's text (a driver's message can hold a host, a user, a URL). Apps add their own
checks with :func:`register`, as they add metrics (the events app: the writer's lag).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from energylab.redis_client import redis_client

#: seconds each service has to answer
TIMEOUT_S = 2.0

#: a check returns its details (JSON values) or raises; HealthCheckFailed's message is shown
Check = Callable[[], dict[str, object]]


class HealthCheckFailed(Exception):
    """A check's finding, in words safe to show to anyone (no secret, no address)."""


def _database() -> dict[str, object]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {}


def _redis() -> dict[str, object]:
    redis_client(TIMEOUT_S, TIMEOUT_S).ping()
    return {}


def _influxdb() -> dict[str, object]:
    # /ping needs no credentials; a write refused for them shows in the writer's lag.
    response = requests.get(f"{settings.INFLUXDB_URL.rstrip('/')}/ping", timeout=TIMEOUT_S)
    if response.status_code != 204:
        raise HealthCheckFailed(f"/ping answered HTTP {response.status_code}")
    return {}


_checks: dict[str, Check] = {"database": _database, "redis": _redis, "influxdb": _influxdb}


def register(name: str, check: Check) -> None:
    """Add a check to ``/healthz`` (from an app's ``AppConfig.ready``)."""
    _checks[name] = check


def run_checks() -> tuple[bool, dict[str, dict[str, object]]]:
    """Every check's result, and whether all passed."""
    results: dict[str, dict[str, object]] = {}
    for name, check in _checks.items():
        started = time.perf_counter()
        try:
            result: dict[str, object] = {"ok": True, **check()}
        except HealthCheckFailed as exc:
            result = {"ok": False, "error": str(exc)}
        except Exception as exc:  # any failure is an answer here; its text may hold secrets
            result = {"ok": False, "error": f"{type(exc).__name__}: the {name} check failed"}
        result["ms"] = round((time.perf_counter() - started) * 1000, 1)
        results[name] = result
    return all(r["ok"] for r in results.values()), results


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 and ``"status": "ok"`` when every check passes, else 503 and ``"fail"``."""
    healthy, checks = run_checks()
    return JsonResponse(
        {"status": "ok" if healthy else "fail", "checks": checks}, status=200 if healthy else 503
    )
