"""Rate limits of event and measurement endpoints (``ENERGYLAB_EVENTS_RATE`` and co.).

One Redis round trip per request, shared by every process of every web server: a GCRA (the
"generic cell rate algorithm", a token bucket kept as one timestamp) in a Lua script. A client
with a rate of N per period may send N requests at once, then one per period/N; a refused
request learns how long to wait (``Retry-After``). DRF's own throttle kept a list of every
request's time in Django's cache (per process, read and rewritten whole on each request: its
cost grew with the rate).

Redis not answering lets requests through (logged): a rate limit is no reason to lose events.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.conf import settings
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

log = logging.getLogger(__name__)

# KEYS[1]: the client's bucket. ARGV: requests allowed per period, the period in seconds.
# The bucket holds the "theoretical arrival time" (TAT) of the next request, in seconds of Redis's
# clock; a request is allowed when that time, pushed one interval later, is no more than one
# period ahead. Returns {1, ""} or {0, seconds to wait} (a string: Lua numbers become integers).
GCRA = """
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local interval = period / limit
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + interval
if next_tat - now > period then
  return {0, tostring(next_tat - period - now)}
end
redis.call('SET', KEYS[1], tostring(next_tat), 'PX', math.ceil((next_tat - now) * 1000))
return {1, ''}
"""

_clients: dict[str, redis.Redis] = {}
_scripts: dict[str, Any] = {}


def _script() -> Any:
    url = settings.REDIS_URL
    if url not in _scripts:
        # Short timeouts: a hung Redis must not hold every event for long (it fails open).
        _clients[url] = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        _scripts[url] = _clients[url].register_script(GCRA)
    return _scripts[url]


def bucket_prefix() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:throttle:"


def reset_buckets() -> None:
    """Forget every client's bucket (tests: one test's requests must not count in another).

    Nothing to forget when Redis does not answer.
    """
    _script()
    client = _clients[settings.REDIS_URL]
    try:
        keys = list(client.scan_iter(match=bucket_prefix() + "*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass


class ScopedRateThrottleFromSettings(ScopedRateThrottle):
    """DRF's ScopedRateThrottle (a bucket per scope and user, or client address when anonymous),
    counted in Redis, with the rates read at each request.

    DRF binds ``THROTTLE_RATES`` once at import, so a changed ``REST_FRAMEWORK`` setting (a test's
    override, say) would otherwise be ignored.
    """

    def get_rate(self) -> str | None:
        rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES
        self.THROTTLE_RATES = rates
        return super().get_rate()

    def allow_request(self, request: Request, view: Any) -> bool:
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self._wait = 0.0
        try:
            allowed, wait = _script()(
                keys=[bucket_prefix() + self.key], args=[self.num_requests, self.duration]
            )
        except redis.RedisError as exc:
            log.warning("rate limit not applied: Redis does not answer (%s)", exc)
            return True
        if allowed:
            return True
        self._wait = float(wait)
        return False

    def wait(self) -> float | None:
        return self._wait
