"""Rate limits of the API (``ENERGYLAB_EVENTS_RATE`` and co.), per credential: a limit for
events, one for measurements and one for reads, each per user, and another three per client
address for anonymous clients. By default authenticated clients have none (a lab's collectors
or a CI farm behind one address are many clients); anonymous ones do.

A limited request costs at most one Redis round trip (one without a limit costs none), and
the count is shared by every process of every web server: a GCRA (the
"generic cell rate algorithm", a token bucket kept as one timestamp) in a Lua script. A client
with a rate of N per period may send N requests at once, then one per period/N; a refused
request learns how long to wait (``Retry-After``). DRF's own throttle kept a list of every
request's time in Django's cache (per process, read and rewritten whole on each request: its
cost grew with the rate).

A process takes tokens from a busy client's bucket a few at a time and spends them without asking
Redis again (at most a tenth of what the client may send in HOLD_SECONDS, at most BATCH_MAX, and
only for HOLD_SECONDS): one round trip per several requests. Tokens are taken before they are
spent, so a client never exceeds its rate; at worst it is refused while another process still
holds a few of its tokens. Low rates (a tenth of a second's worth below one) stay exact.

Redis not answering lets requests through (logged): a rate limit is no reason to lose events.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from time import monotonic
from typing import Any

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from rest_framework.exceptions import Throttled
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

from energylab.redis_client import redis_client

log = logging.getLogger(__name__)

# KEYS[1]: the client's bucket. ARGV: requests allowed per period, the period in seconds, how
# many tokens the caller would take. The bucket holds the "theoretical arrival time" (TAT) of the
# next request, in seconds of Redis's clock; a token may be taken while that time, pushed one
# interval later, is no more than one period ahead. Takes as many as allowed, up to the number
# asked. Returns {tokens taken, ""} or {0, seconds to wait} (a string: Lua numbers become
# integers). Times are written with string.format: Lua's tostring keeps 14 digits, which leaves
# an epoch time 0.1 ms (a tenth of a token's interval at 1000/s).
GCRA = """
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local interval = period / limit
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local free = math.floor((now + period - tat) / interval + 1e-9)
if free < 1 then
  return {0, string.format('%.6f', tat + interval - period - now)}
end
local taken = math.min(wanted, free)
local next_tat = tat + taken * interval
redis.call('SET', KEYS[1], string.format('%.6f', next_tat), 'PX', math.ceil((next_tat - now) * 1000))
return {taken, ''}
"""

HOLD_SECONDS = 1.0
MIN_WAIT_S = 0.001  # the least wait a refusal announces (Retry-After rounds it up to 1)
BATCH_MAX = 16

#: seconds to answer and to connect: a hung Redis must not hold every event for long (the
#: limiter fails open)
REDIS_TIMEOUTS_S = (0.5, 0.5)
_scripts: dict[str, Any] = {}


def _script() -> Any:
    url = settings.REDIS_URL
    if url not in _scripts:
        _scripts[url] = redis_client(*REDIS_TIMEOUTS_S).register_script(GCRA)
    return _scripts[url]


@dataclass
class _Held:
    """Tokens of one bucket this process took and has not spent yet."""

    rate: tuple[int, float]
    tokens: int
    until: float  # monotonic() after which they are no longer spent


_held: dict[str, _Held] = {}
_held_lock = threading.Lock()  # web servers with threads share the process's tokens


def batch_size(limit: int, period: float) -> int:
    """Tokens to take at once from a bucket of ``limit`` per ``period`` seconds (1 = exact)."""
    return max(1, min(BATCH_MAX, math.floor(limit / period * HOLD_SECONDS / 10)))


def take_tokens(bucket: str, limit: int, period: float, wanted: int) -> tuple[int, float]:
    """Take up to ``wanted`` tokens from the bucket in Redis: (tokens taken, seconds to wait
    when none)."""
    taken, wait = _script()(keys=[bucket], args=[limit, period, wanted])
    return int(taken), float(wait or 0)


def _spend_held(bucket: str, rate: tuple[int, float]) -> bool:
    with _held_lock:
        held = _held.get(bucket)
        if held is None or held.rate != rate or held.tokens < 1:
            return False
        if monotonic() > held.until:
            del _held[bucket]
            return False
        held.tokens -= 1
        return True


HELD_MAX = 1024  # buckets held per process before expired ones are dropped


def _keep(bucket: str, rate: tuple[int, float], tokens: int) -> None:
    with _held_lock:
        if tokens > 0:
            _held[bucket] = _Held(rate, tokens, monotonic() + HOLD_SECONDS)
        else:
            _held.pop(bucket, None)
        if len(_held) > HELD_MAX:  # many clients (anonymous ones by address): forget old tokens
            now = monotonic()
            for expired in [key for key, held in _held.items() if held.until < now]:
                del _held[expired]


def bucket_prefix() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:throttle:"


def reset_buckets() -> None:
    """Forget every client's bucket (tests: one test's requests must not count in another).

    Nothing to forget when Redis does not answer.
    """
    client = redis_client(*REDIS_TIMEOUTS_S)
    with _held_lock:
        _held.clear()
    try:
        keys = list(client.scan_iter(match=bucket_prefix() + "*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass


#: what a GET, HEAD or OPTIONS counts as, whatever the view: reads of any view share one limit
READS = "reads"
#: the scopes that have rates: ``throttle_scope`` of the views that write, and reads
SCOPES = ("events", "measurements", READS)


def rate_key(scope: str, anonymous: bool) -> str:
    """The ``DEFAULT_THROTTLE_RATES`` key of ``scope``'s rate for such clients."""
    return f"anonymous {scope}" if anonymous else scope


