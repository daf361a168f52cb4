"""`make demo DEMO_EXIT=1` from a clean clone prints a report with energy for every step and
server (the README's first command, as a new user runs it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from energylab.testing import PrivateRedis, free_port
from events.influx import make_client

ROOT = Path(__file__).resolve().parents[2]
STEPS = ("provision", "benchmark", "teardown")


def table_rows(output: str) -> list[list[str]]:
    """The report table's rows of steps, cut at the columns its dashed line marks (names may
    hold spaces)."""
    lines = output.splitlines()
    dashes = next(i for i, line in enumerate(lines) if line.startswith("----"))
    spans = [m.span() for m in re.finditer(r"-+", lines[dashes])]
    rows = []
    for line in lines[dashes + 1 :]:
        if not line.strip() or line.startswith(("TOTAL", "warning", "demo:")):
            break
        rows.append([line[a:b].strip() for a, b in spans])
    return [row for row in rows if row[0] in STEPS]


@pytest.mark.timeout(600)
def test_make_demo_from_a_clean_clone_reports_every_step_and_server(
    tmp_path: Path, private_redis: PrivateRedis
) -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout to clone from")
    clone = tmp_path / "energylab"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    database = f"energylab_demo_test_{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENERGYLAB_", "DJANGO_"))}
    env.update(
        ENERGYLAB_HTTP_PORT=str(free_port()),
        # Its own redis-server, key prefix and InfluxDB database: a developer's running stack
        # (Redis database 0, InfluxDB database energylab) and another test run are left alone.
        ENERGYLAB_REDIS_URL=private_redis.url,
        ENERGYLAB_REDIS_KEY_PREFIX=f"energylab-demo-{os.getpid()}",
        ENERGYLAB_INFLUXDB_DATABASE=database,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    try:
        result = subprocess.run(
            ["make", "demo", "DEMO_EXIT=1"],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=540,
        )
    finally:
        make_client().drop_database(database)
    output = result.stdout + result.stderr
    print(output[-6000:])
    assert result.returncode == 0, output[-3000:]
    rows = table_rows(output)
    servers = {row[1] for row in rows if row[1] != "all"}
    assert len(servers) == 4  # IPMI, two Redfish, iLO
    for step in STEPS:
        step_rows = [row for row in rows if row[0] == step]
        assert len(step_rows) == 1 + len(servers), step
        for row in step_rows:
            energy_j = float(row[3])  # the "Energy J" column: a number, not "-"
            assert energy_j > 0, row
    assert re.search(r"the run's page:\s+http://127\.0\.0\.1:\d+/runs/\d+/", output)
    assert re.search(r"admin:\s+http://127\.0\.0\.1:\d+/admin/\s+user admin, password \S+", output)
