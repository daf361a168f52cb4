"""Cost of Energy.set_step() to the caller: API up, refused, hanging, vs a bare call.

.venv/bin/python sdk/bench/bench_set_step.py [N]
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

import energylab_sdk as energy
from energylab_sdk.testing import HANG, FakeEnergyLab, dead_url


def measure(call: Callable[[str], object], n: int) -> list[float]:
    costs = []
    for i in range(n):
        name = f"s{i}"
        t0 = time.perf_counter()
        call(name)
        costs.append(time.perf_counter() - t0)
    return costs


def report(label: str, costs: list[float]) -> float:
    costs = sorted(costs)
    median = statistics.median(costs)
    p99 = costs[int(len(costs) * 0.99) - 1]
    print(f"{label:<10} median {median * 1e6:7.2f} us   p99 {p99 * 1e6:7.2f} us")
    return median


def noop(name: str) -> None:
    pass


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    bare = report("bare call", measure(noop, n))
    with FakeEnergyLab() as up, FakeEnergyLab() as hanging:
        hanging.mode = HANG
        for label, url in (
            ("up", up.root_url),
            ("refused", dead_url()),
            ("hanging", hanging.root_url),
        ):
            energy.configure(url=url, pod="bench", queue_size=n + 10)
            energy.Energy.start("bench")  # starts the sender thread: not measured
            time.sleep(0.1)
            median = report(label, measure(energy.Energy.set_step, n))
            print(f"{'':<10} {median / bare:.0f}x a bare call; target median <= 100 us")
            energy.flush(0.2)
        energy.configure(url=None)


if __name__ == "__main__":
    main()
