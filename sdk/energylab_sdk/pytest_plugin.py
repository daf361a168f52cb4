"""pytest plugin: ``pytest --energylab-scenario NAME`` records the session as one run.

Each test is a step named by its node id. Off unless ``--energylab-scenario`` is given; the
API being down never fails or slows a test run (events are queued and sent in the background).
Under pytest-xdist, the controller records the run and each worker sets the steps. With
``--energylab-report``, the run's energy report (per test, per server) ends the terminal summary.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from . import _api, _client, _provenance, _reports, report_format

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


def pytest_configure(config: pytest.Config) -> None:
    scenario = config.getoption("energylab_scenario", None)
    if scenario:
        recorder = SessionRecorder(
            scenario,
            config.getoption("energylab_pod", None),
            config.getoption("energylab_url", None),
            is_worker=hasattr(config, "workerinput"),
            report=config.getoption("energylab_report", False),
            labels=config.getoption("energylab_label", None),
        )
        config.pluginmanager.register(recorder, "energylab-recorder")


class SessionRecorder:
    def __init__(
        self,
        scenario: str,
        pod: str | None,
        url: str | None,
        is_worker: bool,
        report: bool = False,
        labels: list[str] | None = None,
    ) -> None:
        self.scenario = scenario
        self.pod = pod
        self.is_worker = is_worker
        self.report = report
        options: dict[str, Any] = {}
        if url:
            options["url"] = url
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

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        # After pytest_sessionfinish: the recording has ended and its events are flushed.
        if self.is_worker or not self.report:
            return
        terminalreporter.section("energylab")
        try:
            report = _reports.of_recording(
                _client.current(),
                wait=REPORT_WAIT,
                on_wait=lambda r: terminalreporter.write_line(
                    f"waiting up to {REPORT_WAIT:g} s for the run's last samples"
                ),
            )
        except _reports.ReportError as exc:
            terminalreporter.write_line(f"no report: {exc}")
            return
        terminalreporter.write(report_format.render([report], None, "table", one_run=True))
