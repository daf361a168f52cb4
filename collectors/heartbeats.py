"""When a worker last took a poll task of each pod: a heartbeat per pod in Redis.

A server's row says when its BMC last answered or failed, but healthy rows are rewritten only
every ``ENERGYLAB_POLL_HEALTH_INTERVAL`` (see :func:`collectors.polling.record_health`), and a
pod whose queue no worker reads writes nothing at all. The poll task stamps its pod here each
time a worker runs it (one HSET), so :mod:`collectors.health` can tell within a few poll
intervals that nothing polls a pod. Fail-soft both ways: a heartbeat that cannot be written or
read only makes the health rule fall back to the rows' own times.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

import redis
from django.conf import settings

from energylab.redis_client import redis_client
from energylab.timestamps import from_ns

log = logging.getLogger(__name__)

# Readers (admin pages, API lists, /metrics) ask for many servers at once: one HGETALL serves
# them all for this long.
_CACHE_S = 1.0
_cache: tuple[float, str, dict[int, dt.datetime]] | None = None
_cache_lock = threading.Lock()


def key() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:poll-heartbeats"


def record(pod_id: int) -> None:
    """A worker is polling the pod now (never raises)."""
    try:
        redis_client().hset(key(), str(pod_id), time.time_ns())
    except redis.RedisError as exc:
        log.warning("poll heartbeat of pod %s not recorded: %s", pod_id, exc)


def last_polls() -> dict[int, dt.datetime]:
    """When a worker last took a poll task of each pod (pods never polled, or when Redis does
    not answer: absent)."""
    global _cache
    now = time.monotonic()
    cached = _cache
    if cached is not None and now - cached[0] < _CACHE_S and cached[1] == key():
        return cached[2]
    try:
        raw = redis_client().hgetall(key())
    except redis.RedisError:
        return {}
    beats = {int(pod): from_ns(int(ns)) for pod, ns in raw.items()}
    with _cache_lock:
        _cache = (now, key(), beats)
    return beats


def forget_cache() -> None:
    """Read Redis again at the next call (tests)."""
    global _cache
    _cache = None
