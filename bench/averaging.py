"""How wrong a step's energy is, read from a BMC's current power or from its average over a
window: the measurement behind ``collectors.drivers.averaging`` (which reading a driver takes).

    .venv/bin/python bench/averaging.py [--seeds 20] [--polls 1,2,5] [--windows 1,2,5,10,20,60]

Synthetic and quick (no service): steps of 30-120 s whose power changes at their edges and up to
three times inside (collectors.simulators.stepped), 50 steps per seed, polled every P seconds
(± 3 %) and integrated as reports do (trapezoid). Prints, per poll interval, the mean and 95th
percentile of the relative error of a step's energy for the current power of a BMC that
refreshes every 1 s and every 20 s, and for averages over each window dated at its middle.
"""

from __future__ import annotations

import argparse
import os
import random
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from collectors.simulators.stepped import averaged_polls, held_polls, stepped_lab
from events.reports import energy


def errors(kind: str, size: float, every: float, seeds: int) -> tuple[float, float]:
    """Mean and 95th percentile (%) of the steps' relative energy error."""
    found = []
    for seed in range(seeds):
        rng = random.Random(seed)
        truth, spans = stepped_lab(rng, 50)
        end = spans[-1][1] + 120
        if kind == "current":
            series = energy.Series(*held_polls(truth, end, size, every, rng))
        else:
            series = energy.Series(*averaged_polls(truth, end, size, every, rng))
        for a, b in spans:
            true = truth.energy(a, b)
            found.append(abs(energy.integrate(series, a, b, every).energy_j - true) / true)
    return float(np.mean(found)) * 100, float(np.percentile(found, 95)) * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--polls", default="1,2,5", help="poll intervals, seconds")
    parser.add_argument("--windows", default="1,2,5,10,20,60", help="average windows, seconds")
    args = parser.parse_args()
    print(f"{'poll s':>6}  {'reading':<28} {'mean %':>7} {'p95 %':>7}")
    for every in (float(p) for p in args.polls.split(",")):
        rows = [(f"current, refresh {r:g} s", "current", r) for r in (1.0, 20.0)]
        windows = [float(w) for w in args.windows.split(",")]
        rows += [(f"average over {w:g} s", "average", w) for w in windows]
        for label, kind, size in rows:
            mean, p95 = errors(kind, size, every, args.seeds)
            print(f"{every:>6g}  {label:<28} {mean:>7.2f} {p95:>7.2f}")


if __name__ == "__main__":
    main()
