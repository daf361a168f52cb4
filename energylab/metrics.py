"""Prometheus metrics at ``/metrics``, for every process of EnergyLab at once.

Design: the figures are **shared state read at scrape time**, not counters kept in the memory of
the process that answers the scrape.

- What happens in workers (polls, writer batches) is counted in Redis hashes under
  ``<ENERGYLAB_REDIS_KEY_PREFIX>:metrics:*`` by :func:`record_polls` (called by
  :func:`collectors.polling.record_health`) and :func:`record_batches` (called by the writer's
  task): a few ``HINCRBY`` in one pipeline per poll task or writer pass. Histograms are kept as
  per-bucket counts plus sum and count, made cumulative when scraped.
- The buffer's figures (depth, dropped, rejected, the writer's lag) are read from the buffer
  itself (:class:`collectors.buffer.SampleBuffer`), which already lives in Redis.
- Servers in back-off, runs and steps received are counted in the database.

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
from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import redis
from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from collectors.buffer import SampleBuffer

if TYPE_CHECKING:
    from collectors.models import Server
    from collectors.polling import PollOutcome

log = logging.getLogger(__name__)

#: seconds; a BMC answers in milliseconds on a LAN, a dead one costs the read timeout (<= 5 s)
POLL_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: points per InfluxDB write
BATCH_SIZE_BUCKETS = (1, 10, 100, 1_000, 5_000, 10_000, 20_000, 50_000, 100_000)
RETRY_AFTER_S = 30.0


def _key(name: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:metrics:{name}"


POLL_LATENCY = "poll-latency"  # fields "<bmc_type>|<bucket index>", "<bmc_type>|sum", "|count"
POLLS = "polls"  # fields "<bmc_type>|<result>"
BATCH_SIZE = "batch-size"  # fields "<bucket index>", "sum", "count"


# -- recording (workers) ------------------------------------------------------------------------

_paused_until = 0.0
_pause_lock = threading.Lock()


def _client() -> redis.Redis:
    return SampleBuffer.from_settings().client


def _bucket(buckets: Sequence[float], value: float) -> int:
    """Index of the first bucket whose upper bound holds ``value`` (len(buckets): +Inf)."""
    return bisect.bisect_left(buckets, value)


def _send(increments: Mapping[tuple[str, str], float]) -> None:
    """HINCRBY(FLOAT) each (hash, field) by its amount in one round trip; never raises."""
    global _paused_until
    if not increments or time.monotonic() < _paused_until:
        return
    try:
        pipe = _client().pipeline(transaction=False)
        for (name, field), amount in increments.items():
            if isinstance(amount, int):
                pipe.hincrby(_key(name), field, amount)
            else:
                pipe.hincrbyfloat(_key(name), field, amount)
        pipe.execute()
    except Exception as exc:  # metrics must never fail a poll or a write
        with _pause_lock:
            _paused_until = time.monotonic() + RETRY_AFTER_S
        log.warning("metrics not recorded (paused %.0f s): %s", RETRY_AFTER_S, exc)


def record_polls(outcomes: Iterable[PollOutcome], servers: Mapping[int, Server]) -> None:
    """Count poll outcomes per BMC type: result (ok, failed, skipped) and latency."""
    increments: Tally[tuple[str, str]] = Tally()
    sums: dict[tuple[str, str], float] = {}
    for outcome in outcomes:
        server = servers.get(outcome.server_id)
        bmc_type = str(server.bmc_type) if server is not None else "unknown"
        if outcome.skipped:
            increments[(POLLS, f"{bmc_type}|skipped")] += 1
            continue  # no request was made: no latency to tell
        result = "ok" if outcome.reading is not None else "failed"
        increments[(POLLS, f"{bmc_type}|{result}")] += 1
        index = _bucket(POLL_LATENCY_BUCKETS, outcome.latency_s)
        increments[(POLL_LATENCY, f"{bmc_type}|{index}")] += 1
        increments[(POLL_LATENCY, f"{bmc_type}|count")] += 1
        key = (POLL_LATENCY, f"{bmc_type}|sum")
        sums[key] = sums.get(key, 0.0) + float(outcome.latency_s)
    _send({**increments, **sums})


def record_batches(batch_sizes: Iterable[int]) -> None:
    """Count the points of each batch the writer got InfluxDB to accept."""
    increments: Tally[tuple[str, str]] = Tally()
    total = 0.0
    for size in batch_sizes:
        increments[(BATCH_SIZE, str(_bucket(BATCH_SIZE_BUCKETS, size)))] += 1
        increments[(BATCH_SIZE, "count")] += 1
        total += size
    if increments:
        _send({**increments, (BATCH_SIZE, "sum"): total})


# -- collecting (the scrape) --------------------------------------------------------------------


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _histogram_rows(
    raw: Mapping[bytes | str, bytes | str], buckets: Sequence[float]
) -> dict[str, tuple[list[tuple[str, float]], float]]:
    """Redis hash → {label value: (cumulative buckets, sum)}; label "" for unlabelled ones."""
    by_label: dict[str, dict[str, float]] = {}
    for field, value in raw.items():
        label, _, part = _text(field).rpartition("|")
        by_label.setdefault(label, {})[part] = float(_text(value))
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


class EnergyLabCollector(Collector):
    """Reads every figure when scraped (see the module's docstring)."""

    def collect(self) -> Iterator[Metric]:
        yield from self._database()
        yield from self._redis()

    def _database(self) -> Iterator[Metric]:
        from collectors.models import BMCType, Server
        from collectors.polling import CIRCUIT_THRESHOLD
        from events.models import Run, Step

        now = timezone.now()
        backoff = GaugeMetricFamily(
            "energylab_servers_in_backoff",
            "Active polled servers waiting out a back-off after failed polls.",
            labels=["bmc_type"],
        )
        circuit = GaugeMetricFamily(
            "energylab_servers_circuit_open",
            f"Active polled servers that failed {CIRCUIT_THRESHOLD} or more times in a row.",
            labels=["bmc_type"],
        )
        polled = GaugeMetricFamily(
            "energylab_servers_polled",
            "Active servers of active pods that EnergyLab polls.",
            labels=["bmc_type"],
        )
        rows = (
            Server.objects.filter(active=True, pod__active=True)
            .exclude(bmc_type=BMCType.PUSH)
            .values("bmc_type")
            .annotate(
                total=Count("pk"),
                backoff=Count("pk", filter=Q(backoff_until__gt=now)),
                circuit=Count("pk", filter=Q(consecutive_failures__gte=CIRCUIT_THRESHOLD)),
            )
        )
        counts = {r["bmc_type"]: (r["total"], r["backoff"], r["circuit"]) for r in rows}
        for bmc_type in (BMCType.IPMI, BMCType.REDFISH, BMCType.ILO):
            total, in_backoff, open_circuit = counts.get(bmc_type, (0, 0, 0))
            polled.add_metric([bmc_type], total)
            backoff.add_metric([bmc_type], in_backoff)
            circuit.add_metric([bmc_type], open_circuit)
        yield from (polled, backoff, circuit)

        yield _count_by_source(
            "energylab_runs",
            "Runs started, by the API they came through (legacy: the /resources API).",
            Run.objects.values_list("source"),
        )
        yield _count_by_source(
            "energylab_steps",
            "Steps started, by the API their run came through.",
            Step.objects.values_list("run__source"),
        )
        running = GaugeMetricFamily("energylab_runs_running", "Runs in progress now.")
        running.add_metric([], Run.objects.filter(ended_at__isnull=True).count())
        yield running

    def _redis(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("energylab_redis_up", "1 when Redis answered this scrape.")
        buffer = SampleBuffer.from_settings()
        try:
            pipe = buffer.client.pipeline(transaction=False)
            pipe.hgetall(_key(POLL_LATENCY))
            pipe.hgetall(_key(POLLS))
            pipe.hgetall(_key(BATCH_SIZE))
            latency_raw, polls_raw, batch_raw = pipe.execute()
            depth, dropped, rejected = buffer.depth(), buffer.dropped(), buffer.rejected()
            lost = buffer.lost()
            lag = buffer.oldest_age()
        except redis.RedisError as exc:
            log.warning("metrics: Redis does not answer: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        latency = HistogramMetricFamily(
            "energylab_poll_latency_seconds",
            "Time to read one BMC's power, successful or not.",
            labels=["bmc_type"],
        )
        for bmc_type, (buckets, total) in _histogram_rows(
            latency_raw, POLL_LATENCY_BUCKETS
        ).items():
            latency.add_metric([bmc_type], buckets, total)
        yield latency

        polls = CounterMetricFamily(
            "energylab_polls",
            "BMC polls by result: ok, failed, skipped (the previous read was still running).",
            labels=["bmc_type", "result"],
        )
        failures = CounterMetricFamily(
            "energylab_poll_failures", "BMC polls that failed.", labels=["bmc_type"]
        )
        for field, value in sorted((_text(f), int(_text(v))) for f, v in polls_raw.items()):
            bmc_type, _, result = field.rpartition("|")
            polls.add_metric([bmc_type, result], value)
            if result == "failed":
                failures.add_metric([bmc_type], value)
        yield polls
        yield failures

        batches = HistogramMetricFamily(
            "energylab_writer_batch_size_points",
            "Points per write that InfluxDB accepted.",
        )
        for _label, (buckets, total) in _histogram_rows(
            {f"|{_text(k)}": v for k, v in batch_raw.items()}, BATCH_SIZE_BUCKETS
        ).items():
            batches.add_metric([], buckets, total)
        yield batches

        yield GaugeMetricFamily(
            "energylab_buffer_depth_samples", "Samples waiting in the buffer.", value=depth
        )
        yield CounterMetricFamily(
            "energylab_buffer_dropped_samples",
            "Samples refused because the buffer was full.",
            value=dropped,
        )
        yield CounterMetricFamily(
            "energylab_buffer_lost_samples",
            "Samples the writer saw vanish with the buffer (Redis restarted without persistence "
            "or flushed); a lower bound.",
            value=lost,
        )
        yield GaugeMetricFamily(
            "energylab_buffer_rejected_batches",
            "Batches InfluxDB refused, kept in quarantine for an operator.",
            value=rejected,
        )
        yield GaugeMetricFamily(
            "energylab_writer_lag_seconds",
            "Age of the oldest sample waiting in the buffer (0 when it is empty).",
            value=lag or 0.0,
        )


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


def _count_by_source(name: str, documentation: str, sources: QuerySet[Any, Any]) -> Metric:
    """A counter of the rows of ``sources`` (a ``values_list`` of one source field) per source."""
    counter = CounterMetricFamily(name, documentation, labels=["source"])
    for source, n in sources.annotate(n=Count("pk")).order_by():
        counter.add_metric([source], n)
    return counter
