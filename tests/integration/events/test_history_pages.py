"""The run list and the scenario page, from stored reports only: figures, status, filters."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from collectors.models import Pod
from energylab.testing import free_port
from energylab.timestamps import rfc3339
from events.models import Run, Step
from events.reports import stored

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)
STEPS = ["boot", "load"]


@pytest.fixture
def browser(db: None, settings) -> Client:
    # Nothing on these pages reads InfluxDB: pointed at a closed port, they still answer.
    settings.INFLUXDB_URL = f"http://127.0.0.1:{free_port()}"
    client = Client()
    client.force_login(User.objects.create_user("viewer"))
    return client


def figures(energy_j: float | None, duration_s: float, above: float | None) -> dict[str, Any]:
    return {
        "duration_s": duration_s,
        "energy_j": energy_j,
        "energy_j_low": None if energy_j is None else energy_j * 0.95,
        "energy_j_high": None if energy_j is None else energy_j * 1.05,
        "energy_wh": None if energy_j is None else energy_j / 3600,
        "mean_w": None if energy_j is None else energy_j / duration_s,
        "peak_w": None,
        "sample_count": 10,
        "coverage": 1.0,
        "largest_gap_s": 1.0,
        "method": "trapezoid",
        "energy_above_idle_j": above,
        "co2e_g": None,
        "warnings": [],
    }


def recorded(
    pod: str,
    scenario: str,
    start: dt.datetime,
    step_j: list[float],
    idle_w: float = 100.0,
    **provenance: Any,
) -> Run:
    """A run of 10 s steps with a stored report: each step draws ``step_j`` on one server."""
    pod_row, _ = Pod.objects.get_or_create(name=pod)
    end = start + dt.timedelta(seconds=10 * len(step_j))
    run = Run.objects.create(
        pod=pod_row, scenario=scenario, started_at=start, ended_at=end, **provenance
    )
    steps = []
    for index, (name, joules) in enumerate(zip(STEPS, step_j, strict=False)):
        a = start + dt.timedelta(seconds=10 * index)
        Step.objects.create(run=run, name=name, started_at=a, ended_at=a + dt.timedelta(seconds=10))
        section = figures(joules, 10.0, joules - idle_w * 10)
        steps.append(
            {
                "name": name,
                "started_at": rfc3339(a),
                **section,
                "servers": [{"server": "n1", **section}],
            }
        )
    total = figures(sum(step_j), 10.0 * len(step_j), sum(step_j) - idle_w * 10 * len(step_j))
    report = {
        "run": {"id": run.pk},
        "final": True,
        "final_after": None,
        "poll_interval_s": 1.0,
        "idle": {"watts": idle_w, "started_at": rfc3339(start - dt.timedelta(minutes=5))},
        "servers": ["n1"],
        "steps": steps,
        "total": {**total, "servers": [{"server": "n1", **total}]},
        "warnings": [],
    }
    stored.store(run, report, end)
    return run


def test_the_run_list_shows_stored_energy_duration_and_status(browser: Client) -> None:
    final = recorded("p", "s", T0, [2000.0, 3000.0])
    settling = Run.objects.create(
        pod=final.pod,
        scenario="s",
        started_at=T0 + dt.timedelta(hours=1),
        ended_at=T0 + dt.timedelta(hours=1, seconds=30),
    )
    running = Run.objects.create(pod=final.pod, scenario="s", started_at=T0 + dt.timedelta(hours=2))
    page = browser.get("/runs/")
    assert page.status_code == 200
    rows = {row.run.pk: row for row in page.context["rows"]}
    assert (rows[final.pk].status, rows[final.pk].energy_j, rows[final.pk].duration_s) == (
        "final",
        5000.0,
        20.0,
    )
    assert (rows[settling.pk].status, rows[settling.pk].energy_j) == ("settling", None)
    assert rows[settling.pk].duration_s == 30.0
    assert rows[running.pk].status == "running"
    assert "5000" in page.content.decode()


def test_the_run_list_filters_by_label_time_and_status(browser: Client) -> None:
    a = recorded("p", "s", T0, [100.0], labels={"vnf": "vFW"})
    b = recorded("p", "s", T0 + dt.timedelta(days=2), [100.0], labels={"vnf": "vLB", "x": ""})
    running = Run.objects.create(pod=a.pod, scenario="s", started_at=T0 + dt.timedelta(days=3))

    def ids(**query: str) -> list[int]:
        page = browser.get("/runs/", query)
        assert page.status_code == 200, page.content
        return [row.run.pk for row in page.context["rows"]]

    assert ids(label="vnf:vFW") == [a.pk]
    assert ids(label="x") == [b.pk]
    assert ids(since="2026-11-26") == [running.pk, b.pk]
    assert ids(until="2026-11-25") == [a.pk]
    assert ids(since="2026-11-27T08:00:00Z", until="2026-11-27T09:00:00Z") == [b.pk]
    assert ids(status="running") == [running.pk]
    assert ids(status="final") == [b.pk, a.pk]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "yesterday"}, "the since filter 'yesterday' is not a date"),
        ({"until": "2026-02-31"}, "the until filter '2026-02-31' is not a date"),
        ({"status": "done"}, "the status filter 'done' is not one of"),
        ({"label": "a\x00"}, "the label filter holds a control character"),
    ],
)
def test_a_bad_filter_is_an_explained_400(
    browser: Client, query: dict[str, str], message: str
) -> None:
    recorded("p", "s", T0, [100.0])
    page = browser.get("/runs/", query)
    assert page.status_code == 400
    assert message in html.unescape(page.content.decode())


def test_the_scenario_page_shows_history_spread_and_pods_above_idle(browser: Client) -> None:
    for day, (boot, load) in enumerate([(1000, 2000), (1100, 2200), (900, 2100)]):
        recorded("p", "s", T0 + dt.timedelta(days=day), [boot, load], commit=f"{day:x}" * 40)
    recorded("q", "s", T0, [3000.0, 3000.0], idle_w=200.0)
    recorded("p", "other", T0, [1.0, 1.0])
    page = browser.get("/runs/scenario/", {"pod": "p", "scenario": "s"})
    assert page.status_code == 200
    chart = page.context["chart"]
    assert chart["labels"] == ["0" * 8, "1" * 8, "2" * 8]  # commits, oldest first
    assert chart["total"] == pytest.approx([3000 / 3600, 3300 / 3600, 3000 / 3600])
    assert chart["steps"]["load"] == pytest.approx([2000 / 3600, 2200 / 3600, 2100 / 3600])
    spread = page.context["spread"]
    assert spread[""].runs == 3
    assert spread[""].mean == pytest.approx(3100.0)
    assert spread["boot"].stdev == pytest.approx(100.0)
    assert (spread["load"].low, spread["load"].high) == (2000.0, 2200.0)
    pods = {p.pod: p for p in page.context["pods"]}
    assert pods["p"].total.mean == pytest.approx(3100.0 - 2000.0)  # idle 100 W for 20 s
    assert pods["q"].total.mean == pytest.approx(6000.0 - 4000.0)
    assert pods["q"].steps["load"].mean == pytest.approx(3000.0 - 2000.0)
    assert 'id="scenario-data"' in page.content.decode()


def test_the_scenario_page_filters_by_branch_and_keeps_the_last_runs(browser: Client) -> None:
    for day in range(4):
        recorded(
            "p",
            "s",
            T0 + dt.timedelta(days=day),
            [100.0 * (day + 1)],
            branch="main" if day % 2 else "dev",
        )
    page = browser.get("/runs/scenario/", {"pod": "p", "scenario": "s", "branch": "main"})
    assert [r.energy_j for r in page.context["runs"]] == [200.0, 400.0]
    page = browser.get("/runs/scenario/", {"pod": "p", "scenario": "s", "last": "2"})
    assert [r.energy_j for r in page.context["runs"]] == [300.0, 400.0]


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({"pod": "p"}, 400, "The scenario is missing"),
        ({"pod": "p", "scenario": "s", "last": "0"}, 400, "Last must be a whole number"),
        ({"pod": "p", "scenario": "s", "since": "soon"}, 400, "is not a date"),
        ({"pod": "p\x00", "scenario": "s"}, 400, "The pod holds a control character"),
        ({"pod": "nowhere", "scenario": "s"}, 404, "no run of this scenario on this pod"),
    ],
)
def test_the_scenario_page_explains_what_it_cannot_show(
    browser: Client, query: dict[str, str], status: int, message: str
) -> None:
    recorded("p", "s", T0, [100.0])
    page = browser.get("/runs/scenario/", query)
    assert page.status_code == status
    assert message in html.unescape(page.content.decode())


def test_a_running_run_page_reloads_itself_and_an_ended_one_does_not(
    browser: Client, settings
) -> None:
    final = recorded("p", "s", T0, [100.0])
    running = Run.objects.create(pod=final.pod, scenario="s", started_at=T0 + dt.timedelta(hours=1))
    page = browser.get(f"/runs/{running.pk}/")  # InfluxDB unreachable: a 503 page, still reloading
    assert '<meta http-equiv="refresh" content="' in page.content.decode()
    page = browser.get(f"/runs/{final.pk}/")
    assert page.status_code == 200  # its report is stored; only the power chart needs InfluxDB
    assert 'http-equiv="refresh"' not in page.content.decode()


@pytest.mark.parametrize("path", ["/runs/", "/runs/scenario/?pod=p&scenario=s"])
def test_the_pages_are_for_logged_in_users_only(db: None, path: str) -> None:
    recorded("p", "s", T0, [100.0])
    page = Client().get(path)
    assert page.status_code == 302
    assert page["Location"].startswith("/admin/login/") or "login" in page["Location"]
