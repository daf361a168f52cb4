"""Reading many BMCs at once without letting a bad one delay the others.

:class:`Poller` is plain Python (no Celery): the poll task hands it servers, it reads them
concurrently on a process-wide thread pool and returns what came back by the batch's deadline.
Every read ends by that deadline whatever its BMC sends (:meth:`PowerDriver.read_power_by`
interrupts it), so a BMC that hangs or drips its answer holds a thread for one deadline at most,
fails, and backs off; a deactivated server's last read ends the same way. While a read is still
in flight, its server is skipped (at most one request in flight per BMC).

Servers in good standing (their last read succeeded) are read on one pool per BMC type, the
others (never read yet, or failing) on a second one: a hundred BMCs that each hold a thread
until the deadline delay only each other, never the servers that answer.

Health bookkeeping lives here too: a failure backs the server off as
:mod:`collectors.timing` says (exponentially, capped; an open circuit after enough failures).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from django.conf import settings
from django.db import connections, router, transaction

from collectors import limits
from collectors.drivers import get_driver
from collectors.drivers.base import (
    BMCEndpoint,
    BMCProtocolError,
    BMCSettingsError,
    DriverError,
    PowerDriver,
    PowerReading,
    redact,
)
from collectors.metrics import record_polls
from collectors.models import Server
from collectors.timing import backoff_delay
from energylab.timestamps import from_ns
from events.ingest.buffer import PART_SENSOR_PREFIX, Sample

log = logging.getLogger(__name__)

IPMI_THREADS = 8


@dataclass(frozen=True)
class PollOutcome:
    """The result of one server's poll: a reading, or an error message safe to store."""

    server_id: int
    reading: PowerReading | None = None
    error: str | None = None
    skipped: bool = False  # the previous read of this BMC is still in flight
    latency_s: float = 0.0


def sane(reading: PowerReading) -> PowerReading:
    """The reading, if a server can draw that power; its energy counter dropped if absurd.

    :raises BMCProtocolError: an absurd power (negative, non-finite, over
        :data:`~collectors.limits.MAX_POWER_W`): a failed read, told on the server's health and
        backed off like any other, rather than a sample that would spoil its run's report.
    """
    error = limits.power_error(reading.watts)
    if error is not None:
        raise BMCProtocolError(f"the BMC answered an impossible power reading: {error}")
    if reading.energy_j is not None and limits.energy_error(reading.energy_j) is not None:
        # The counter is a bonus (reports fall back to the watts): keep the reading without it.
        log.warning("dropped an energy counter: %s", limits.energy_error(reading.energy_j))
        return dataclasses.replace(reading, energy_j=None)
    return reading


