"""The events' figures at ``/metrics``: runs, steps, the sample buffer and the writer's batches.

Batches are counted in Redis by the writer's task (:func:`record_batches`); the buffer's figures
(depth, dropped, rejected, the writer's lag) are read from the buffer itself, which lives in
Redis; runs and steps are counted in the database. :mod:`energylab.metrics` serves them.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from energylab import metrics
from events.ingest.buffer import SampleBuffer

#: points per InfluxDB write
BATCH_SIZE_BUCKETS = (1, 10, 100, 1_000, 5_000, 10_000, 20_000, 50_000, 100_000)
BATCH_SIZE = "batch-size"  # fields "<bucket index>", "sum", "count"


def record_batches(batch_sizes: Iterable[int]) -> None:
    """Count the points of each batch the writer got InfluxDB to accept."""
    increments: Tally[tuple[str, str]] = Tally()
    total = 0.0
    for size in batch_sizes:
        increments[(BATCH_SIZE, str(metrics.bucket(BATCH_SIZE_BUCKETS, size)))] += 1
        increments[(BATCH_SIZE, "count")] += 1
        total += size
    if increments:
        metrics.record({**increments, (BATCH_SIZE, "sum"): total})


def from_database() -> Iterator[Metric]:
    from events.models import Run, Step

    yield metrics.count_by_source(
        "energylab_runs",
        "Runs started, by the API they came through (legacy: the /resources API).",
        Run.objects.values_list("source"),
    )
    yield metrics.count_by_source(
        "energylab_steps",
        "Steps started, by the API their run came through.",
        Step.objects.values_list("run__source"),
    )
    running = GaugeMetricFamily("energylab_runs_running", "Runs in progress now.")
    running.add_metric([], Run.objects.filter(ended_at__isnull=True).count())
    yield running


def from_redis() -> Iterator[Metric]:
    buffer = SampleBuffer.from_settings()
    batch_raw = buffer.client.hgetall(metrics.key(BATCH_SIZE))
    depth, dropped, rejected = buffer.depth(), buffer.dropped(), buffer.rejected()
    lost = buffer.lost()
    lag = buffer.oldest_age()

    batches = HistogramMetricFamily(
        "energylab_writer_batch_size_points",
        "Points per write that InfluxDB accepted.",
    )
    rows = metrics.histogram_rows(
        {f"|{metrics.text(k)}": v for k, v in batch_raw.items()}, BATCH_SIZE_BUCKETS
    )
    for _label, (buckets, total) in rows.items():
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


SOURCE = metrics.Source(from_database, from_redis)
