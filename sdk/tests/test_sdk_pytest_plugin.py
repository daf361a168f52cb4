"""``pytest --energylab-scenario`` records the session as a run, each test as a step."""

from __future__ import annotations

import pytest
from energylab_sdk.testing import dead_url

TESTS = """
def test_one():
    pass

def test_two():
    assert False
"""


@pytest.fixture
def suite(pytester, monkeypatch):
    monkeypatch.setenv("ENERGYLAB_FLUSH_TIMEOUT", "1")
    pytester.makepyfile(test_suite=TESTS)
    return pytester


def run(pytester, *args):
    return pytester.runpytest_subprocess("-p", "no:django", "-p", "no:cacheprovider", *args)


def test_the_session_is_a_run_and_each_test_a_step(suite, energylab_server, monkeypatch):
    monkeypatch.setenv("ENERGYLAB_API_URL", energylab_server.root_url)
    result = run(suite, "--energylab-scenario", "unit tests", "--energylab-pod", "pod-9")
    result.assert_outcomes(passed=1, failed=1)
    assert energylab_server.changes() == [
        ("start", "unit tests", None),
        ("step", "unit tests", "test_suite.py::test_one"),
        ("step", "unit tests", "test_suite.py::test_two"),
        ("stop", "unit tests", "test_suite.py::test_two"),
    ]
    assert {e["pod"] for e in energylab_server.events()} == {"pod-9"}


def test_the_plugin_is_off_unless_asked(suite, energylab_server, monkeypatch):
    monkeypatch.setenv("ENERGYLAB_API_URL", energylab_server.root_url)
    monkeypatch.setenv("ENERGYLAB_POD", "pod-9")
    result = run(suite)
    result.assert_outcomes(passed=1, failed=1)
    assert energylab_server.requests == []


def test_an_unreachable_api_does_not_fail_the_run(suite, monkeypatch):
    monkeypatch.setenv("ENERGYLAB_POD", "pod-9")
    result = run(suite, "--energylab-scenario", "s", "--energylab-url", dead_url(), "-k", "one")
    result.assert_outcomes(passed=1, deselected=1)
    assert result.ret == 0


def test_the_options_are_documented(pytester):
    result = pytester.runpytest_subprocess("-p", "no:django", "--help")
    result.stdout.fnmatch_lines(["*--energylab-scenario=NAME*", "*--energylab-pod=POD*"])


def energy_report(run_id: int, joules: float) -> dict:
    steps = [
        {"name": f"test_suite.py::test_{n}", "energy_j": joules, "duration_s": 1.0}
        for n in ("one", "two")
    ]
    return {
        "run": {"id": run_id, "pod": "pod-9", "scenario": "unit tests", "running": False},
        "final": True,
        "steps": steps,
        "total": {"energy_j": 2 * joules, "duration_s": 2.0, "sample_count": 4},
        "warnings": [],
    }


def test_a_session_over_its_budget_exits_5_with_junit_and_a_summary(
    pytester, energylab_server, monkeypatch
):
    pytester.makepyfile(test_suite="def test_one():\n    pass\n\ndef test_two():\n    pass\n")
    monkeypatch.setenv("ENERGYLAB_FLUSH_TIMEOUT", "1")
    monkeypatch.setenv("ENERGYLAB_API_URL", energylab_server.root_url)
    summary = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    energylab_server.reports[1] = energy_report(1, 60.0)
    result = run(
        pytester,
        *("--energylab-scenario", "unit tests", "--energylab-pod", "pod-9"),
        *("--energylab-budget-j", "100", "--energylab-junit", "energy.xml"),
    )
    result.assert_outcomes(passed=2)
    assert result.ret == 5
    result.stdout.fnmatch_lines(["*TOTAL: over budget: 120.0 J > 100 J per run*"])
    assert '<failure message="over budget' in (pytester.path / "energy.xml").read_text()
    assert "| **TOTAL** | 120.0 | 100 |" in summary.read_text()


def test_a_budgets_file_that_cannot_be_used_stops_pytest_before_the_tests(pytester):
    pytester.makepyfile(test_suite="def test_one():\n    pass\n")
    (pytester.path / "budgets.yml").write_text("s: {total: lots}\n")
    result = run(pytester, "--energylab-scenario", "s", "--energylab-budgets", "budgets.yml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*a budget is a positive number of J, not 'lots'*"])