class Poller:
    """Reads servers concurrently; one instance per process (see :func:`get_poller`)."""

    def __init__(
        self,
        threads: int,
        driver_for: Callable[[str], PowerDriver] = get_driver,
    ) -> None:
        # One pool per BMC type: IPMI reads can sit for a second inside pyghmi's shared I/O
        # loop, and must not take the threads Redfish reads need. pyghmi also does worse with
        # many threads (a lost wake-up past 8 or so: lab notes), so its pool stays small.
        self._threads = threads
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._driver_for = driver_for
        self._in_flight: set[int] = set()
        self._lock = threading.Lock()

    def _read(
        self, server_id: int, bmc_type: str, endpoint: BMCEndpoint, deadline: float
    ) -> PollOutcome:
        started = time.monotonic()
        try:
            reading = sane(self._driver_for(bmc_type).read_power_by(endpoint, deadline))
            return PollOutcome(server_id, reading, latency_s=time.monotonic() - started)
        except DriverError as exc:
            error = redact(str(exc), endpoint.password) or type(exc).__name__
        except Exception as exc:  # a driver bug must not kill the worker: record it
            log.exception("driver %s failed unexpectedly", bmc_type)
            error = redact(f"internal error: {type(exc).__name__}", endpoint.password)
        finally:
            with self._lock:
                self._in_flight.discard(server_id)
        return PollOutcome(server_id, error=error, latency_s=time.monotonic() - started)

    def poll(self, servers: Sequence[Server], deadline_s: float) -> list[PollOutcome]:
        """Read every server; return by ``deadline_s`` seconds whatever happened.

        A read still running at the deadline is reported as a timeout: it is interrupted
        (within one byte's wait, or its request timeout for a silent BMC) and its result is
        dropped; one still queued is not started. The next poll is the retry.
        """
        started = time.monotonic()
        deadline = started + deadline_s
        futures: dict[Future[PollOutcome], int] = {}
        outcomes: list[PollOutcome] = []
        for server in servers:
            with self._lock:
                if server.pk in self._in_flight:
                    outcomes.append(
                        PollOutcome(
                            server.pk,
                            error="the previous read of this BMC has not finished",
                            skipped=True,
                        )
                    )
                    continue
                self._in_flight.add(server.pk)
            try:
                endpoint = server.endpoint(timeout=min(deadline_s, 5.0))
            except Exception as exc:  # e.g. a password the current keys cannot decrypt
                with self._lock:
                    self._in_flight.discard(server.pk)
                outcomes.append(PollOutcome(server.pk, error=str(exc)))
                continue
            pool = self._pool_for(server.bmc_type, trusted=in_good_standing(server))
            future = pool.submit(self._read, server.pk, server.bmc_type, endpoint, deadline)
            futures[future] = server.pk
        pending = set(futures)
        while pending:
            remaining = deadline_s - (time.monotonic() - started)
            if remaining <= 0:
                break
            done, pending = wait(pending, timeout=remaining, return_when=FIRST_COMPLETED)
            outcomes.extend(f.result() for f in done)
        for future in pending:
            if future.cancel():  # still queued: never started, so not in flight any more
                with self._lock:
                    self._in_flight.discard(futures[future])
            outcomes.append(
                PollOutcome(
                    futures[future],
                    error=f"no answer within {deadline_s:.1f} s",
                    latency_s=deadline_s,
                )
            )
        return outcomes

    def _pool_for(self, bmc_type: str, trusted: bool) -> ThreadPoolExecutor:
        key = bmc_type if trusted else f"{bmc_type}-suspect"
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                size = min(IPMI_THREADS, self._threads) if bmc_type == "ipmi" else self._threads
                pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix=f"poll-{key}")
                self._pools[key] = pool
            return pool

    def shutdown(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)


def in_good_standing(server: Server) -> bool:
    """True when the server's last read succeeded (it is read on the trusted pools)."""
    return server.consecutive_failures == 0 and server.last_success_at is not None


_poller: Poller | None = None
_poller_lock = threading.Lock()


def get_poller() -> Poller:
    """The process-wide poller (created on first use, so a forked worker makes its own)."""
    global _poller
    with _poller_lock:
        if _poller is None:
            _poller = Poller(threads=settings.POLL_THREADS)
        return _poller


def samples_from(outcomes: Sequence[PollOutcome], servers: dict[int, Server]) -> list[Sample]:
    """The buffer's samples of the outcomes that hold a reading, dated at the moment their
    value stands for (:attr:`PowerReading.value_time_ns`: integer nanoseconds).

    A reading that is a sum (:attr:`PowerReading.parts`: a server fed by several PDU outlets,
    per-PSU sensors) gives its ``power`` sample, the sum, and one sample per part with the
    sensor ``power:<part name>`` at the same time: reports split the server's energy by them
    (:mod:`events.reports.parts`), and the server's own energy stays that of the sum.
    """
    samples = []
    for outcome in outcomes:
        if outcome.reading is None:
            continue
        server = servers[outcome.server_id]
        reading = outcome.reading
        pod, at_ns = server.pod.name, reading.value_time_ns
        samples.append(
            Sample(
                pod=pod,
                server=server.name,
                watts=reading.watts,
                measured_at_ns=at_ns,
                source=reading.source,
                energy_j=reading.energy_j,
            )
        )
        for name, watts in reading.parts:
            samples.append(
                Sample(
                    pod, server.name, watts, at_ns, reading.source, None, PART_SENSOR_PREFIX + name
                )
            )
    return samples


#: health fields a successful poll changes, and those a failed poll changes
_SUCCESS_FIELDS = (
    "last_reading_w",
    "last_reading_at",
    "last_source",
    "last_success_at",
    "consecutive_failures",
    "backoff_until",
)
_FAILURE_FIELDS = ("last_error", "last_error_at", "consecutive_failures", "backoff_until")


