"""Power profiles that simulated BMCs play.

A profile is the truth that a simulated server consumes: a piecewise-constant power curve,
optionally with noise, held for the BMC's refresh period as real BMCs do (they refresh their
reading every few seconds, not continuously). Because the reported value *is* the held power, the
energy over any interval is known exactly (:meth:`PowerProfile.energy_j`), which is what the
end-to-end accuracy tests compare reports against, and what the simulators' energy counters show.

Profiles are built from a constant, a list of ``(seconds, watts)`` segments, or a CSV file with
``seconds,watts`` lines. The segment list repeats when it runs out.
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import itertools
import math
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

#: the longest stretch a BMC's statistics (min, max, average) are computed over
STATISTICS_HORIZON_S = 60.0


@dataclass(frozen=True)
class Segment:
    seconds: float
    watts: float


class PowerProfile:
    """Power over time for one simulated server.

    :param segments: ``(seconds, watts)`` pieces, played in order from ``epoch`` and repeated.
    :param refresh: the BMC's refresh period in seconds; the value is held that long. 0 means the
        reading follows the segments exactly.
    :param noise: amplitude in watts of a deterministic pseudo-random offset per refresh period
        (uniform in ``[-noise, +noise]``), seeded by ``seed`` so two runs agree.
    :param epoch: POSIX time the profile starts at; defaults to now.
    """

    def __init__(
        self,
        segments: Sequence[tuple[float, float]] | Sequence[Segment],
        *,
        refresh: float = 1.0,
        noise: float = 0.0,
        seed: int = 0,
        epoch: float | None = None,
    ) -> None:
        self.segments = [s if isinstance(s, Segment) else Segment(*map(float, s)) for s in segments]
        if not self.segments:
            raise ValueError("a profile needs at least one segment")
        if any(s.seconds <= 0 or s.watts < 0 for s in self.segments):
            raise ValueError("segments need seconds > 0 and watts >= 0")
        if refresh < 0 or noise < 0:
            raise ValueError("refresh and noise must be >= 0")
        self.refresh = float(refresh)
        self.noise = float(noise)
        self.seed = seed
        self.epoch = time.time() if epoch is None else float(epoch)
        self._starts: list[float] = []
        acc = 0.0
        for segment in self.segments:
            self._starts.append(acc)
            acc += segment.seconds
        self.period = acc
        self._counter_cache: tuple[float, float] = (self.epoch, 0.0)

    # -- construction helpers -------------------------------------------------------------------

    @classmethod
    def constant(cls, watts: float, **kwargs: float | int | None) -> PowerProfile:
        return cls([(3600.0, watts)], **kwargs)  # type: ignore[arg-type]

    @classmethod
    def from_csv(cls, path: str | Path, **kwargs: float | int | None) -> PowerProfile:
        """Read ``seconds,watts`` lines; a header line and ``#`` comments are skipped."""
        rows: list[tuple[float, float]] = []
        with open(path, newline="", encoding="utf-8") as handle:
            for line_no, row in enumerate(csv.reader(handle), start=1):
                if not row or row[0].strip().startswith("#"):
                    continue
                try:
                    rows.append((float(row[0]), float(row[1])))
                except (ValueError, IndexError):
                    if line_no == 1:
                        continue  # a header
                    raise ValueError(f"{path}:{line_no}: expected 'seconds,watts'") from None
        return cls(rows, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def from_spec(cls, spec: str, **kwargs: float | int | None) -> PowerProfile:
        """``"250"`` (constant), ``"30:200,30:350"`` (segments) or a CSV file's path."""
        spec = spec.strip()
        if Path(spec).is_file():
            return cls.from_csv(spec, **kwargs)
        if ":" not in spec:
            return cls.constant(float(spec), **kwargs)
        pieces: list[tuple[float, float]] = []
        for piece in spec.split(","):
            seconds, _, watts = piece.partition(":")
            pieces.append((float(seconds), float(watts)))
        return cls(pieces, **kwargs)  # type: ignore[arg-type]

    # -- the curve ------------------------------------------------------------------------------

    def _base(self, t: float) -> float:
        """Segment power at POSIX time t (no hold, no noise)."""
        offset = (t - self.epoch) % self.period
        index = bisect.bisect_right(self._starts, offset) - 1
        return self.segments[max(index, 0)].watts

    def _noise(self, slot: int) -> float:
        if not self.noise:
            return 0.0
        digest = hashlib.blake2b(struct.pack("<qq", self.seed, slot), digest_size=8).digest()
        unit = int.from_bytes(digest, "little") / 2**64  # [0, 1)
        return (unit * 2.0 - 1.0) * self.noise

    def _slot(self, t: float) -> int:
        return math.floor((t - self.epoch) / self.refresh) if self.refresh else 0

    def watts_at(self, t: float | None = None) -> float:
        """The power the server draws, and its BMC reports, at POSIX time t."""
        t = time.time() if t is None else t
        if self.refresh:
            slot = self._slot(t)
            held_from = self.epoch + slot * self.refresh
            return max(0.0, self._base(held_from) + self._noise(slot))
        return self._base(t)

    def _breakpoints(self, start: float, end: float) -> Iterable[float]:
        """Times in (start, end) where watts_at may change."""
        points: set[float] = set()
        if self.refresh:
            first = self._slot(start) + 1
            last = self._slot(end)
            points.update(self.epoch + k * self.refresh for k in range(first, last + 1))
        else:
            cycle = math.floor((start - self.epoch) / self.period)
            while True:
                base = self.epoch + cycle * self.period
                if base > end:
                    break
                points.update(base + s for s in self._starts)
                cycle += 1
        return sorted(p for p in points if start < p < end)

    def energy_j(self, start: float, end: float) -> float:
        """Exact energy in joules between two POSIX times (the truth reports are checked against)."""
        if end <= start:
            return 0.0
        total = 0.0
        edges = [start, *self._breakpoints(start, end), end]
        for left, right in itertools.pairwise(edges):
            total += self.watts_at(left) * (right - left)
        return total

    def statistics(self, period: float, now: float | None = None) -> tuple[float, float, float]:
        """``(min, max, average)`` watts over the ``period`` seconds ending at ``now``, as a BMC
        states them beside its current power (DCMI, Redfish ``PowerMetrics``). At most the last
        :data:`STATISTICS_HORIZON_S` are computed: a longer window costs a step per refresh
        period, and is never taken as a reading (collectors.drivers.averaging)."""
        now = time.time() if now is None else now
        window = min(period, STATISTICS_HORIZON_S)
        if window <= 0:
            watts = self.watts_at(now)
            return watts, watts, watts
        start = now - window
        values = [self.watts_at(t) for t in (start, *self._breakpoints(start, now))]
        return min(values), max(values), self.energy_j(start, now) / window

    def counter_j(self, t: float | None = None) -> float:
        """The BMC's cumulative energy counter at time t, in joules, counted from the epoch."""
        t = time.time() if t is None else t
        if t <= self.epoch:
            return 0.0
        # Counters are read often and time only moves on: integrate from the last answer.
        last_t, last_j = self._counter_cache
        if t < last_t:
            last_t, last_j = self.epoch, 0.0
        total = last_j + self.energy_j(last_t, t)
        self._counter_cache = (t, total)
        return total
