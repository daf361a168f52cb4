"""The sample buffer: a Redis stream between the producers of power samples and the writer.

Producers (poll tasks, the legacy measurements API) :meth:`SampleBuffer.push` lists of
:class:`Sample`; one stream entry holds one pushed list, so a poll of 500 servers costs one XADD.
An entry's field ``s`` is the list as JSON, one array per sample (:meth:`Sample.to_row`): the
format every version has written, so entries an older version buffered are read after an
upgrade.
The writer (:mod:`events.ingest.writer`) reads entries in stream order with :meth:`read_ready`, writes
them to InfluxDB, and only then :meth:`acknowledge` s them, which trims them from the stream: a
crash between the write and the acknowledgement replays the batch, and the writer's points are
idempotent, so nothing is lost and nothing doubled.

The buffer is bounded (``ENERGYLAB_BUFFER_MAX_SAMPLES``): when InfluxDB stays away long enough to
fill it, new samples are refused with a warning and counted in ``dropped``, rather than letting
Redis eat the machine's memory.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import starmap
from typing import NamedTuple

import redis
from django.conf import settings

from energylab.errors import ServiceDown
from energylab.redis_client import redis_client

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "energylab"


class BufferUnavailable(ServiceDown):
    """Redis does not answer; the samples were not buffered."""

    service = "sample buffer"


class BufferFull(BufferUnavailable):
    """The buffer holds its maximum; the samples were refused (and counted as dropped)."""


class Sample(NamedTuple):
    """One measurement of one server: the one shape of a sample, from the poller (which makes
    it of a driver's :class:`~collectors.drivers.base.PowerReading`) or the legacy measurements
    API, through the buffer, to the writer's lines.

    ``measured_at_ns`` is integer nanoseconds since the epoch (UTC), as the driver's clock gave
    it; it never passes through a float (InfluxDB stores it truncated to microseconds). Power
    samples have ``sensor="power"`` and ``unit="W"``; the legacy measurements API may push other
    sensors, with their value in ``watts`` (the field's name is the common case's).

    A named tuple, not a frozen dataclass: as immutable, and the writer makes one per sample it
    reads from the stream, where a frozen dataclass's ``__init__`` (one ``object.__setattr__``
    per field) cost 0.65 µs against 0.2 µs, a tenth of the writer's pass (bench/ingest.py).
    """

    pod: str
    server: str
    watts: float
    measured_at_ns: int
    source: str
    energy_j: float | None = None
    sensor: str = "power"
    unit: str = "W"

    def to_row(self) -> list[object]:
        """The sample as the stream holds it: ``[pod, server, watts, measured_at_ns, source,
        energy_j, sensor, unit]``; ``Sample(*row)`` of the decoded row gives it back (JSON
        returns the types it was given: the time an ``int``, exact)."""
        return list(self)


@dataclass(frozen=True, slots=True)
class Entry:
    """One stream entry: the samples of one push."""

    entry_id: str
    samples: list[Sample]

    @property
    def size(self) -> int:
        """How many samples the entry holds."""
        return len(self.samples)

    @property
    def pushed_at(self) -> float:
        """POSIX seconds when the entry was pushed (from its stream id)."""
        return int(self.entry_id.split("-", 1)[0]) / 1000.0


class SampleBuffer:
    def __init__(self, client: redis.Redis, max_samples: int, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.max_samples = max_samples
        self.prefix = prefix
        self.stream_key = f"{prefix}:samples"
        self.count_key = f"{prefix}:samples:count"  # samples in the stream (XLEN counts entries)
        self.dropped_key = f"{prefix}:samples:dropped"
        self.rejected_key = f"{prefix}:samples:rejected"  # batches InfluxDB refused, kept
        # Which life of the buffer this is: Redis restarted without persistence (or flushed)
        # forgets the stream and this key together, which is how the writer notices the loss.
        self.generation_key = f"{prefix}:samples:generation"
        self.lost_key = f"{prefix}:samples:lost"  # samples the writer saw vanish with Redis

    @classmethod
    def from_settings(cls) -> SampleBuffer:
        return cls(redis_client(), settings.BUFFER_MAX_SAMPLES, settings.REDIS_KEY_PREFIX)

    # -- producers ------------------------------------------------------------------------------

    def push(self, samples: Iterable[Sample]) -> int:
        """Buffer samples; returns how many.

        :raises BufferFull: the buffer is at its bound; the samples are counted as dropped.
        :raises BufferUnavailable: Redis does not answer.
        """
        rows = [s.to_row() for s in samples]
        if not rows:
            return 0
        payload = json.dumps(rows, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        try:
            held = int(self.client.get(self.count_key) or 0)
            if held + len(rows) > self.max_samples:
                self.client.incrby(self.dropped_key, len(rows))
                log.warning(
                    "sample buffer full (%d of %d samples): %d new samples dropped; "
                    "is InfluxDB reachable and the writer running?",
                    held,
                    self.max_samples,
                    len(rows),
                )
                raise BufferFull(f"sample buffer full ({held} samples held)")
            pipe = self.client.pipeline(transaction=True)
            pipe.xadd(self.stream_key, {"s": payload})
            pipe.incrby(self.count_key, len(rows))
            pipe.execute()
        except redis.RedisError as exc:
            raise BufferUnavailable(f"Redis does not answer ({type(exc).__name__})") from None
        return len(rows)

    # -- the writer -----------------------------------------------------------------------------

    def read_ready(self, older_than: float, max_samples: int, after: str = "-") -> list[Entry]:
        """Entries pushed more than ``older_than`` seconds ago, oldest first, up to about
        ``max_samples`` samples (whole entries; at least one entry when any is ready)."""
        horizon_ms = int((time.time() - older_than) * 1000)
        if horizon_ms <= 0:
            return []
        entries: list[Entry] = []
        count = 0
        start = after
        while count < max_samples:
            chunk = self.client.xrange(self.stream_key, min=start, max=str(horizon_ms), count=100)
            if not chunk:
                break
            for entry_id, fields in chunk:
                rows = json.loads((fields or {})[b"s"])
                entries.append(Entry(_text(entry_id), list(starmap(Sample, rows))))
                count += len(rows)
                if count >= max_samples:
                    break
            start = "(" + _text(chunk[-1][0])
        return entries

    def acknowledge(self, entries: Sequence[Entry]) -> None:
        """Remove entries the writer has stored for good.

        The count drops only by the samples of entries really deleted, in one atomic script:
        two writers acknowledging the same entries (a lock that expired mid-pass) must not
        count them twice.
        """
        if not entries:
            return
        args = [str(n) for e in entries for n in (e.entry_id, e.size)]
        self.client.eval(_ACKNOWLEDGE, 2, self.stream_key, self.count_key, *args)

    def quarantine(self, entries: Sequence[Entry], reason: str) -> None:
        """Move entries the store refused to a side stream, out of the writer's way."""
        pipe = self.client.pipeline(transaction=True)
        for entry in entries:
            rows = json.dumps([s.to_row() for s in entry.samples], ensure_ascii=False)
            pipe.xadd(self.rejected_key, {"s": rows, "reason": reason[:500]})
        pipe.execute()
        self.acknowledge(entries)

    def rejected(self) -> int:
        """Batches in quarantine."""
        return int(self.client.xlen(self.rejected_key))

    def generation(self) -> tuple[str, bool]:
        """The id of the buffer's current life in Redis, and whether this call began it
        (the key was missing: first use, or Redis lost everything since the last call).

        :raises redis.RedisError: Redis does not answer.
        """
        fresh = uuid.uuid4().hex
        if self.client.set(self.generation_key, fresh, nx=True):
            return fresh, True
        return _text(self.client.get(self.generation_key)), False

    def record_lost(self, samples: int) -> None:
        """Count samples that vanished from the buffer before they were written."""
        self.client.incrby(self.lost_key, samples)

    # -- figures --------------------------------------------------------------------------------

    def depth(self) -> int:
        """Samples waiting in the buffer."""
        return max(0, int(self.client.get(self.count_key) or 0))

    def dropped(self) -> int:
        return int(self.client.get(self.dropped_key) or 0)

    def lost(self) -> int:
        """Samples the writer saw vanish with Redis (at least; see events.ingest.writer)."""
        return int(self.client.get(self.lost_key) or 0)

    def oldest_pushed_at(self) -> float | None:
        """POSIX seconds when the oldest waiting entry was pushed, or None when none waits.

        Everything pushed before it has been written (or quarantined): entries leave the
        stream only once InfluxDB has answered for them.
        """
        first = self.client.xrange(self.stream_key, count=1)
        if not first:
            return None
        return Entry(_text(first[0][0]), []).pushed_at

    def oldest_age(self) -> float | None:
        """Seconds since the oldest waiting entry was pushed (the writer's lag), or None."""
        pushed_at = self.oldest_pushed_at()
        return None if pushed_at is None else max(0.0, time.time() - pushed_at)

    def clear(self) -> None:
        """Empty the buffer (tests, and an operator who chose to drop a backlog)."""
        self.client.delete(
            self.stream_key, self.count_key, self.dropped_key, self.rejected_key, self.lost_key
        )


_ACKNOWLEDGE = """
local removed = 0
for i = 1, #ARGV, 2 do
  if redis.call('XDEL', KEYS[1], ARGV[i]) == 1 then
    removed = removed + tonumber(ARGV[i + 1])
  end
end
if removed > 0 then redis.call('DECRBY', KEYS[2], removed) end
return removed
"""


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
