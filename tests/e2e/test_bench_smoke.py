"""The benchmarks run end to end at a tiny size (their figures mean nothing here): a change that
breaks one (its set-up, its clean-up) fails here rather than in the next `make bench`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from energylab.testing import PrivateRedis

ROOT = Path(__file__).resolve().parents[2]

SMALL = {
    "ingest": ["--size", "2000", "--servers", "10", "--per-sample", "50"],
    "history": ["--runs", "5", "--steps", "2", "--servers", "2", "--pods", "2", "--repeat", "1"],
    "report": ["--servers", "4", "--seconds", "120", "--steps", "2", "--repeat", "1"],
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("bench", sorted(SMALL))
def test_the_bench_runs_twice_in_a_row_and_cleans_up_after_itself(
    bench: str, tmp_path: Path, private_redis: PrivateRedis
) -> None:
    # Its own database (energylab_bench), as `make bench` uses, not the tests' one; a
    # redis-server of its own, which it may flush without touching another test run's keys.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENERGYLAB_", "DJANGO_"))}
    env["ENERGYLAB_BENCH_REDIS_URL"] = private_redis.url
    for attempt in (1, 2):
        out = tmp_path / f"{bench}-{attempt}.json"
        done = subprocess.run(
            [sys.executable, f"bench/{bench}.py", *SMALL[bench], "--json", str(out)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert json.loads(out.read_text())
