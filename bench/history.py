"""Time the scenario page over stored reports: 100 runs of 10 steps on 20 servers (goal < 1 s).

    .venv/bin/python bench/history.py [--runs 100] [--steps 10] [--servers 20] [--pods 3]
                                      [--repeat 5] [--json OUT]

Set-up (not timed): ``--pods`` pods running one scenario; on the first, ``--runs`` ended runs
(on the others a tenth as many, for the comparison across pods), each with ``--steps`` steps
and a report of ``--servers`` servers stored through ``events.reports.stored.store`` (the
figures as the report computes them would be, made up: storing needs no InfluxDB, and the page
reads none). Timed, each ``--repeat`` times, median shown: the whole scenario page over HTTP as
Django's test client asks it (view, queries, template; logged in), goal < 1 s; its queries
alone (``history.runs_of`` and ``across_pods``); the run list's first page; and, for scale,
storing one report.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
from typing import Any

from _common import Results, base_parser, median, setup_django, timer

GOAL_S = 1.0
POD = "bench history pod"
SCENARIO = "bench history scenario"
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def figures(rng: random.Random, duration_s: float, watts: float, idle_w: float) -> dict[str, Any]:
    energy_j = watts * duration_s * rng.uniform(0.97, 1.03)
    return {
        "duration_s": duration_s,
        "energy_j": energy_j,
        "energy_j_low": energy_j * 0.95,
        "energy_j_high": energy_j * 1.05,
        "energy_wh": energy_j / 3600,
        "mean_w": energy_j / duration_s,
        "peak_w": watts * 1.1,
        "sample_count": int(duration_s),
        "coverage": 1.0,
        "largest_gap_s": 1.0,
        "method": "trapezoid",
        "energy_above_idle_j": energy_j - idle_w * duration_s,
        "co2e_g": None,
        "warnings": [],
    }


def report(rng: random.Random, run: Any, steps: int, servers: int) -> dict[str, Any]:
    """A report of the shape run_report gives (docs/reports.md), 30 s per step, 300 W a server."""
    names = [f"node-{k:02d}" for k in range(servers)]
    sections = []
    for index in range(steps):
        per_server = [
            {"server": name, **figures(rng, 30.0, 300.0 + 10 * index, 250.0)} for name in names
        ]
        summed = figures(rng, 30.0, servers * (300.0 + 10 * index), servers * 250.0)
        start = run.started_at + dt.timedelta(seconds=30 * index)
        sections.append(
            {
                "name": f"step {index}",
                "started_at": start.isoformat(),
                "ended_at": (start + dt.timedelta(seconds=30)).isoformat(),
                **summed,
                "servers": per_server,
            }
        )
    total_s = 30.0 * steps
    total = figures(rng, total_s, servers * 320.0, servers * 250.0)
    return {
        "run": {"id": run.pk, "pod": POD, "scenario": SCENARIO},
        "final": True,
        "final_after": None,
        "poll_interval_s": 1.0,
        "idle": {"watts": servers * 250.0, "source": "pod baseline"},
        "servers": names,
        "steps": sections,
        "total": {
            **total,
            "servers": [{"server": n, **figures(rng, total_s, 320.0, 250.0)} for n in names],
        },
        "warnings": [],
    }


def chart_of(page: str) -> dict[str, Any]:
    """The chart data the scenario page embeds (its json_script)."""
    start = page.index('<script id="scenario-data" type="application/json">')
    body = page[page.index(">", start) + 1 : page.index("</script>", start)]
    return json.loads(body)


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--servers", type=int, default=20)
    parser.add_argument("--pods", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    setup_django()

    from _common import drop_pod
    from django.contrib.auth import get_user_model
    from django.test import Client

    from collectors.models import Pod
    from events.models import Run, Step
    from events.reports import history, stored

    results = Results(
        "history: the scenario page over stored reports",
        params={k: getattr(args, k) for k in ("runs", "steps", "servers", "pods", "repeat")},
    )
    rng = random.Random(20)
    pods = [POD] + [f"{POD} {k}" for k in range(1, args.pods)]
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username="bench-history")
    try:
        store_times = []
        for p, pod_name in enumerate(pods):
            pod = Pod.objects.create(name=pod_name, poll_interval=1)
            count = args.runs if p == 0 else max(1, args.runs // 10)
            for k in range(count):
                start = EPOCH + dt.timedelta(hours=k)
                end = start + dt.timedelta(seconds=30 * args.steps)
                run = Run.objects.create(
                    pod=pod,
                    scenario=SCENARIO,
                    started_at=start,
                    ended_at=end,
                    commit=f"{rng.getrandbits(160):040x}",
                    branch="main",
                )
                Step.objects.bulk_create(
                    Step(
                        run=run,
                        name=f"step {i}",
                        started_at=start + dt.timedelta(seconds=30 * i),
                        ended_at=start + dt.timedelta(seconds=30 * (i + 1)),
                    )
                    for i in range(args.steps)
                )
                document = report(rng, run, args.steps, args.servers)
                with timer() as t_store:
                    stored.store(run, document, end)
                store_times.append(t_store())

        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        query = {"pod": POD, "scenario": SCENARIO, "last": str(args.runs)}
        page_times, query_times, list_times = [], [], []
        shown = 0  # runs the page drew
        for _ in range(args.repeat):
            with timer() as t_page:
                response = client.get("/runs/scenario/", query)
            page_times.append(t_page())
            if response.status_code != 200:
                print(f"the scenario page answered {response.status_code}", file=sys.stderr)
                return 1
            shown = len(chart_of(response.content.decode())["runs"])
            with timer() as t_query:
                runs = Run.objects.filter(scenario=SCENARIO)
                found = history.runs_of(runs.filter(pod__name=POD), args.runs)
                history.across_pods(runs, args.runs, history.step_names(found))
            query_times.append(t_query())
            with timer() as t_list:
                listed = client.get("/runs/", {"scenario": SCENARIO})
            list_times.append(t_list())
            assert listed.status_code == 200
        page = median(page_times)
        results.add(
            "scenario page",
            page,
            "s",
            goal="< 1 s",
            met=page < GOAL_S,
            note=f"median of {args.repeat}; {shown} runs x {args.steps} steps x "
            f"{args.servers} servers stored, {args.pods} pods compared",
        )
        results.add("scenario page best", min(page_times), "s")
        results.add("  its queries (history, across pods)", median(query_times), "s")
        results.add("run list, first page (50 runs)", median(list_times), "s")
        results.add(
            "store one report",
            median(store_times),
            "s",
            note=f"{(args.steps + 1) * (args.servers + 1)} figure rows and the JSON",
        )
    finally:
        for pod_name in pods:
            drop_pod(pod_name)
        user.delete()
    results.print_table()
    results.write_json(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
