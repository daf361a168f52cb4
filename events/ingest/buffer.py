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
from typing import Any, NamedTuple

import msgspec
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


class StaleDirectory(Exception):
    """The push named a server directory version that is not the current one (``args[0]``)."""


#: the sensor of a sample that is one part of its server's summed power, ``power:<part name>``
#: (a PDU outlet of a server fed by several, a PSU's input): written to ``sensors`` beside the
#: server's ``power`` sample of the same time, which is their sum (events.reports.parts)
PART_SENSOR_PREFIX = "power:"


class Sample(NamedTuple):
    """One measurement of one server: the one shape of a sample, from the poller (which makes
    it of a driver's :class:`~collectors.drivers.base.PowerReading`) or the legacy measurements
    API, through the buffer, to the writer's lines.

    ``measured_at_ns`` is integer nanoseconds since the epoch (UTC), as the driver's clock gave
    it; it never passes through a float, and InfluxDB stores it to the nanosecond. Power
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
        # Bumped whenever a pod or server changes (collectors.signals): the push path's
        # per-process cache of them is valid while this is what it was read at.
        self.version_key = f"{prefix}:servers:version"

    @classmethod
    def from_settings(cls) -> SampleBuffer:
        return cls(redis_client(), settings.BUFFER_MAX_SAMPLES, settings.REDIS_KEY_PREFIX)

    # -- producers ------------------------------------------------------------------------------

    def push(self, samples: Iterable[Sample]) -> int:
        """Buffer samples; returns how many. One round trip to Redis (a script).

        :raises BufferFull: the buffer is at its bound; the samples are counted as dropped.
        :raises BufferUnavailable: Redis does not answer.
        """
        rows = [s.to_row() for s in samples]
        if not rows:
            return 0
        payload = json.dumps(rows, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        added, _version = self._run_push(["", "0", str(len(rows)), payload], len(rows))
        return added

    def push_new(self, samples: Sequence[Sample], seen_seconds: int, version: str) -> int:
        """Buffer the samples not pushed before; returns how many were new.

        A sample is known by its server, sensor and time to the nanosecond, for at least
        ``seen_seconds`` after it was first pushed (a Redis set per server, sensor and minute
        of measured time, members its times, expiring ``seen_seconds`` after the set's first
        member): a client that resends a batch (a retry after a timeout) adds nothing, and a
        repeated sample within one body counts once. Checked, and the new samples added, in the
        same script, so two concurrent retries cannot both count a sample as new.

        ``version`` is the version of the server directory the caller looked its servers up in
        (:mod:`events.ingest.directory`); when another process has changed a pod or server
        since, nothing is pushed and :class:`StaleDirectory` says the version now.

        :raises StaleDirectory: ``version`` is not the directory's version any more.
        :raises BufferFull: the buffer is at its bound; the samples are counted as dropped.
        :raises BufferUnavailable: Redis does not answer.
        """
        if not samples:
            return 0
        # The script checks each seen set once (SMISMEMBER, then SADD): the samples go in
        # groups of one set, each group's members as arguments of their own, so the script
        # parses nothing in the usual case (all new). Samples repeated in the body are left
        # out here: the first counts. The payload is encoded once, in the groups' order (a
        # body is mostly one server and sensor: its order); the rows' lengths let the script
        # take out those it had seen.
        bucket = _SEEN_BUCKET_NS
        groups: dict[str, dict[int, bytes]] = {}
        for s in samples:
            group = groups.setdefault(
                f"{s.server}\x1f{s.sensor}\x1f{s.measured_at_ns // bucket}", {}
            )
            if s.measured_at_ns not in group:
                group[s.measured_at_ns] = _encode_row(s)
        rows = [row for group in groups.values() for row in group.values()]
        args: list[str | bytes | int] = [
            version,
            max(1, seen_seconds),
            len(rows),
            b"[" + b",".join(rows) + b"]",
            ",".join([str(len(row)) for row in rows]),
            len(groups),
        ]
        for suffix, group in groups.items():
            args += (suffix, len(group))
        for group in groups.values():
            args += group.keys()
        added, _version = self._run_push(args, len(samples))
        return added

    def _run_push(self, args: list[str | bytes | int], count: int) -> tuple[int, str]:
        keys = [self.stream_key, self.count_key, self.dropped_key, self.version_key]
        try:
            answer = self._push_script(
                keys=keys, args=[str(self.max_samples), f"{self.prefix}:seen:", *args]
            )
        except redis.RedisError as exc:
            raise BufferUnavailable(f"Redis does not answer ({type(exc).__name__})") from None
        status, detail = int(answer[0]), _text(answer[1])
        if status == _STALE:
            raise StaleDirectory(detail)
        if status == _FULL:
            log.warning(
                "sample buffer full (%s of %d samples): %d new samples dropped; "
                "is InfluxDB reachable and the writer running?",
                detail,
                self.max_samples,
                count,
            )
            raise BufferFull(f"sample buffer full ({detail} samples held)")
        return status, detail

    @property
    def _push_script(self) -> Any:
        # Registered once per client; redis-py sends EVALSHA and falls back to EVAL.
        script = self.__dict__.get("_script")
        if script is None:
            script = self.__dict__["_script"] = self.client.register_script(_PUSH)
        return script

    def directory_version(self) -> str:
        """The server directory's version (see :meth:`push_new`); "0" before any change.

        :raises BufferUnavailable: Redis does not answer.
        """
        try:
            return _text(self.client.get(self.version_key) or b"0")
        except redis.RedisError as exc:
            raise BufferUnavailable(f"Redis does not answer ({type(exc).__name__})") from None

    def bump_directory_version(self) -> None:
        """Tell every process that a pod or server changed: their cached lookups are stale."""
        self.client.incr(self.version_key)

    # -- the writer -----------------------------------------------------------------------------

    def read_ready(
        self, older_than: float, max_samples: int, after: str = "-", as_of: float | None = None
    ) -> list[Entry]:
        """Entries pushed more than ``older_than`` seconds before ``as_of`` (a Unix time;
        default now), oldest first, up to about ``max_samples`` samples (whole entries; at
        least one entry when any is ready)."""
        horizon_ms = int(((time.time() if as_of is None else as_of) - older_than) * 1000)
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
        for key in self.client.scan_iter(match=f"{self.prefix}:seen:*", count=1000):
            self.client.delete(key)


# The one script of every push (polls and pushed measurements): the version check, the bound,
# the check of samples already seen and the append, in one round trip and atomically.
# KEYS: stream, count, dropped, directory version.
# ARGV: max samples, seen-key prefix, expected version ("" = any), seen seconds (0 = no check),
# n samples, the JSON array of their rows; with a check: the rows' lengths in bytes
# (comma-separated), the number of seen sets G, G pairs (seen-key suffix, how many members),
# then the members of every set in that order (the rows are in the same order; no member twice).
# Answers {added, version}, {-1, held} when full, {-2, version} when the version differs.
_PUSH = r"""
local version = redis.call('GET', KEYS[4]) or '0'
if ARGV[3] ~= '' and ARGV[3] ~= version then return {-2, version} end
local n = tonumber(ARGV[5])
local held = tonumber(redis.call('GET', KEYS[2]) or '0')
if held + n > tonumber(ARGV[1]) then
  redis.call('INCRBY', KEYS[3], n)
  return {-1, tostring(held)}
