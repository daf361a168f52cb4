"""Cost of ``Energy.set_step`` to the program that calls it: API up, refused, hanging.

    .venv/bin/python bench/sdk.py [--size N] [--json OUT]

Each case times N calls one by one with ``perf_counter`` (median and p99), beside a bare
function call timed the same way. The SDK queues events for a background sender, so the goal
(median <= 0.1 ms) is about the caller's cost, whatever the server does:
- up: an in-process ``FakeEnergyLab`` that answers;
- refused: a loopback port nobody listens on;
- hanging: a ``FakeEnergyLab`` in ``hang`` mode (accepts, never answers).
Needs no database, Redis or InfluxDB. The SDK author's own micro-bench is
``sdk/bench/bench_set_step.py``; this is the canonical entry.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from _common import Results, base_parser, median, percentile  # bench/ is sys.path[0]

GOAL_MEDIAN_S = 100e-6
TIME_BUDGET_S = 20.0  # per case: stop early rather than run long on a sick machine


def measure(call: Callable[[str], object], n: int) -> list[float]:
    costs: list[float] = []
    deadline = time.monotonic() + TIME_BUDGET_S
    for i in range(n):
        name = f"s{i}"
        t0 = time.perf_counter()
        call(name)
        costs.append(time.perf_counter() - t0)
        if time.monotonic() > deadline:
            break
    return costs


def noop(name: str) -> None:
    pass


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000, help="calls per case (20,000)")
    args = parser.parse_args()
    n = max(100, args.size)

    import energylab_sdk as energy
    from energylab_sdk.testing import HANG, FakeEnergyLab, dead_url

    results = Results("sdk: Energy.set_step cost to the caller", params={"calls": n})
    bare = measure(noop, n)
    bare_median = median(bare)
    results.add("bare call median", bare_median * 1e6, "us")
    results.add("bare call p99", percentile(bare, 99) * 1e6, "us")
    with FakeEnergyLab() as up, FakeEnergyLab() as hanging:
        hanging.mode = HANG
        for label, url in (
            ("up", up.root_url),
            ("refused", dead_url()),
            ("hanging", hanging.root_url),
        ):
            energy.configure(url=url, pod="bench", queue_size=n + 10, timeout=2)
            energy.Energy.start("bench")  # starts the sender thread: not measured
            time.sleep(0.1)
            costs = measure(energy.Energy.set_step, n)
            med = median(costs)
            results.add(
                f"{label}: median",
                med * 1e6,
                "us",
                goal="<= 100 us",
                met=med <= GOAL_MEDIAN_S,
                note=f"{med / bare_median:.0f}x a bare call; {len(costs)} calls",
            )
            results.add(f"{label}: p99", percentile(costs, 99) * 1e6, "us")
            results.add(f"{label}: max", max(costs) * 1e6, "us")
            energy.flush(0.5)
            if label == "up":
                received = len(up.requests)
                results.add(
                    "up: requests the server got",
                    received,
                    "",
                    note="sanity: events really left the process (after a 0.5 s flush)",
                )
        energy.configure(url=None)
    results.print_table()
    results.write_json(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
