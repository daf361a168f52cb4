"""The embedded default, SQLite: migrations, events and step counts on a real SQLite file.

The suite runs on PostgreSQL; events run the same ORM code on SQLite, where step counts are kept
by SQLite's own triggers and ``select_for_update`` locks nothing (SQLite writes one transaction at
a time). This runs them there, in a fresh process on a fresh database, as a lab without
PostgreSQL would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
import datetime as dt, json
from events import services
from events.models import Run, Step
t0 = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)
s = dt.timedelta(seconds=1)
services.start_run("pod, with = \\\\ 'quotes'", "scenario", "one", t0)
services.set_step("pod, with = \\\\ 'quotes'", "two", t0 + s)
run = services.set_step("pod, with = \\\\ 'quotes'", "three")
try:
    services.set_step("pod, with = \\\\ 'quotes'", "late", t0)
    refused = None
except services.EventOutOfOrder as error:
    refused = str(error)
Step.objects.filter(name="one").delete()
stopped = services.stop_run("pod, with = \\\\ 'quotes'", Step.objects.get(name="three").started_at + s)
try:
    services.start_run("pod, with = \\\\ 'quotes'", "next", None, stopped.ended_at - s)
    refused_start = None
except services.EventOutOfOrder as error:
    refused_start = str(error)
following = services.start_run("pod, with = \\\\ 'quotes'", "next").run
print(json.dumps({
    "answered": [run.step, run.step_count],
    "refused": refused,
    "steps": list(Step.objects.order_by("started_at").values_list("name", flat=True)),
    "step_count": Run.objects.get(scenario="scenario").step_count,
    "running": Step.objects.filter(ended_at__isnull=True).count(),
    "ended": stopped.ended_at is not None,
    "refused_start": refused_start,
    "follows": following.started_at >= stopped.ended_at,
}))
"""


def test_events_and_step_counts_work_on_a_fresh_sqlite_database(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "energylab.settings",
        "ENERGYLAB_DEBUG": "true",
        "ENERGYLAB_DATABASE_URL": f"sqlite:///{tmp_path / 'energylab.sqlite3'}",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    migrate = subprocess.run(
        [*manage, "migrate", "--no-input"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr
    shell = subprocess.run(
        [*manage, "shell", "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert shell.returncode == 0, shell.stderr
    result = json.loads(shell.stdout.strip().splitlines()[-1])
    assert result["answered"] == ["three", 3]
    assert "before the start of the current step 'three'" in result["refused"]
    assert result["steps"] == ["two", "three"]
    assert result["step_count"] == 2
    assert result["running"] == 0
    assert result["ended"] is True
    assert "before the end of the pod's last run" in result["refused_start"]
    assert result["follows"] is True
