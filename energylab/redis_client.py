"""The one place that makes Redis clients: one connection pool per process, URL and timeout.

redis-py clients are thread-safe and keep their own pool, so every user of Redis in a process
shares the client made for its URL and timeout. A timeout is part of the key because users
differ in how long a hung Redis may hold them: the sample buffer waits seconds (a push that
fails loses nothing, the caller retries), the rate limiter half a second (it fails open, and
every event would otherwise wait on it).

Retries are set here, not left to redis-py's defaults (which changed between its versions):
one, at once, on a connection error only (a pooled connection Redis closed when it restarted:
the retry reconnects, so the first command after a restart works); never on a timeout, so a
Redis that stops answering (paused, a lost network) costs a caller one timeout, not several.
"""

from __future__ import annotations

import threading

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

#: seconds; the buffer, the metrics and the writer
DEFAULT_TIMEOUT_S = 5.0
#: seconds to connect, for every client
CONNECT_TIMEOUT_S = 2.0
#: retries of a command that met a broken connection (see the module's docstring)
RETRIES = 1

_clients: dict[tuple[str, float, float], redis.Redis] = {}
_lock = threading.Lock()


def redis_client(
    timeout_s: float = DEFAULT_TIMEOUT_S, connect_timeout_s: float = CONNECT_TIMEOUT_S
) -> redis.Redis:
    """The process's client for ``ENERGYLAB_REDIS_URL`` with these timeouts."""
    key = (settings.REDIS_URL, timeout_s, connect_timeout_s)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.setdefault(
                key,
                redis.Redis.from_url(
                    key[0],
                    socket_timeout=timeout_s,
                    socket_connect_timeout=connect_timeout_s,
                    retry=Retry(NoBackoff(), RETRIES, supported_errors=(redis.ConnectionError,)),
                ),
            )
    return client
