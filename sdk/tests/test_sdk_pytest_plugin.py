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