def record_health(
    outcomes: Sequence[PollOutcome],
    servers: dict[int, Server],
    now: dt.datetime,
    refresh_s: float | None = None,
) -> None:
    """Store each server's health: last reading, or the error and its back-off.

    A failure, and the first success after failures, are written at once. A server that keeps
    answering has its last reading written only when the stored one is ``refresh_s`` old
    (``ENERGYLAB_POLL_HEALTH_INTERVAL``, default 30 s; 0: every poll): its readings go to the
    buffer and InfluxDB at every poll anyway, and rewriting every row of the shard at every
    poll made the database rewrite 400 rows/s for 2,000 BMCs every 5 s.
    """
    record_polls(outcomes, servers)  # Prometheus figures, shared in Redis (never raises)
    if refresh_s is None:
        refresh_s = settings.POLL_HEALTH_INTERVAL
    refresh = dt.timedelta(seconds=refresh_s)
    succeeded: list[Server] = []
    failed: list[Server] = []
    for outcome in outcomes:
        server = servers[outcome.server_id]
        reading = outcome.reading
        if reading is not None:
            if (
                server.consecutive_failures == 0
                and server.backoff_until is None
                and server.last_source == reading.source
                and server.last_success_at is not None
                and now - server.last_success_at < refresh
            ):
                continue  # healthy, and its health was written less than refresh_s ago
            server.last_reading_w = reading.watts
            server.last_reading_at = from_ns(reading.read_at_ns)
            server.last_source = reading.source
            server.last_success_at = now
            server.consecutive_failures = 0
            server.backoff_until = None
            succeeded.append(server)
        elif outcome.skipped:
            continue  # the read in flight will tell
        else:
            server.consecutive_failures += 1
            server.last_error = (outcome.error or "")[:1000]
            server.last_error_at = now
            delay = backoff_delay(server.consecutive_failures, server.pod.poll_interval)
            server.backoff_until = now + dt.timedelta(seconds=delay)
            log.warning(
                "poll of %s (%s) failed %d time(s) in a row: %s",
                server.name,
                server.bmc_type,
                server.consecutive_failures,
                server.last_error,
            )
            failed.append(server)
    _write(succeeded, _SUCCESS_FIELDS)
    _write(failed, _FAILURE_FIELDS)


def _write(servers: Sequence[Server], fields: Sequence[str]) -> None:
    """``UPDATE`` these fields of these rows: one statement, executed once per row.

    Not ``bulk_update``: its ``CASE WHEN`` expressions cost 60-75 ms of CPU for 100 rows x 6
    fields, this 1.5 ms (measured on PostgreSQL; the worker was CPU-bound). Values are
    prepared by each field as Django would, so this works on every database Django supports.
    """
    if not servers:
        return
    meta = Server._meta
    model_fields = [f for f in meta.concrete_fields if f.name in fields]
    connection = connections[router.db_for_write(Server)]
    quote = connection.ops.quote_name
    # Identifiers from the model's metadata, quoted; every value is a bound parameter.
    assignments = ", ".join(f"{quote(str(f.column))} = %s" for f in model_fields)
    table, pk = quote(meta.db_table), quote(str(meta.pk.column))
    sql = f"UPDATE {table} SET {assignments} WHERE {pk} = %s"  # noqa: S608
    rows = [
        [f.get_db_prep_save(getattr(s, f.attname), connection) for f in model_fields] + [s.pk]
        for s in servers
    ]
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.executemany(sql, rows)  # one commit for the batch


def read_now(server: Server, timeout: float = 5.0) -> PowerReading:
    """One reading of one server, now, for people (``poll_server``, the admin action).

    :raises DriverError: as the driver does, with a message safe to show; also for settings
        that cannot be used and for a driver's unexpected failure.
    """
    if not server.is_polled:
        raise DriverError(f"{server.name} is a push server: it sends its own measurements")
    try:
        endpoint = server.endpoint(timeout=timeout)
    except Exception as exc:  # e.g. "Port out of range", a key that cannot decrypt
        raise BMCSettingsError(f"cannot use the server's BMC settings: {exc}") from None
    try:
        # three requests' worth: a first read logs in and finds the power resource
        deadline = time.monotonic() + 3 * timeout
        return sane(get_driver(server.bmc_type).read_power_by(endpoint, deadline))
    except DriverError as exc:
        raise type(exc)(redact(str(exc), endpoint.password)) from None
    except Exception as exc:  # a driver bug: told like the poller tells it, not a traceback
        log.exception("driver %s failed unexpectedly", server.bmc_type)
        raise DriverError(
            redact(f"internal error: {type(exc).__name__}: {exc}", endpoint.password)
        ) from None
