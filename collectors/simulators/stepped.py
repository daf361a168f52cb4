"""Synthetic labs for checking reports against the truth, without processes or sockets.

Closer to real BMCs than :class:`~collectors.simulators.profile.PowerProfile` on one point: the
true power changes at any moment (at step edges and inside steps), and a BMC either samples and
holds it every ``refresh`` seconds at a phase of its own (a reading up to a refresh period old,
a short level unseen), or averages it over a window. The error-bound tests
(tests/unit/events/test_energy_bounds.py) and the averaging measurement (bench/averaging.py)
use them.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: sample times (seconds) and values (watts), as ``events.reports.energy.Series`` takes them
Polls = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]


@dataclass
class Truth:
    """A piecewise-constant true power: ``watts[i]`` from ``changes[i]`` on."""

    changes: list[float]
    watts: list[float]

    def at(self, t: float) -> float:
        return self.watts[max(0, bisect.bisect_right(self.changes, t) - 1)]

    def energy(self, start: float, end: float) -> float:
        edges = [start, *(c for c in self.changes if start < c < end), end]
        return sum(self.at(a) * (b - a) for a, b in itertools.pairwise(edges))


def stepped_lab(
    rng: random.Random, steps: int, shortest: float = 5.0
) -> tuple[Truth, list[tuple[float, float]]]:
    """A minute of idle, then ``steps`` steps of 30-120 s, the power (150-600 W) changing at
    each edge and up to three times inside, each level lasting at least ``shortest`` seconds.
    Returns the truth and the steps' ``(start, end)``."""
    changes, watts, spans = [0.0], [rng.uniform(150, 250)], []
    t = 60.0
    for _ in range(steps):
        length = rng.uniform(30, 120)
        spans.append((t, t + length))
        moments = [t]
        for _ in range(rng.randint(1, 3)):
            moment = moments[-1] + shortest + rng.uniform(0, 30)
            if moment < t + length - shortest:
                moments.append(moment)
        for moment in moments:
            changes.append(moment)
            watts.append(rng.uniform(150, 600))
        t += length
    changes.append(t)
    watts.append(200.0)
    return Truth(changes, watts), spans


def held_polls(truth: Truth, end: float, refresh: float, every: float, rng: random.Random) -> Polls:
    """What a poller sees every ``every`` seconds (± 3 %) of a BMC that takes the power every
    ``refresh`` seconds and holds it."""
    phase = rng.uniform(0, refresh)
    t, times, values = rng.uniform(0, every), [], []
    while t <= end:
        last_refresh = phase + refresh * ((t - phase) // refresh)
        times.append(t)
        values.append(truth.at(last_refresh))
        t += every * rng.uniform(0.97, 1.03)  # a poller's timing is not exact
    return np.array(times), np.array(values)


def averaged_polls(
    truth: Truth, end: float, window: float, every: float, rng: random.Random
) -> Polls:
    """What a poller sees every ``every`` seconds (± 3 %) of a BMC that answers its mean power
    over the last ``window`` seconds, each dated at its window's middle (as the drivers do)."""
    t, times, values = rng.uniform(0, every), [], []
    while t <= end:
        if t > window:
            times.append(t - window / 2)
            values.append(truth.energy(t - window, t) / window)
        t += every * rng.uniform(0.97, 1.03)
    return np.array(times), np.array(values)
