"""Energy reports read from the native API, for ``energylab report`` on a CI host.

Unlike events, this runs on the caller's thread and waits: the caller asked for the figures.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from . import _client
from ._config import LEGACY, Config
from ._transport import TRANSPORT_ERRORS, HttpSession

# A report reads every sample of the run from InfluxDB: give it longer than an event.
DEFAULT_TIMEOUT = 30.0
# Between two asks while the server says the figures are not final yet.
MIN_PAUSE, MAX_PAUSE = 0.5, 5.0


class ReportError(Exception):
    """The report cannot be had; the message says why, for people."""


def reports_url(config: Config) -> str:
    """The API URL reports are read from.

    :raises ReportError: no URL, or an old recorder's (its API had no reports).
    """
    if config.base_url is None:
        raise ReportError("no API URL configured (--url or ENERGYLAB_API_URL)")
    if config.protocol == LEGACY:
        raise ReportError(
            f"{config.base_url} is an old energy recorder's API (/resources), which has no "
            "reports: give the EnergyLab server's root URL"
        )
    return config.base_url


class ReportClient:
    def __init__(self, config: Config) -> None:
        self.url = reports_url(config)
        self._session = HttpSession(config)

    def close(self) -> None:
        self._session.close()

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        query = "?" + urlencode(params) if params else ""
        try:
            answer = self._session.request("GET", path + query)
        except TRANSPORT_ERRORS as exc:
            raise ReportError(f"cannot reach {self.url}: {exc or type(exc).__name__}") from None
        data = answer.json()
        if answer.status == 200 and data is not None:
            return data
        detail = data.get("detail") if isinstance(data, dict) else None
        if answer.status in (401, 403):
            raise ReportError(
                f"{self.url} refused the credentials (HTTP {answer.status}): reports need a token "
                "(ENERGYLAB_API_TOKEN) or a user" + (f": {detail}" if detail else "")
            )
        raise ReportError(f"HTTP {answer.status} from {self.url}{path}: {detail or data!r}")

    def report(self, run_id: int) -> dict[str, Any]:
        data = self._get(f"/runs/{run_id}/energy/")
        if not (isinstance(data, dict) and isinstance(data.get("run"), dict)):
            raise ReportError(f"{self.url} answered something that is not a run's report")
        return data

    def last_runs(self, pod: str, scenario: str, last: int) -> list[int]:
        """Ids of the last ``last`` runs of the scenario on the pod, oldest first."""
        page = self._get("/runs/", {"pod": pod, "scenario": scenario, "limit": last})
        rows = page.get("results") if isinstance(page, dict) else None
        if not isinstance(rows, list) or not all(
            isinstance(row, dict) and isinstance(row.get("id"), int) for row in rows
        ):
            raise ReportError(f"{self.url} answered something that is not a list of runs")
        ids = [row["id"] for row in rows]
        if not ids:
            raise ReportError(f"no run of scenario {scenario!r} on pod {pod!r}")
        return list(reversed(ids))

    def comparison(self, pod: str, scenario: str, last: int) -> dict[str, Any]:
        data: dict[str, Any] = self._get(
            "/energy/comparison/", {"pod": pod, "scenario": scenario, "last": last}
        )
        return data

    def change(
        self, pod: str, scenario: str, a: str, b: str, threshold_pct: float
    ) -> dict[str, Any]:
        """Set ``b`` of the scenario's runs against set ``a``, per step (the server's
        ``/energy/change/``: Welch's t-test, regressions)."""
        data: dict[str, Any] = self._get(
            "/energy/change/",
            {"pod": pod, "scenario": scenario, "a": a, "b": b, "threshold_pct": threshold_pct},
        )
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            raise ReportError(f"{self.url} answered something that is not a comparison")
        return data

    def final_report(
        self,
        run_id: int,
        wait: float,
        on_wait: Callable[[dict[str, Any]], None],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> dict[str, Any]:
        """The run's report, asked again while the server says its figures may still change
        (the run's last samples on their way to InfluxDB), for at most ``wait`` seconds."""
        deadline = clock() + wait
        report = self.report(run_id)
        told = False
        while report.get("final") is False and not report["run"].get("running"):
            left = deadline - clock()
            if left <= 0:
                break
            if not told:
                on_wait(report)
                told = True
            sleep(min(left, _pause(report)))
            report = self.report(run_id)
        return report


def fetch(
    config: Config,
    *,
    run_id: int | None = None,
    scenario: str | None = None,
    last: int = 1,
    wait: float = 0.0,
    on_wait: Callable[[dict[str, Any]], None] = lambda report: None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The reports of run ``run_id``, or of the last ``last`` runs of ``scenario`` on the
    configured pod (oldest first) with their comparison when there are several.

    :raises ReportError: they cannot be had; the message says why.
    """
    client = ReportClient(config)
    try:
        if run_id is not None:
            ids = [run_id]
        elif scenario is not None and config.pod:
            ids = client.last_runs(config.pod, scenario, last)
        else:
            raise ReportError("a run's id, or a scenario and a pod, are needed")
        reports = [client.final_report(one, wait, on_wait) for one in ids]
        comparison = (
            client.comparison(config.pod or "", scenario or "", last) if len(ids) > 1 else None
        )
    finally:
        client.close()
    return reports, comparison


def reference_set(compare_to: str) -> str:
    """``--compare-to``'s set: ``last:N`` and ``runs:...`` as given, else a branch's name."""
    if compare_to.startswith(("last:", "runs:", "branch:")):
        return compare_to
    return f"branch:{compare_to}"


def change(
    config: Config, reports: list[dict[str, Any]], compare_to: str, threshold_pct: float
) -> dict[str, Any]:
    """The reported runs (set B) against ``compare_to`` (set A), per step.

    :raises ReportError: it cannot be had; the message says why.
    """
    run = reports[-1]["run"]
    ids = ",".join(str(report["run"]["id"]) for report in reports)
    client = ReportClient(config)
    try:
        return client.change(
            run["pod"], run["scenario"], reference_set(compare_to), f"runs:{ids}", threshold_pct
        )
    finally:
        client.close()


def of_recording(
    client: _client.Client,
    *,
    wait: float,
    on_wait: Callable[[dict[str, Any]], None] = lambda report: None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """The report of the run this process's last recording on its pod started (``energylab
    record --report``, ``pytest --energylab-report``), once its events are flushed.

    :raises ReportError: there is none to have; the message says why.
    """
    config = client.config
    reports_url(config)  # before the run id: "no URL" says more than "not recorded"
    run_id = client.started_runs.get(config.pod or "")
    if run_id is None:
        why = client.last_error or "its start was not acknowledged"
        raise ReportError(f"the run was not recorded ({why})")
    config = dataclasses.replace(config, timeout=timeout or DEFAULT_TIMEOUT)
    reports, _ = fetch(config, run_id=run_id, wait=wait, on_wait=on_wait)
    return reports[0]


def _pause(report: dict[str, Any]) -> float:
    """Until the server's estimate, within [MIN_PAUSE, MAX_PAUSE]."""
    final_after = report.get("final_after")
    pause = MAX_PAUSE
    if isinstance(final_after, str):
        try:
            moment = datetime.fromisoformat(final_after.replace("Z", "+00:00"))
            pause = moment.timestamp() - time.time()
        except ValueError:
            pass
    return max(MIN_PAUSE, min(MAX_PAUSE, pause))
