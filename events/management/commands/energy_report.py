"""``python manage.py energy_report (--run ID | --pod P --scenario S [--last N])
[--format table|json|csv]``."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from energylab_sdk.report_format import as_csv, as_table, comparison_table

from events.models import Run
from events.reports.report import ReportUnavailable, compare_runs, run_report


class Command(BaseCommand):
    help = (
        "Energy of a run per step and server (J with its low-high range, Wh, mean/peak W, "
        "coverage), or of the last N runs of a scenario on a pod, with their comparison."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--run", type=int, help="the run's id")
        which.add_argument("--pod", help="the pod's name (with --scenario)")
        parser.add_argument("--scenario", help="the scenario's name (with --pod)")
        parser.add_argument("--last", type=int, default=1, help="how many recent runs (default 1)")
        parser.add_argument("--format", choices=["table", "json", "csv"], default="table")

    def handle(self, *args: Any, **options: Any) -> None:
        runs = self._runs(options)
        try:
            reports = [run_report(run) for run in runs]
            comparison = compare_runs(runs) if len(runs) > 1 else None
        except ReportUnavailable as exc:
            raise CommandError(str(exc)) from None
        fmt = options["format"]
        if fmt == "json":
            payload: Any = (
                reports[0] if options["run"] else {"runs": reports, "comparison": comparison}
            )
            self.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2))
        elif fmt == "csv":
            self.stdout.write(as_csv(reports), ending="")
        else:
            self.stdout.write("\n\n".join(as_table(r) for r in reports))
            if comparison:
                self.stdout.write("\n" + comparison_table(comparison))

    def _runs(self, options: dict[str, Any]) -> list[Run]:
        if options["run"] is not None:
            run = Run.objects.select_related("pod").filter(pk=options["run"]).first()
            if run is None:
                raise CommandError(f"no run with id {options['run']}")
            return [run]
        if not options["scenario"]:
            raise CommandError("--pod needs --scenario")
        if options["last"] < 1:
            raise CommandError("--last must be at least 1")
        runs = list(
            Run.objects.select_related("pod")
            .filter(pod__name=options["pod"], scenario=options["scenario"])
            .order_by("-started_at")[: options["last"]]
        )
        if not runs:
            raise CommandError(
                f"no run of scenario {options['scenario']!r} on pod {options['pod']!r}"
            )
        return list(reversed(runs))
