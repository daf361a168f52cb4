"""Prometheus metrics at ``/metrics``, for every process of EnergyLab at once.

Design: the figures are **shared state read at scrape time**, not counters kept in the memory of
the process that answers the scrape.

- What happens in workers (polls, writer batches) is counted in Redis hashes under
  ``<ENERGYLAB_REDIS_KEY_PREFIX>:metrics:*`` by :func:`record` (called by
  :func:`collectors.metrics.record_polls` and :func:`events.metrics.record_batches`): a few
  ``HINCRBY`` in one pipeline per poll task or writer pass. Histograms are kept as per-bucket
  counts plus sum and count, made cumulative when scraped (:func:`histogram_rows`).
- Each app tells its own figures: it registers a :class:`Source` when Django starts
  (``collectors.metrics``: servers polled, in back-off, polls and their latency;
  ``events.metrics``: runs, steps, the sample buffer and the writer's batches). This module
  imports no app: the apps import it.

Why not prometheus_client's multiprocess mode: it needs one directory shared by every process
that counts, cleaned at each start, and workers placed inside lab networks (a pod's own queue)
run on other machines; Redis is what all of them already share. The web process that answers
the scrape then reports the whole installation, and no process keeps metrics in memory.

Recording never hurts the caller: a Redis error is logged and ignored, and recording pauses for
:data:`RETRY_AFTER_S` so that an unreachable Redis does not cost each poll a connect timeout.

``ENERGYLAB_METRICS_TOKEN``, when set, makes ``/metrics`` require ``Authorization: Bearer
<token>``; unset, anyone who reaches the port may read it (figures only: no names, no addresses).
"""

from __future__ import annotations

import bisect
import hmac
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from energylab.redis_client import redis_client

log = logging.getLogger(__name__)

RETRY_AFTER_S = 30.0


def key(name: str) -> str:
    """The Redis hash that holds the counts of ``name``."""
    return f"{settings.REDIS_KEY_PREFIX}:metrics:{name}"


# -- recording (workers) ------------------------------------------------------------------------

_paused_until = 0.0
_pause_lock = threading.Lock()


def bucket(buckets: Sequence[float], value: float) -> int:
    """Index of the first bucket whose upper bound holds ``value`` (len(buckets): +Inf)."""
    return bisect.bisect_left(buckets, value)


def record(increments: Mapping[tuple[str, str], float]) -> None:
    """HINCRBY(FLOAT) each (hash, field) by its amount in one round trip; never raises."""
    global _paused_until
    if not increments or time.monotonic() < _paused_until:
        return
    try:
        pipe = redis_client().pipeline(transaction=False)
        for (name, field), amount in increments.items():
            if isinstance(amount, int):
                pipe.hincrby(key(name), field, amount)
            else:
                pipe.hincrbyfloat(key(name), field, amount)
        pipe.execute()
    except Exception as exc:  # metrics must never fail a poll or a write
        with _pause_lock:
            _paused_until = time.monotonic() + RETRY_AFTER_S
        log.warning("metrics not recorded (paused %.0f s): %s", RETRY_AFTER_S, exc)


# -- collecting (the scrape) --------------------------------------------------------------------


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def histogram_rows(
    raw: Mapping[bytes | str, bytes | str], buckets: Sequence[float]
) -> dict[str, tuple[list[tuple[str, float]], float]]:
    """Redis hash → {label value: (cumulative buckets, sum)}; label "" for unlabelled ones."""
    by_label: dict[str, dict[str, float]] = {}
    for field, value in raw.items():
        label, _, part = text(field).rpartition("|")
        by_label.setdefault(label, {})[part] = float(text(value))
    rows = {}
    bounds = [*(floatToGoString(b) for b in buckets), "+Inf"]  # as the library's own
    for label, parts in sorted(by_label.items()):
        running = 0.0
        cumulative = []
        for index, bound in enumerate(bounds):
            running += parts.get(str(index), 0.0)
            cumulative.append((bound, running))
        rows[label] = (cumulative, parts.get("sum", 0.0))
    return rows


def count_by_source(name: str, documentation: str, sources: QuerySet[Any, Any]) -> Metric:
    """A counter of the rows of ``sources`` (a ``values_list`` of one source field) per source."""
    counter = CounterMetricFamily(name, documentation, labels=["source"])
    for source, n in sources.annotate(n=Count("pk")).order_by():
        counter.add_metric([source], n)
    return counter


@dataclass(frozen=True)
class Source:
    """An app's figures: those read from the database, and those read from Redis.

    ``from_redis`` may raise :class:`redis.RedisError`: the scrape then tells Redis as down and
    reads no other Redis figure (one timeout per scrape, not one per app).
    """

    from_database: Callable[[], Iterator[Metric]]
    from_redis: Callable[[], Iterator[Metric]]


_sources: list[Source] = []


def register(source: Source) -> None:
    """Add an app's figures to ``/metrics`` (from its ``AppConfig.ready``; once per process)."""
    if source not in _sources:
        _sources.append(source)


class EnergyLabCollector(Collector):
    """Reads every figure when scraped (see the module's docstring)."""

    def collect(self) -> Iterator[Metric]:
        for source in _sources:
            yield from source.from_database()
        up = GaugeMetricFamily("energylab_redis_up", "1 when Redis answered this scrape.")
        try:
            figures = [metric for source in _sources for metric in source.from_redis()]
        except redis.RedisError as exc:
            log.warning("metrics: Redis does not answer: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from figures


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(EnergyLabCollector())


# -- the view -----------------------------------------------------------------------------------


def _authorised(request: HttpRequest) -> bool:
    token: str | None = getattr(settings, "METRICS_TOKEN", None)
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8"), token.encode("utf-8")
    )


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus text format; 401 without the bearer token when one is configured."""
    if not _authorised(request):
        response = HttpResponse(
            "a bearer token is required\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    # The text format the scraper asks for (Prometheus 2 and 3 ask differently; OpenMetrics too).
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(REGISTRY), content_type=content_type)
