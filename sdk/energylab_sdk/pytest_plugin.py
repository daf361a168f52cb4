"""pytest plugin: ``pytest --energylab-scenario NAME`` records the session as one run.

Each test is a step named by its node id. Off unless ``--energylab-scenario`` is given; the
API being down never fails or slows a test run (events are queued and sent in the background).
Under pytest-xdist, the controller records the run and each worker sets the steps. With
``--energylab-report``, the run's energy report (per test, per server) ends the terminal summary.
The CI gate takes ``energylab report``'s options (``--energylab-compare-to``,
``--energylab-fail-on-regression``, ``--energylab-threshold-pct``, ``--energylab-budget-j``,
``--energylab-budgets``, ``--energylab-junit FILE``): a regression exits 4, a budget exceeded 5
(only when the tests themselves passed), and the markdown summary goes to
``$GITHUB_STEP_SUMMARY`` when set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from typing import Any

import pytest

from . import _api, _client, _gate, _provenance, _reports, ci_format, gating, report_format

REPORT_WAIT = 60.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("energylab", "EnergyLab power recording")
    group.addoption(
        "--energylab-scenario",
        metavar="NAME",
        default=None,
        help="record this test session as scenario NAME, each test as a step",
    )
    group.addoption(
        "--energylab-pod",
        metavar="POD",
        default=None,
        help="pod to record on (default ENERGYLAB_POD or NODE_NAME)",
    )
    group.addoption(
        "--energylab-report",
        action="store_true",
        default=False,
        help="at the end, print the run's energy per test (waits up to 60 s for its last samples)",
    )
    group.addoption(
        "--energylab-label",
        action="append",
        metavar="NAME=VALUE",
        default=None,
        help="a label of the run (repeat for more); commit, branch and CI job are detected "
        "from the CI's variables (or ENERGYLAB_COMMIT, ENERGYLAB_BRANCH, ...)",
    )
    group.addoption(
        "--energylab-url",
        metavar="URL",
        default=None,
        help="EnergyLab API URL (default ENERGYLAB_API_URL)",
    )

    group.addoption(
        "--energylab-compare-to",
        metavar="BRANCH|last:N",
        default=None,
        help="compare the run's tests with a branch's last runs or the N runs before it",
    )
    group.addoption(
        "--energylab-fail-on-regression",
        action="store_true",
        default=False,
        help=f"exit {_gate.EXIT_REGRESSION} when a test costs significantly and more than "
        "--energylab-threshold-pct more energy than --energylab-compare-to's runs",
    )
    group.addoption(
        "--energylab-threshold-pct",
        type=float,
        metavar="P",
        default=_gate.DEFAULT_THRESHOLD_PCT,
        help=f"smallest increase that is a regression (default {_gate.DEFAULT_THRESHOLD_PCT:g})",
    )
    group.addoption(
        "--energylab-budget-j",
        type=float,
        metavar="J",
        default=None,
        help=f"exit {_gate.EXIT_OVER_BUDGET} when the run's energy is above J",
    )
    group.addoption(
        "--energylab-budgets",
        metavar="FILE",
        default=None,
        help="per-scenario and per-test budgets in J (JSON or YAML; steps are test node ids)",
    )
    group.addoption(
        "--energylab-junit",
        metavar="FILE",
        default=None,
        help="write the energy verdicts as JUnit XML (one test case per test)",
    )


def pytest_configure(config: pytest.Config) -> None:
    scenario = config.getoption("energylab_scenario", None)
    if scenario:
        gate = _gate.GateOptions(
            config.getoption("energylab_compare_to", None),
            config.getoption("energylab_fail_on_regression", False),
            config.getoption("energylab_threshold_pct", _gate.DEFAULT_THRESHOLD_PCT),
            config.getoption("energylab_budget_j", None),
            config.getoption("energylab_budgets", None),
        )
        _check_gate(gate, scenario)
        recorder = SessionRecorder(
            scenario,
            config.getoption("energylab_pod", None),
            config.getoption("energylab_url", None),
            is_worker=hasattr(config, "workerinput"),
            report=config.getoption("energylab_report", False),
            labels=config.getoption("energylab_label", None),
            gate=gate,
            junit=config.getoption("energylab_junit", None),
        )
        config.pluginmanager.register(recorder, "energylab-recorder")


def _check_gate(gate: _gate.GateOptions, scenario: str) -> None:
    """Usage errors before the tests run, not a gate that silently passes after them.

    :raises pytest.UsageError: the options contradict, or the budgets file cannot be used.
    """
    if gate.fail_on_regression and not gate.compare_to:
        raise pytest.UsageError("--energylab-fail-on-regression needs --energylab-compare-to")
    if gate.budget_j is not None and gate.budgets_file:
        raise pytest.UsageError("--energylab-budget-j and --energylab-budgets: give one")
    if gate.budget_j is not None and gate.budget_j <= 0:
        raise pytest.UsageError("--energylab-budget-j must be positive")
    if gate.budgets_file:
        try:
            gating.load_budgets(gate.budgets_file, scenario)
        except gating.BudgetError as exc:
            raise pytest.UsageError(str(exc)) from None


class SessionRecorder:
    def __init__(
        self,
        scenario: str,
        pod: str | None,
        url: str | None,
        is_worker: bool,
        report: bool = False,
        labels: list[str] | None = None,
        gate: _gate.GateOptions | None = None,
        junit: str | None = None,
    ) -> None:
        self.scenario = scenario
        self.gate = gate or _gate.GateOptions()
        self.junit = junit
        self.fetched: dict[str, Any] | None = None
        self.result: _gate.GateResult | None = None
        self.lines: list[str] = []
        self.pod = pod
        self.is_worker = is_worker
        self.report = report
        options: dict[str, Any] = {}
        if url:
            options["url"] = url
        if pod:
            # Also the report's pod: of_recording finds the run by the configured pod.
            options["pod"] = pod
        if labels:
            options["labels"] = _provenance.parse_labels(labels)
        if options:
            _api.configure(**options)
        self.recording = _api.recording(scenario, pod=pod)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if not self.is_worker:
            self.recording.__enter__()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: Any
    ) -> Generator[None, Any, None]:
        _api.Energy.set_step(item.nodeid, pod=self.pod if self.is_worker else None)
        yield

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.is_worker:
            self.recording.__exit__(None, None, None)
        _api.flush()
        if self.is_worker or not (self.report or self.gate.active or self.junit):
            return
        # Here, not in the summary: a failed gate changes the session's exit status.
        try:
            self.fetched = _reports.of_recording(
                _client.current(),
                wait=REPORT_WAIT,
                on_wait=lambda r: self.lines.append(
                    f"waited up to {REPORT_WAIT:g} s for the run's last samples"
                ),
            )
            if self.gate.active or self.junit:
                config = _client.current().config
                config = dataclasses.replace(config, timeout=_reports.DEFAULT_TIMEOUT)
                self.result = _gate.check(config, [self.fetched], self.gate)
        except (_reports.ReportError, gating.BudgetError) as exc:
            self.lines.append(f"no report: {exc}")
            return
        if self.result is None:
            return
        if self.junit:
            with open(self.junit, "w", encoding="utf-8") as out:
                out.write(ci_format.junit([self.fetched], self.result.verdicts))
        if self.gate.active:
            self.lines.append(_gate.summarise([self.fetched], self.result))
        self.lines += _gate.failures(self.result)
        if self.result.exit_code and session.exitstatus == 0:
            session.exitstatus = self.result.exit_code

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        # After pytest_sessionfinish: the recording has ended and its report is fetched.
        if self.is_worker or not (self.lines or self.fetched):
            return
        terminalreporter.section("energylab")
        for line in self.lines:
            terminalreporter.write_line(line)
        if self.report and self.fetched:
            terminalreporter.write(
                report_format.render([self.fetched], None, "table", one_run=True)
            )
