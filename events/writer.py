"""The writer: buffer → correlation → InfluxDB, in batches, losing nothing and doubling nothing.

A plain class, free of Celery (``events.tasks.flush_samples`` runs it). Each pass reads the
entries that have waited the correlation delay, tags their samples with the run and step of
their pod at their time, writes them in one request, and acknowledges the entries only after
InfluxDB accepted the write. A point's identity is its measurement, tags and timestamp, so a
batch written again after a crash leaves one point per sample.

Schema (database ``ENERGYLAB_INFLUXDB_DATABASE``, retention policy ``energylab``):
- ``power``: tags pod, server, dc, room, row, rack, run, scenario, step (the last three only
  inside a run); fields watts, source, energy_j (when the BMC keeps a counter). Microseconds.
- ``sensors``: other sensors from the legacy measurements API: tags as ``power`` plus sensor and
  unit; field value.
- ``steps``: one point per step start and end (Grafana annotations): tags pod, run, scenario,
  step, event (start/end); fields title, text, run_id.
- with ``ENERGYLAB_INFLUXDB_LEGACY_SCHEMA``, also the original recorder's ``PowerMeasurement``
  (tags hardware, environment, scenario, step; field power) and ``SensorMeasurement``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis
import requests
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError, InfluxDBServerError

from collectors.buffer import Entry, Sample, SampleBuffer
from collectors.models import Server
from events.correlation import Correlator, RunTags, to_ns
from events.influx import ensure_database
from events.lineprotocol import field_float, field_string, line, tag_set
from events.models import Step

log = logging.getLogger(__name__)


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


class InfluxWriter:
    def __init__(
        self,
        buffer: SampleBuffer,
        client: InfluxDBClient,
        *,
        delay: float,
        batch_samples: int = 20_000,
        legacy_schema: bool = False,
    ) -> None:
        self.buffer = buffer
        self.client = client
        self.delay = delay
        self.batch_samples = batch_samples
        self.legacy_schema = legacy_schema
        self.steps_watermark_key = f"{buffer.prefix}:writer:steps-since"
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
        """
        stats = FlushStats()
        started = time.monotonic()
        try:
            self._check_generation()
            stats.steps = self.export_steps()
            while time.monotonic() - started < time_budget:
                entries = self.buffer.read_ready(self.delay, self.batch_samples)
                if not entries:
                    break
                try:
                    written = self.write_entries(entries)
                except InfluxRejected as exc:
                    # Keep the batch for an operator, but out of the way of the ones behind it.
                    self.buffer.quarantine(entries, reason=str(exc))
                    stats.rejected += sum(len(e.samples) for e in entries)
                    continue
                self.buffer.acknowledge(entries)
                stats.batches += 1
                stats.samples += sum(len(e.samples) for e in entries)
                stats.points += written
                stats.batch_sizes.append(written)
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
        if self._failing and (stats.batches or stats.steps):
            log.warning("InfluxDB accepts writes again")
            self._failing = False
        return stats

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

    def write_entries(self, entries: Sequence[Entry]) -> int:
        samples = [s for entry in entries for s in entry.samples]
        lines = self.lines_for(samples)
        self._write(lines)
        return len(lines)

    # -- building points ------------------------------------------------------------------------

    def lines_for(self, samples: Sequence[Sample]) -> list[str]:
        if not samples:
            return []
        times = [s.measured_at_ns for s in samples]
        correlator = Correlator.for_window(sorted({s.pod for s in samples}), min(times), max(times))
        topology = self._topology({s.server for s in samples})
        lines: list[str] = []
        for sample in samples:
            tags = correlator.at(sample.pod, sample.measured_at_ns)
            timestamp = sample.measured_at_ns // 1000  # stored in microseconds
            base = self._tags(sample, tags, topology.get(sample.server))
            if sample.sensor == "power":
                fields = f"watts={field_float(sample.watts)},source={field_string(sample.source)}"
                if sample.energy_j is not None:
                    fields += f",energy_j={field_float(sample.energy_j)}"
                lines.append(line("power", base, fields, timestamp))
            else:
                sensor_tags = base + tag_set({"sensor": sample.sensor, "unit": sample.unit})
                fields = f"value={field_float(sample.watts)},source={field_string(sample.source)}"
                lines.append(line("sensors", sensor_tags, fields, timestamp))
            if self.legacy_schema:
                lines.append(self._legacy_line(sample, tags, timestamp))
        return lines

    def _tags(self, sample: Sample, tags: RunTags | None, topo: dict[str, str] | None) -> str:
        key = (sample.pod, sample.server, tags)
        cached = self._tag_cache.get(key)
        if cached is None:
            values = {"pod": sample.pod, "server": sample.server, **(topo or {})}
            if tags is not None:
                values.update(run=str(tags.run_id), scenario=tags.scenario, step=tags.step or "")
            cached = tag_set(values)
            if len(self._tag_cache) > 100_000:
                self._tag_cache.clear()
            self._tag_cache[key] = cached
        return cached

    def _legacy_line(self, sample: Sample, tags: RunTags | None, timestamp: int) -> str:
        values = {"hardware": sample.server, "environment": sample.pod}
        if tags is not None:
            values.update(scenario=tags.scenario, step=tags.step or "")
        if sample.sensor == "power":
            return line(
                "PowerMeasurement", tag_set(values), f"power={field_float(sample.watts)}", timestamp
            )
        values.update(sensor=sample.sensor, unit=sample.unit)
        return line(
            "SensorMeasurement", tag_set(values), f"value={field_float(sample.watts)}", timestamp
        )

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
                    line("steps", tag_set({**base, "event": event}), fields, to_ns(moment) // 1000)
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
            self.client.write_points(lines, protocol="line", time_precision="u")
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
