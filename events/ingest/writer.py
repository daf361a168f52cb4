"""The writer: buffer → correlation → InfluxDB, in batches, losing nothing and doubling nothing.

A plain class, free of Celery (``events.tasks.flush_samples`` runs it). Each pass reads the
entries that have waited the correlation delay, tags their samples with the run and step of
their pod at their time, writes them in one request, and acknowledges the entries only after
InfluxDB accepted the write. A point's identity is its measurement, tags and timestamp, so a
batch written again after a crash leaves one point per sample: a replay is tagged as its first
attempt was, even when an event arrived in between (see :meth:`InfluxWriter._tagged_lines`).

Schema (database ``ENERGYLAB_INFLUXDB_DATABASE``, retention policy ``energylab``):
- ``power``: tags pod, server, dc, room, row, rack, run, scenario, step (the last three only
  inside a run); fields watts, source, energy_j (when the BMC keeps a counter). Microseconds.
- ``sensors``: other sensors from the legacy measurements API, and each part of a polled sum
  (sensor ``power:<part>``: a PDU outlet, events.ingest.buffer.PART_SENSOR_PREFIX): tags as
  ``power`` plus sensor and unit; field value.
- ``steps``: one point per step start and end (Grafana annotations): tags pod, run, scenario,
  step, event (start/end); fields title, text, run_id.
- with ``ENERGYLAB_INFLUXDB_LEGACY_SCHEMA``, also the original recorder's ``PowerMeasurement``
  (tags hardware, environment, scenario, step; field power) and ``SensorMeasurement`` (tags
  equipement, environment, scenario, step, dc/room/row/rack, sensor, unit; field value), the
  latter for power too (see :meth:`InfluxWriter._legacy_prefixes`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import redis
import requests
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError, InfluxDBServerError

from collectors.models import Server
from energylab.timestamps import to_ns
from events.influx import ensure_database
from events.ingest.buffer import Entry, Sample, SampleBuffer
from events.ingest.correlation import Correlator, RunTags
from events.ingest.lineprotocol import field_float, field_string, line, tag_set
from events.models import Step

log = logging.getLogger(__name__)

# One pod's current span of run tags: (lo, hi, run tags, {server: tags}, {key: legacy prefixes}).
_Span = tuple[int, int, "RunTags | None", dict[Any, str], dict[Any, tuple[str, ...]]]
# A batch whose write is in flight: (the write, its entries, its points).
_InFlight = tuple["Future[None]", "list[Entry]", int]
# How a batch about to be written was tagged: [last entry id, Correlator.to_json()], in order;
# an entry belongs to the first segment whose last id is not before its own.
_Segment = list[str]

# How long the record of a write attempt is kept: far past any outage a replay follows.
ATTEMPT_TTL_S = 24 * 3600


def _entry_order(entry_id: str) -> tuple[int, ...]:
    """A Redis stream id ("ms-seq") as a number pair, for comparing ids."""
    return tuple(int(part) for part in entry_id.split("-"))


def _add_spans(spans: dict[str, tuple[int, int]], entries: Sequence[Entry]) -> None:
    for entry in entries:
        for sample in entry.samples:
            t = sample.measured_at_ns
            span = spans.get(sample.pod)
            if span is None:
                spans[sample.pod] = (t, t)
            elif t < span[0]:
                spans[sample.pod] = (t, span[1])
            elif t > span[1]:
                spans[sample.pod] = (span[0], t)


class InfluxUnavailable(Exception):
    """InfluxDB did not answer or failed; the batch stays in the buffer."""


class InfluxRejected(Exception):
    """InfluxDB refused the batch itself (HTTP 400): writing it again cannot help."""


@dataclass
class FlushStats:
    samples: int = 0
    points: int = 0
    batches: int = 0
    steps: int = 0
    rejected: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    error: str | None = None
    # Per pod, the first and last time (ns) of the samples written in the pass.
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)


class InfluxWriter:
    def __init__(
        self,
        buffer: SampleBuffer,
        client: InfluxDBClient,
        *,
        delay: float,
        batch_samples: int = 20_000,
        legacy_schema: bool = False,
        on_written: Callable[[dict[str, tuple[int, int]]], object] | None = None,
    ) -> None:
        """``on_written`` is called after a pass that wrote samples, with what it wrote per
        pod (:attr:`FlushStats.spans`): stored reports use it to notice late samples. Its
        errors are logged, never raised into the pass."""
        self.buffer = buffer
        self.on_written = on_written
        self.client = client
        self.delay = delay
        self.batch_samples = batch_samples
        self.legacy_schema = legacy_schema
        self.steps_watermark_key = f"{buffer.prefix}:writer:steps-since"
        self.attempt_key = f"{buffer.prefix}:writer:attempt"  # see _tagged_lines
        self._database_ready = False
        self._failing = False
        self._tag_cache: dict[tuple[object, ...], str] = {}
        self._generation: str | None = None  # the buffer's life in Redis at the last pass
        self._last_depth = 0  # samples waiting at the end of the last pass
        self._last_pass_at = 0.0

    # -- one pass -------------------------------------------------------------------------------

    def flush(self, time_budget: float = 5.0) -> FlushStats:
        """Write batches until the buffer has nothing ready or the budget is spent.

        Never raises for InfluxDB being away: the error is in the stats, the data stays buffered.

        While InfluxDB takes batch k (on a thread of its own), the next batch is read (after
        k's last entry) and its lines built; k's entries are acknowledged, or quarantined, once
        InfluxDB has answered for k, and batch k+1 is sent only then: one write at a time, in
        stream order. When k fails, k+1 is not sent and both stay buffered.
        """
        stats = FlushStats()
        started = time.monotonic()
        try:
            self._check_generation()
            stats.steps = self.export_steps()
            # No gc.disable() around the pass: it is process-wide, and the default worker polls
            # BMCs from the same process (a pass may last its whole budget, every second). In
            # bench/ingest.py, 18 alternations, it saved ~40 % of a pass's CPU (mostly one full
            # collection over the bench's own 500k live objects, which a worker does not hold)
            # but only ~15 % of samples/s (median): under the 25 % a second path must earn.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="influx-write") as pool:
                self._write_batches(pool, started, time_budget, stats)
        except InfluxUnavailable as exc:
            stats.error = str(exc)
            if not self._failing:
                log.warning("InfluxDB write failed, samples stay buffered: %s", exc)
            self._failing = True
            return stats
        finally:
            with contextlib.suppress(redis.RedisError):
                self._last_depth = self.buffer.depth()
                self._last_pass_at = time.time()
        if self.on_written is not None and stats.spans:
            try:
                self.on_written(stats.spans)
            except Exception:  # the samples are written and acknowledged whatever it does
                log.exception("after-write hook failed")
        if self._failing and (stats.batches or stats.steps):
            log.warning("InfluxDB accepts writes again")
            self._failing = False
        return stats

    def _write_batches(
        self, pool: ThreadPoolExecutor, started: float, time_budget: float, stats: FlushStats
    ) -> None:
        in_flight: _InFlight | None = None
        after = "-"
        # What is ready at the start of the pass, not at each read: under a steady push the
        # horizon moved on during every write, and the pass chased it in batches of what became
        # ready meanwhile, each with its queries, write and acknowledgement (bench/push.py: the
        # writer took a third of a core at 1,200 samples/s). The rest waits for the next pass.
        as_of = time.time()
        attempted: list[_Segment] = json.loads(self.buffer.client.get(self.attempt_key) or "[]")
        try:
            while True:
                entries: list[Entry] = []
                if time.monotonic() - started < time_budget:
                    entries = self.buffer.read_ready(
                        self.delay, self.batch_samples, after=after, as_of=as_of
                    )
                lines, segments = self._tagged_lines(entries, attempted)
                if in_flight is not None:
                    done, in_flight = in_flight, None
                    self._settle(done, stats)
                if not entries:
                    return
                # Recorded before the write, once the previous batch is acknowledged: a writer
                # killed from here to this batch's acknowledgement leaves how it tagged it.
                self.buffer.client.set(self.attempt_key, json.dumps(segments), ex=ATTEMPT_TTL_S)
                in_flight = (pool.submit(self._write, lines), entries, len(lines))
                after = "(" + entries[-1].entry_id
        finally:
            if in_flight is not None:
                # Something failed while the write was in flight: what InfluxDB accepted is
                # still acknowledged; the original exception goes on.
                with contextlib.suppress(Exception):
                    self._settle(in_flight, stats)

    def _settle(self, in_flight: _InFlight, stats: FlushStats) -> None:
        """Wait for InfluxDB's answer to a batch, then acknowledge or quarantine its entries.

        :raises InfluxUnavailable: the write failed; the entries stay buffered.
        """
        future, entries, written = in_flight
        try:
            future.result()
        except InfluxRejected as exc:
            # Keep the batch for an operator, but out of the way of the ones behind it.
            self.buffer.quarantine(entries, reason=str(exc))
            stats.rejected += sum(e.size for e in entries)
            return
        self.buffer.acknowledge(entries)
        if self.on_written is not None:
            _add_spans(stats.spans, entries)
        stats.batches += 1
        stats.samples += sum(e.size for e in entries)
        stats.points += written
        stats.batch_sizes.append(written)

    def _check_generation(self) -> None:
        """Notice that Redis lost the buffer since this writer's last pass (a restart without
        persistence, a flush): log it as an error and count what was waiting then as lost.

        Only the writer whose call began the new life reports it, so several worker processes
        count a loss once. The figure is what waited at this writer's previous pass, at most a
        pass (about a second) before the loss; samples pushed after that pass were lost too.
        """
        generation, began = self.buffer.generation()
        if began and self._generation is not None and generation != self._generation:
            self.buffer.record_lost(self._last_depth)
            log.error(
                "the sample buffer vanished from Redis (restarted without persistence, or "
                "flushed): %d samples waiting in it %.1f s before were never written to "
                "InfluxDB, nor any pushed since then until the loss",
                self._last_depth,
                max(0.0, time.time() - self._last_pass_at),
            )
        self._generation = generation

    # -- building points ------------------------------------------------------------------------

    def _tagged_lines(
        self, entries: Sequence[Entry], attempted: Sequence[_Segment]
    ) -> tuple[list[str], list[_Segment]]:
        """The points of the entries' samples, and how they were tagged (to record).

        Entries a killed writer may have written already (up to the last id of a segment it
        recorded) are tagged from the events it saw, kept in the segment: a step event that
        came in between would otherwise give them other run/step tags, i.e. a second point in
        another series beside the first. The other entries are tagged from the events now.
        """
        lines: list[str] = []
        segments: list[_Segment] = []
        rest = list(entries)
        for last_id, snapshot in attempted:
            last = _entry_order(last_id)
            count = next(
                (i for i, e in enumerate(rest) if _entry_order(e.entry_id) > last), len(rest)
            )
            if count:
                head, rest = rest[:count], rest[count:]
                samples = [s for entry in head for s in entry.samples]
                lines += self.lines_for(samples, Correlator.from_json(snapshot))
                segments.append([last_id, snapshot])
        samples = [s for entry in rest for s in entry.samples]
        if samples:
            correlator = self._correlator(samples)
            lines += self.lines_for(samples, correlator)
            segments.append([rest[-1].entry_id, correlator.to_json()])
        return lines, segments

    @staticmethod
    def _correlator(samples: Sequence[Sample]) -> Correlator:
        times = [s.measured_at_ns for s in samples]
        return Correlator.for_window(sorted({s.pod for s in samples}), min(times), max(times))

    def lines_for(
        self, samples: Sequence[Sample], correlator: Correlator | None = None
    ) -> list[str]:
        """The points of ``samples``, in their order, tagged by ``correlator`` (default: the
        runs and steps in the database now).

        The hot loop of the writer, hence its shape: the run tags of a pod are constant over a
        span of time (:meth:`Correlator.span`), so a sample inside its pod's current span takes
        the span's tag string of its server from a dict without looking anything up again.
        """
        if not samples:
            return []
        if correlator is None:
            correlator = self._correlator(samples)
        topology = self._topology({s.server for s in samples})
        legacy = self.legacy_schema
        current: dict[str, _Span] = {}
        # (pod, run tags) -> the span's tag strings, for samples going back to an earlier span
        by_tags: dict[
            tuple[str, RunTags | None], tuple[dict[Any, str], dict[Any, tuple[str, ...]]]
        ] = {}
        sources: dict[str, str] = {}
        sensor_tags: dict[tuple[str, str], str] = {}
        lines: list[str] = []
        append = lines.append
        isfinite = math.isfinite
        for sample in samples:
            pod, server, t_ns = sample.pod, sample.server, sample.measured_at_ns
            sensor, unit = sample.sensor, sample.unit
            span = current.get(pod)
            if span is None or not span[0] <= t_ns < span[1]:
                lo, hi, tags = correlator.span(pod, t_ns)
                strings = by_tags.get((pod, tags))
                if strings is None:
                    strings = by_tags[(pod, tags)] = ({}, {})
                span = current[pod] = (lo, hi, tags, strings[0], strings[1])
            base = span[3].get(server)
            if base is None:
                base = span[3][server] = self._tags(pod, server, span[2], topology.get(server))
            source = sample.source
            src = sources.get(source)
            if src is None:
                src = sources[source] = f",source={field_string(source)}"
            watts, energy = sample.watts, sample.energy_j
            value = float(watts)
            if not isfinite(value):
                field_float(watts)  # raises
            timestamp = t_ns  # nanoseconds, as measured: points µs apart stay apart
            if sensor == "power":
                if energy is None:
                    append(f"power{base} watts={value!r}{src} {timestamp}")
                else:
                    append(
                        f"power{base} watts={value!r}{src},"
                        f"energy_j={field_float(float(energy))} {timestamp}"
                    )
            else:
                extra = sensor_tags.get((sensor, unit))
                if extra is None:
                    extra = sensor_tags[(sensor, unit)] = tag_set({"sensor": sensor, "unit": unit})
                append(f"sensors{base}{extra} value={value!r}{src} {timestamp}")
            if legacy:
                legacy_key = server if sensor == "power" else (server, sensor, unit)
                prefixes = span[4].get(legacy_key)
                if prefixes is None:
                    prefixes = span[4][legacy_key] = self._legacy_prefixes(
                        pod, server, span[2], sensor, unit, topology.get(server)
                    )
                for prefix in prefixes:
                    append(f"{prefix}{value!r} {timestamp}")
        return lines

    def _tags(
        self, pod: str, server: str, tags: RunTags | None, topo: dict[str, str] | None
    ) -> str:
        topo_key = tuple(topo.items()) if topo else ()
        key = (pod, server, tags, topo_key)
        cached = self._tag_cache.get(key)
        if cached is None:
            values = {"pod": pod, "server": server, **(topo or {})}
            if tags is not None:
                values.update(run=str(tags.run_id), scenario=tags.scenario, step=tags.step or "")
            cached = tag_set(values)
            if len(self._tag_cache) > 100_000:
                self._tag_cache.clear()
            self._tag_cache[key] = cached
        return cached

    @staticmethod
    def _legacy_prefixes(
        pod: str,
        server: str,
        tags: RunTags | None,
        sensor: str,
        unit: str,
        topo: dict[str, str] | None,
    ) -> tuple[str, ...]:
        """The original recorder's points for one sample, up to the value: ``PowerMeasurement``
        (tags ``hardware``, ``environment``, ``scenario``, ``step``; field ``power``) for power,
        as its ``/resources/servers/{server}/consumption`` wrote it; and ``SensorMeasurement``
        (tags ``equipement`` [sic], ``environment``, ``scenario``, ``step``, the topology,
        ``sensor``, ``unit``; field ``value``) for every sample, power included as
        ``sensor=power,unit=W``, as both of its endpoints wrote it (``recording-api/api/
        endpoints/servers.py`` and ``equipements.py``). Outside a run the original recorded only
        with ``always_record``, under scenario and step ``n/s``: so does this.
        """
        scenario, step = ("n/s", "n/s") if tags is None else (tags.scenario, tags.step or "")
        run = {"environment": pod, "scenario": scenario, "step": step}
        sensor_tags = {**(topo or {}), **run, "equipement": server, "sensor": sensor, "unit": unit}
        prefixes = [f"SensorMeasurement{tag_set(sensor_tags)} value="]
        if sensor == "power":
            prefixes.insert(0, f"PowerMeasurement{tag_set({**run, 'hardware': server})} power=")
        return tuple(prefixes)

    def _topology(self, servers: set[str]) -> dict[str, dict[str, str]]:
        rows = Server.objects.filter(name__in=servers).values_list(
            "name", "dc", "room", "row", "rack"
        )
        return {
            name: {k: v for k, v in (("dc", dc), ("room", room), ("row", row), ("rack", rack)) if v}
            for name, dc, room, row, rack in rows
        }

    # -- steps, for annotations -----------------------------------------------------------------

    def export_steps(self) -> int:
        """Write start/end points of steps changed since the last export (idempotent)."""
        raw = self.buffer.client.get(self.steps_watermark_key)
        since = (
            dt.datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else str(raw))
            if raw
            else dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        )
        now = dt.datetime.now(dt.UTC)
        # A second of overlap: a step saved while the previous export ran is exported again,
        # which the points' identity makes harmless.
        steps = list(
            Step.objects.filter(updated__gte=since - dt.timedelta(seconds=1))
            .select_related("run", "run__pod")
            .order_by("updated")[:5000]
        )
        if not steps:
            return 0
        lines = []
        for step in steps:
            run = step.run
            base = {
                "pod": run.pod.name,
                "run": str(run.pk),
                "scenario": run.scenario,
                "step": step.name,
            }
            edges = [("start", step.started_at)] + (
                [("end", step.ended_at)] if step.ended_at else []
            )
            for event, moment in edges:
                fields = (
                    f"title={field_string(f'{run.scenario}: {step.name}')},"
                    f"text={field_string(f'{event} of step {step.name} (run {run.pk})')},"
                    f"run_id={run.pk}i"
                )
                lines.append(
                    line("steps", tag_set({**base, "event": event}), fields, to_ns(moment))
                )
        self._write(lines)
        watermark = steps[-1].updated if len(steps) == 5000 else now
        self.buffer.client.set(self.steps_watermark_key, watermark.isoformat())
        return len(steps)

    # -- the one write --------------------------------------------------------------------------

    def _write(self, lines: list[str]) -> None:
        if not lines:
            return
        try:
            if not self._database_ready:
                ensure_database(self.client)
                self._database_ready = True
            self.client.write_points(lines, protocol="line", time_precision="n")
        except (requests.RequestException, InfluxDBServerError, OSError) as exc:
            self._database_ready = False
            raise InfluxUnavailable(f"{type(exc).__name__}: {exc}"[:500]) from None
        except InfluxDBClientError as exc:
            self._database_ready = False
            if exc.code == 400:
                # The batch itself is refused (e.g. a field's type conflicts): not transient.
                log.error("InfluxDB refused a batch of %d points: %s", len(lines), exc)
                raise InfluxRejected(str(exc)[:500]) from None
            raise InfluxUnavailable(f"InfluxDB answered {exc.code}: {exc}"[:500]) from None
