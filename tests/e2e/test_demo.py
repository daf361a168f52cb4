"""`make demo DEMO_EXIT=1` from a clean clone prints a report with energy for every step and
server (the README's first command, as a new user runs it); a demo stopped by a signal leaves
no process and no open run."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from energylab.testing import PrivateRedis, free_port, wait_until
from events.influx import make_client
from events.models import Run
from tests.e2e.conftest import Stack

ROOT = Path(__file__).resolve().parents[2]
STEPS = ("provision", "benchmark", "teardown")
DEMO_POD = "demo lab"


def table_rows(output: str) -> list[dict[str, str]]:
    """The report table's rows of steps by column heading, cut at the columns its dashed line
    marks (names may hold spaces)."""
    lines = output.splitlines()
    dashes = next(i for i, line in enumerate(lines) if line.startswith("----"))
    spans = [m.span() for m in re.finditer(r"-+", lines[dashes])]
    headings = [lines[dashes - 1][a:b].strip() for a, b in spans]
    rows = []
    for line in lines[dashes + 1 :]:
        if not line.strip() or line.startswith(("TOTAL", "warning", "demo:")):
            break
        rows.append(dict(zip(headings, (line[a:b].strip() for a, b in spans), strict=True)))
    return [row for row in rows if row["Step"] in STEPS]


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
    # A server fed by several outlets has a row per outlet after its own (the "Part" column).
    parts = [row for row in rows if row.get("Part", "-") != "-"]
    rows = [row for row in rows if row.get("Part", "-") == "-"]
    servers = {row["Server"] for row in rows if row["Server"] != "all"}
    assert len(servers) == 5  # IPMI, two Redfish, iLO, a server on two outlets of an SNMP PDU
    assert len(parts) == 2 * len(STEPS)  # the PDU-fed server's two outlets, in every step
    for step in STEPS:
        step_rows = [row for row in rows if row["Step"] == step]
        assert len(step_rows) == 1 + len(servers), step
        for row in step_rows:
            assert float(row["Energy J"]) > 0, row  # a number, not "-"
    assert re.search(r"the run's page:\s+http://127\.0\.0\.1:\d+/runs/\d+/", output)
    assert re.search(r"admin:\s+http://127\.0\.0\.1:\d+/admin/\s+user admin, password \S+", output)


def descendants(pid: int) -> set[int]:
    """The processes below ``pid`` (children, theirs, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.timeout(300)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=["SIGTERM", "SIGHUP", "SIGINT"]
)
def test_a_stop_signal_stops_every_process_of_the_demo_and_closes_its_run(
    tmp_path: Path, stack: Stack, signum: int
) -> None:
    # A CI cancel, `timeout` or a closed terminal: the lab, web, worker and beat stayed up, and
    # the run open. Ctrl-C (SIGINT) stopped them, but the web server before the stop event.
    output = tmp_path / "demo.out"
    children: set[int] = set()
    with output.open("wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "scripts/demo.py"],
            cwd=ROOT,
            env=stack.env(ENERGYLAB_HTTP_PORT=str(free_port()), DEMO_LEAD_IN="0"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def running_run() -> Run | None:
            assert demo.poll() is None, f"the demo exited ({demo.returncode})"
            return Run.objects.filter(pod__name=DEMO_POD, ended_at__isnull=True).first()

        run = wait_until(running_run, 180, "the demo's run to begin", every=0.5)
        children = descendants(demo.pid)
        assert len(children) >= 4, children  # lab, web, worker, beat
        demo.send_signal(signum)
        demo.wait(timeout=60)
        wait_until(lambda: not any(alive(pid) for pid in children), 30, "no process of the demo")
        run.refresh_from_db()
        assert run.ended_at is not None
        assert demo.returncode == (0 if signum == signal.SIGINT else 128 + signum)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        for pid in children:  # what a failed demo left behind: not the next test's business
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        print(output.read_text(errors="replace")[-4000:])