end
local ttl = tonumber(ARGV[4])
local payload = ARGV[6]
-- unpack() passes at most a few thousand values to one call
local CHUNK = 4000
local added = n
if ttl > 0 then
  local groups = tonumber(ARGV[8])
  local at = 9 + 2 * groups  -- the first group's first member
  local first, seen = at, {}
  for g = 0, groups - 1 do
    local key, last = ARGV[2] .. ARGV[9 + 2 * g], at + tonumber(ARGV[10 + 2 * g]) - 1
    local members, any_seen = ARGV, false
    for from = at, last, CHUNK do
      local known = redis.call('SMISMEMBER', key, unpack(ARGV, from, math.min(from + CHUNK - 1, last)))
      for j = 1, #known do
        if known[j] == 1 then
          seen[from + j - first] = true
          any_seen = true
        end
      end
    end
    local from, to = at, last
    if any_seen then
      members, from, to = {}, 1, 0
      for m = at, last do
        if not seen[m - first + 1] then
          to = to + 1
          members[to] = ARGV[m]
        end
      end
    end
    for chunk = from, to, CHUNK do
      redis.call('SADD', key, unpack(members, chunk, math.min(chunk + CHUNK - 1, to)))
    end
    if to >= from then redis.call('EXPIRE', key, ttl, 'NX') end
    at = last + 1
  end
  if next(seen) ~= nil then
    -- A resent sample: the payload without the rows already seen (by their lengths).
    local rows, i, offset = {}, 0, 2
    for length in string.gmatch(ARGV[7], '%d+') do
      i = i + 1
      length = tonumber(length)
      if not seen[i] then rows[#rows + 1] = string.sub(payload, offset, offset + length - 1) end
      offset = offset + length + 1
    end
    added = #rows
    payload = '[' .. table.concat(rows, ',') .. ']'
  end
end
if added > 0 then
  redis.call('XADD', KEYS[1], '*', 's', payload)
  redis.call('INCRBY', KEYS[2], added)
end
return {added, version}
"""
_FULL, _STALE = -1, -2
# Samples are known as seen per server, sensor and minute of their time (one set each).
_SEEN_BUCKET_NS = 60 * 1_000_000_000
# A sample's row as JSON (:meth:`Sample.to_row`'s array), ten times faster than json.dumps.
_encode_row = msgspec.json.Encoder().encode


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