def setting_name(scope: str, anonymous: bool) -> str:
    """The environment variable that sets that rate (energylab/settings.py reads it)."""
    return f"ENERGYLAB_{'ANONYMOUS_' if anonymous else ''}{scope.upper()}_RATE"


class ScopedRateThrottleFromSettings(ScopedRateThrottle):
    """DRF's ScopedRateThrottle counted in Redis: a bucket per scope and user (a token or a
    password belongs to one user), or per client address for requests without credentials,
    each with its own rate.

    A request's scope is ``reads`` for GET, HEAD and OPTIONS, whatever the view; otherwise the
    view's ``throttle_scope`` (``events``, ``measurements``; none: not limited). Its rate is
    ``DEFAULT_THROTTLE_RATES[scope]`` for an authenticated client, ``["anonymous " + scope]``
    for an anonymous one; None is no limit, and costs no Redis call. The rates are read at each
    request: DRF binds ``THROTTLE_RATES`` once at import, so a changed ``REST_FRAMEWORK`` setting
    (a test's override, say) would otherwise be ignored.

    :raises Throttled: (429) the bucket is empty: the message names the setting of the limit
        reached, ``wait`` (``Retry-After``) says in how many seconds the next request is allowed.
    :raises ImproperlyConfigured: the rates have no entry for the scope.
    """

    def scope_of(self, request: Request, view: Any) -> str | None:
        if request.method in SAFE_METHODS:
            return READS
        scope: str | None = getattr(view, self.scope_attr, None)
        return scope

    def allow_request(self, request: Request, view: Any) -> bool:
        self.scope = scope = self.scope_of(request, view)
        if not scope:
            return True
        anonymous = not (request.user and request.user.is_authenticated)
        rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES  # str, or None: no limit
        key = rate_key(scope, anonymous)
        if key not in rates:
            raise ImproperlyConfigured(f"REST_FRAMEWORK has no throttle rate {key!r}")
        self.rate = rates[key]
        if self.rate is None:
            return True
        limit, period = self.parse_rate(self.rate)
        self.key = self.get_cache_key(request, view)
        if self.key is None or limit is None or period is None:
            return True
        self._wait = 0.0
        bucket = bucket_prefix() + self.key
        rate = (limit, float(period))
        if _spend_held(bucket, rate):
            return True
        try:
            taken, wait = take_tokens(bucket, *rate, batch_size(*rate))
        except redis.RedisError as exc:
            log.warning("rate limit not applied: Redis does not answer (%s)", exc)
            return True
        if taken:
            _keep(bucket, rate, taken - 1)  # this request spends one
            return True
        # The script's sums of epoch seconds are good to about a microsecond, so a refusal at the
        # edge of a token may come with a wait of 0 or just below: DRF would then answer "available
        # in 0 seconds" without Retry-After (11 in 16,612 refusals at 1000/s). Retry-After is whole
        # seconds, at least 1.
        self._wait = max(wait, MIN_WAIT_S)
        raise Throttled(self._wait, self.refusal(scope, anonymous))

    def refusal(self, scope: str, anonymous: bool) -> str:
        """Why a request is refused, naming the setting of the limit (DRF adds when to retry)."""
        setting = setting_name(scope, anonymous)
        if anonymous:
            return (
                f"Request was throttled: {setting} ({self.rate} per client address without "
                "credentials) is reached; clients that send a token are counted per user."
            )
        return f"Request was throttled: {setting} ({self.rate} per user) is reached."

    def wait(self) -> float | None:
        return self._wait
