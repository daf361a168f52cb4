"""The collectors' figures at ``/metrics``: servers polled, in back-off, polls and their latency.

Poll outcomes are counted in Redis by the workers (:func:`record_polls`, from
:func:`collectors.polling.record_health`); the servers' state is read from the database when
scraped. :mod:`energylab.metrics` says why, and serves them.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from collectors import heartbeats
from collectors.health import STALE, STALE_INTERVALS, PollState, health
from collectors.timing import CIRCUIT_THRESHOLD
from energylab import metrics
from energylab.redis_client import redis_client

if TYPE_CHECKING:
    from collectors.models import Server
    from collectors.polling import PollOutcome

#: seconds; a BMC answers in milliseconds on a LAN, a dead one costs the read timeout (<= 5 s)
POLL_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
POLL_LATENCY = "poll-latency"  # fields "<bmc_type>|<bucket index>", "<bmc_type>|sum", "|count"
POLLS = "polls"  # fields "<bmc_type>|<result>"


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
        index = metrics.bucket(POLL_LATENCY_BUCKETS, outcome.latency_s)
        increments[(POLL_LATENCY, f"{bmc_type}|{index}")] += 1
        increments[(POLL_LATENCY, f"{bmc_type}|count")] += 1
        key = (POLL_LATENCY, f"{bmc_type}|sum")
        sums[key] = sums.get(key, 0.0) + float(outcome.latency_s)
    metrics.record({**increments, **sums})


def from_database() -> Iterator[Metric]:
    from collectors.models import POLLED_TYPES, BMCType, Server

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
    stale_counts = _stale_by_type(now)
    stale = GaugeMetricFamily(
        "energylab_servers_stale",
        f"Active polled servers of active pods not polled for {STALE_INTERVALS} poll intervals "
        "(no worker reads their pod's queue, or beat is down).",
        labels=["bmc_type"],
    )
    for bmc_type in POLLED_TYPES:
        total, in_backoff, open_circuit = counts.get(bmc_type, (0, 0, 0))
        polled.add_metric([bmc_type], total)
        backoff.add_metric([bmc_type], in_backoff)
        circuit.add_metric([bmc_type], open_circuit)
        stale.add_metric([bmc_type], stale_counts[bmc_type])
    yield from (polled, backoff, circuit, stale)


def _stale_by_type(now: dt.datetime) -> Tally[str]:
    """Stale servers per BMC type, by :func:`collectors.health.health` itself (the rule compares
    each server's own times with its pod's interval: one rule, in Python, over a few columns)."""
    from collectors.models import BMCType, Server

    columns = (
        "bmc_type",
        "pod_id",
        "pod__poll_interval",
        "created",
        "last_success_at",
        "last_error_at",
        "backoff_until",
        "consecutive_failures",
    )
    rows = (
        Server.objects.filter(active=True, pod__active=True)
        .exclude(bmc_type=BMCType.PUSH)
        .values_list(*columns)
    )
    beats = heartbeats.last_polls()
    stale: Tally[str] = Tally()
    for bmc_type, pod_id, interval, created, success, error, backoff_until, failures in rows:
        state = PollState(
            active=True,
            pod_active=True,
            polled=True,
            poll_interval=float(interval),
            created=created,
            last_success_at=success,
            last_error_at=error,
            backoff_until=backoff_until,
            consecutive_failures=failures,
            pod_polled_at=beats.get(pod_id),
            success_refresh_s=settings.POLL_HEALTH_INTERVAL,
        )
        if health(state, now) == STALE:
            stale[bmc_type] += 1
    return stale


def from_redis() -> Iterator[Metric]:
    pipe = redis_client().pipeline(transaction=False)
    pipe.hgetall(metrics.key(POLL_LATENCY))
    pipe.hgetall(metrics.key(POLLS))
    latency_raw, polls_raw = pipe.execute()

    latency = HistogramMetricFamily(
        "energylab_poll_latency_seconds",
        "Time to read one BMC's power, successful or not.",
        labels=["bmc_type"],
    )
    rows = metrics.histogram_rows(latency_raw, POLL_LATENCY_BUCKETS)
    for bmc_type, (buckets, total) in rows.items():
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
    counts = sorted((metrics.text(f), int(metrics.text(v))) for f, v in polls_raw.items())
    for field, value in counts:
        bmc_type, _, result = field.rpartition("|")
        polls.add_metric([bmc_type, result], value)
        if result == "failed":
            failures.add_metric([bmc_type], value)
    yield polls
    yield failures


SOURCE = metrics.Source(from_database, from_redis)
