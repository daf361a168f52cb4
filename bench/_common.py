"""Shared helpers of the benchmarks: environment, Django, timing, tables and JSON output.

Every benchmark works on its own resources and removes them on the way out:
- PostgreSQL database ``energylab_bench`` (created and migrated when missing), or the database
  given in ``ENERGYLAB_DATABASE_URL``;
- Redis database 15 (``BENCH_REDIS_URL``; ``ENERGYLAB_BENCH_REDIS_URL`` replaces it, as the
  tests do with a redis-server of their own), flushed before and after; never DB 0 or 9;
- an InfluxDB database ``bench_<pid>``, dropped at the end; never ``energylab``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_REDIS_URL = os.environ.get("ENERGYLAB_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
BENCH_PG_URL = "postgres://postgres@127.0.0.1:5432/energylab_bench"
INFLUX_URL = "http://127.0.0.1:8086"
INFLUX_DATABASE = f"bench_{os.getpid()}"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def bench_env() -> dict[str, str]:
    """The ENERGYLAB_* variables the benchmark (and its child processes) run with."""
    return {
        "DJANGO_SETTINGS_MODULE": "energylab.settings",
        "ENERGYLAB_DEBUG": os.environ.get("ENERGYLAB_DEBUG", "true"),
        "ENERGYLAB_DATABASE_URL": os.environ.get("ENERGYLAB_DATABASE_URL", BENCH_PG_URL),
        "ENERGYLAB_REDIS_URL": BENCH_REDIS_URL,
        "ENERGYLAB_INFLUXDB_URL": INFLUX_URL,
        "ENERGYLAB_INFLUXDB_DATABASE": INFLUX_DATABASE,
        "ENERGYLAB_LOG_LEVEL": os.environ.get("ENERGYLAB_LOG_LEVEL", "WARNING"),
    }


def _ensure_pg_database(url: str) -> None:
    """Create the bench's PostgreSQL database when it is missing."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(migrate: bool = True) -> None:
    """Point EnergyLab at the bench's database, Redis DB and InfluxDB database; django.setup()."""
    for key, value in bench_env().items():
        if key in ("ENERGYLAB_REDIS_URL", "ENERGYLAB_INFLUXDB_DATABASE"):
            os.environ[key] = value  # never the production ones, whatever the caller exported
        else:
            os.environ.setdefault(key, value)
    url = os.environ["ENERGYLAB_DATABASE_URL"]
    if url.startswith("postgres"):
        _ensure_pg_database(url)
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def redis_client() -> Any:
    import redis

    return redis.Redis.from_url(BENCH_REDIS_URL, socket_timeout=10)


@contextmanager
def bench_resources(influx: bool = True, flush_redis: bool = True) -> Iterator[None]:
    """Fresh Redis DB 15 and InfluxDB ``bench_<pid>`` for the body; both cleaned up after."""
    import requests

    client = redis_client()
    if flush_redis:
        client.flushdb()
    if influx:
        requests.post(
            f"{INFLUX_URL}/query", params={"q": f'CREATE DATABASE "{INFLUX_DATABASE}"'}, timeout=10
        ).raise_for_status()
    try:
        yield
    finally:
        if flush_redis:
            client.flushdb()
        if influx:
            requests.post(
                f"{INFLUX_URL}/query",
                params={"q": f'DROP DATABASE "{INFLUX_DATABASE}"'},
                timeout=30,
            )


def drop_pod(name: str) -> None:
    """Delete a bench pod with its runs: a pod's runs are history and keep it otherwise
    (``Run.pod`` is protected), but a bench's are its own, made to be thrown away."""
    from collectors.models import Pod
    from events.models import Run

    Run.objects.filter(pod__name=name).delete()
    Pod.objects.filter(name=name).delete()  # its servers go with it; signals unschedule it


# -- timing ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@contextmanager
def timer() -> Iterator[Callable[[], float]]:
    """``with timer() as elapsed: ...`` then ``elapsed()`` gives seconds (frozen at exit)."""
    started = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - started
    end.append(time.perf_counter())


# -- results --------------------------------------------------------------------------------


@dataclass
class Row:
    """One figure beside its goal. ``met`` is None when the figure has no goal."""

    name: str
    value: float | None
    unit: str
    goal: str = ""
    met: bool | None = None
    note: str = ""


@dataclass
class Results:
    bench: str
    params: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(
        self,
        name: str,
        value: float | None,
        unit: str,
        goal: str = "",
        met: bool | None = None,
        note: str = "",
    ) -> Row:
        row = Row(name, value, unit, goal, met, note)
        self.rows.append(row)
        return row

    def print_table(self) -> None:
        print()
        print(f"== {self.bench}  ({dt.datetime.now().isoformat(timespec='seconds')}) ==")
        if self.params:
            print("   " + ", ".join(f"{k}={v}" for k, v in self.params.items()))
        width = max([len(r.name) for r in self.rows] + [10])
        for r in self.rows:
            value = "n/a" if r.value is None else _fmt(r.value)
            status = {True: "MET", False: "MISSED", None: ""}[r.met]
            goal = f"goal {r.goal}" if r.goal else ""
            line = f"{r.name:<{width}}  {value:>12} {r.unit:<9} {goal:<16} {status:<6}"
            print(line.rstrip() + (f"  ({r.note})" if r.note else ""))
        sys.stdout.flush()

    def to_json(self) -> dict[str, Any]:
        return {
            "bench": self.bench,
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "params": self.params,
            "rows": [r.__dict__ for r in self.rows],
            "extra": self.extra,
        }

    def write_json(self, path: str | None) -> None:
        if path:
            Path(path).write_text(json.dumps(self.to_json(), indent=2, default=str) + "\n")
            print(f"results written to {path}")


def _fmt(value: float) -> str:
    if value != value:  # NaN
        return "nan"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 0.01 or value == 0:
        return f"{value:.3f}"
    return f"{value:.2e}"


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", metavar="OUT", help="also write the results to this JSON file")
    return parser


#: wrk's Lua ``response`` hook for the benches' scripts: non-200 answers are counted (wrk's
#: "Non-2xx" line) and the first two printed, so that a bench's errors say what they were.
WRK_RESPONSE = r"""response = function(status, headers, body)
  if status ~= 200 then
    errors_seen = (errors_seen or 0) + 1
    if errors_seen < 3 then io.stderr:write("status " .. status .. ": " .. body .. "\n") end
  end
end
"""
