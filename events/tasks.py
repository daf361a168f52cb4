"""Celery tasks of the pipeline: thin wrappers around plain classes."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Iterator

import redis
from celery import shared_task
from django.conf import settings

from events import services
from events.influx import make_client
from events.ingest.buffer import SampleBuffer
from events.ingest.writer import InfluxWriter
from events.metrics import record_batches
from events.reports import stored

log = logging.getLogger(__name__)

# The writer's lock lives this long unless renewed. A writer that is SIGKILLed (or loses its
# machine) mid-pass cannot release it: the next writer waits at most this long. A live writer
# renews it every LOCK_RENEW_S, so a long pass (a big backlog, a slow InfluxDB) keeps it.
LOCK_TIMEOUT_S = 10.0
LOCK_RENEW_S = LOCK_TIMEOUT_S / 3

_writer: InfluxWriter | None = None


def get_writer() -> InfluxWriter:
    """The process's writer (keeps its tag cache and InfluxDB session between passes)."""
    global _writer
    if _writer is None or _writer.client._database != settings.INFLUXDB_DATABASE:
        _writer = InfluxWriter(
            SampleBuffer.from_settings(),
            make_client(),
            delay=settings.CORRELATION_DELAY,
            legacy_schema=settings.INFLUXDB_LEGACY_SCHEMA,
            on_written=stored.samples_written,  # late samples mark stored reports stale
        )
    return _writer


# No soft_time_limit/time_limit: Celery's threads pool (the worker's, see settings) ignores them.
# A pass bounds itself: no new batch after ``time_budget``, InfluxDB writes time out after 10 s
# and Redis calls after 5 s; a pass that dies anyway loses nothing (samples are acknowledged
# only once InfluxDB has them, and the lock expires after LOCK_TIMEOUT_S).
@shared_task(ignore_result=True)
def flush_samples(time_budget: float = 5.0) -> dict[str, int]:
    """One writer pass. A Redis lock keeps it to one writer at a time across workers, so
    batches stay in order; a second task that finds the lock taken returns at once."""
    writer = get_writer()
    # Not thread-local: the renewal thread extends the lock with the token this thread took.
    lock = writer.buffer.client.lock(
        f"{writer.buffer.prefix}:writer:lock",
        timeout=LOCK_TIMEOUT_S,
        blocking=False,
        thread_local=False,
    )
    try:
        if not lock.acquire(blocking=False):
            return {"samples": 0, "skipped": 1}
    except redis.RedisError as exc:
        log.warning("writer cannot reach Redis: %s", exc)
        return {"samples": 0, "skipped": 1}
    try:
        with _renewed(lock):
            stats = writer.flush(time_budget=time_budget)
    finally:
        # Expired or Redis gone: the lock's timeout frees it.
        with contextlib.suppress(redis.RedisError):
            lock.release()
    record_batches(stats.batch_sizes)  # Prometheus figures, shared in Redis (never raises)
    return {"samples": stats.samples, "points": stats.points, "rejected": stats.rejected}


# Idempotent (services.close_abandoned_run re-checks under the pod's lock), cheap, and dropped
# when late (expires: the next check does its work).
@shared_task(ignore_result=True)
def close_abandoned_runs() -> list[int]:
    """Close the runs with no event for ``ENERGYLAB_RUN_MAX_IDLE``; the ids of those closed."""
    max_idle = dt.timedelta(seconds=settings.RUN_MAX_IDLE)
    closed = []
    for run_id in services.abandoned_run_ids(max_idle):
        if services.close_abandoned_run(run_id, max_idle) is not None:
            log.warning("run %s had no event for %s: closed at its last event", run_id, max_idle)
            closed.append(run_id)
    return closed


@contextlib.contextmanager
def _renewed(lock: redis.lock.Lock) -> Iterator[None]:
    """Keep ``lock`` alive while the block runs (a daemon thread renews it; it dies with the
    process, so a killed writer's lock expires within LOCK_TIMEOUT_S)."""
    done = threading.Event()

    def renew() -> None:
        while not done.wait(LOCK_RENEW_S):
            try:
                lock.reacquire()
            except redis.exceptions.LockError:
                log.warning("the writer's lock expired during a pass: another writer may run")
                return
            except redis.RedisError:
                continue  # Redis away: the pass fails too, and the lock expires by itself

    thread = threading.Thread(target=renew, name="writer-lock-renewal", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=5)
