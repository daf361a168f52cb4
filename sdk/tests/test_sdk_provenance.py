"""Provenance: detected from each CI's variables, given explicitly, sent with each start."""

from __future__ import annotations

import logging
import os

import energylab_sdk
import pytest
from energylab_sdk import _provenance, report_format
from energylab_sdk._config import resolve
from energylab_sdk.cli import main
from energylab_sdk.testing import FakeEnergyLab

POD = "pod-1"

SHA = "3f786850e387550fdab836ed7e6dc881de23001b"

GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SHA": SHA,
    "GITHUB_REF_NAME": "main",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/lab",
    "GITHUB_RUN_ID": "9001",
    "GITHUB_RUN_NUMBER": "17",
}
GITLAB = {
    "GITLAB_CI": "true",
    "CI_COMMIT_SHA": SHA,
    "CI_COMMIT_REF_NAME": "feature/x",
    "CI_JOB_URL": "https://gitlab.example/acme/lab/-/jobs/55",
    "CI_PIPELINE_ID": "812",
}
JENKINS = {
    "JENKINS_URL": "http://jenkins:8080/",
    "GIT_COMMIT": SHA,
    "GIT_BRANCH": "origin/release-2",
    "BUILD_URL": "http://jenkins:8080/job/nightly/7/",
    "BUILD_NUMBER": "7",
}
ZUUL = {
    "ZUUL_COMMIT": SHA,
    "ZUUL_BRANCH": "master",
    "ZUUL_UUID": "b7e0f3c2a1d94e0c8f6a",
    "ZUUL_BUILD_URL": "https://zuul.example/t/lab/build/b7e0f3c2a1d94e0c8f6a",
}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            GITHUB,
            {
                "ci_system": "github",
                "commit": SHA,
                "branch": "main",
                "ci_url": "https://github.com/acme/lab/actions/runs/9001",
                "build": "17",
            },
        ),
        (
            GITLAB,
            {
                "ci_system": "gitlab",
                "commit": SHA,
                "branch": "feature/x",
                "ci_url": "https://gitlab.example/acme/lab/-/jobs/55",
                "build": "812",
            },
        ),
        (
            JENKINS,
            {
                "ci_system": "jenkins",
                "commit": SHA,
                "branch": "release-2",
                "ci_url": "http://jenkins:8080/job/nightly/7/",
                "build": "7",
            },
        ),
        (
            ZUUL,
            {
                "ci_system": "zuul",
                "commit": SHA,
                "branch": "master",
                "ci_url": "https://zuul.example/t/lab/build/b7e0f3c2a1d94e0c8f6a",
                "build": "b7e0f3c2a1d94e0c8f6a",
            },
        ),
        ({"PATH": "/usr/bin", "HOME": "/root"}, {}),
    ],
    ids=["github", "gitlab", "jenkins", "zuul", "no-ci"],
)
def test_each_ci_system_is_detected_from_its_variables(environ, expected):
    assert _provenance.detect(environ) == expected


def test_a_github_pull_request_is_on_its_head_branch_not_the_merge_ref():
    env = {**GITHUB, "GITHUB_REF_NAME": "42/merge", "GITHUB_HEAD_REF": "fix-boot"}
    assert _provenance.detect(env)["branch"] == "fix-boot"


def test_a_jenkins_multibranch_pipeline_names_its_branch():
    env = {**JENKINS, "BRANCH_NAME": "PR-12", "GIT_BRANCH": "origin/PR-12"}
    assert _provenance.detect(env)["branch"] == "PR-12"


def test_zuul_jobs_run_on_jenkins_are_zuul_s_with_the_jenkins_job_link():
    env = {**JENKINS, **ZUUL, "ZUUL_BUILD_URL": ""}
    found = _provenance.detect(env)
    assert (found["ci_system"], found["ci_url"]) == ("zuul", JENKINS["BUILD_URL"])


def test_explicit_values_win_over_energylab_variables_which_win_over_detection():
    env = {**GITHUB, "ENERGYLAB_BRANCH": "from-env", "ENERGYLAB_LABELS": "vnf=vFW, lab = north"}
    config = resolve(
        url="http://h:1", commit="abc1234", labels={"lab": "south"}, build=None, environ=env
    )
    assert config.provenance == {
        "commit": "abc1234",
        "branch": "from-env",
        "ci_url": "https://github.com/acme/lab/actions/runs/9001",
        "ci_system": "github",
        "labels": {"vnf": "vFW", "lab": "south"},
    }


def test_labels_none_sends_no_labels_at_all():
    config = resolve(url="http://h:1", labels=None, environ={"ENERGYLAB_LABELS": "a=b"})
    assert "labels" not in config.provenance


def test_values_the_server_would_refuse_are_dropped_with_a_warning(caplog):
    caplog.set_level(logging.WARNING, "energylab_sdk")
    labels = {"ok": "yes", "a:b": "x", 'a"b': "x", "": "x", "tab\there": "x", "long": "v" * 201}
    labels.update({f"k{i}": "v" for i in range(40)})
    config = resolve(
        url="http://h:1",
        commit="x" * 65,
        branch="ma\nin",
        ci_url="javascript:alert(1)",
        labels=labels,
        environ={},
    )
    assert set(config.provenance) == {"labels"}
    assert len(config.provenance["labels"]) == _provenance.LABELS_MAX
    assert config.provenance["labels"]["ok"] == "yes"
    assert "not sending commit" in caplog.text
    assert "not sending ci_url" in caplog.text


def test_labels_that_are_not_a_mapping_are_ignored_not_raised(caplog):
    config = resolve(url="http://h:1", labels=object(), environ={})
    assert "labels" not in config.provenance


def test_detection_reads_the_environment_once_per_process(monkeypatch):
    calls = []
    real = _provenance.detect
    monkeypatch.setattr(_provenance, "detect", lambda env: calls.append(1) or real(env))
    for name, value in GITHUB.items():
        monkeypatch.setenv(name, value)
    for _ in range(3):
        energylab_sdk.configure(url="http://127.0.0.1:9", pod=POD)
    monkeypatch.setenv("GITHUB_SHA", "changed")
    energylab_sdk.configure(url="http://127.0.0.1:9", pod=POD)
    assert len(calls) == 1
    assert energylab_sdk._client.current().config.provenance["commit"] == SHA


def test_a_start_carries_the_provenance_and_steps_and_stops_do_not(
    energylab_server: FakeEnergyLab, monkeypatch
):
    for name, value in GITHUB.items():
        monkeypatch.setenv(name, value)
    energylab_sdk.configure(url=energylab_server.root_url, pod=POD, labels={"vnf": "vFW"})
    with energylab_sdk.recording("smoke"), energylab_sdk.step("boot"):
        pass
    assert energylab_sdk.flush(5)
    bodies = [r.body for r in energylab_server.event_requests()]
    start, step, stop = bodies
    assert (start["commit"], start["branch"], start["build"]) == (SHA, "main", "17")
    assert start["ci_url"] == "https://github.com/acme/lab/actions/runs/9001"
    assert (start["ci_system"], start["labels"]) == ("github", {"vnf": "vFW"})
    assert not set(step) & set(_provenance.FIELDS)
    assert not set(stop) & set(_provenance.FIELDS)


def test_a_server_refusing_the_provenance_still_gets_the_run(
    energylab_server: FakeEnergyLab, caplog
):
    energylab_server.refuse_provenance = True
    energylab_sdk.configure(url=energylab_server.root_url, pod=POD, commit=SHA)
    with energylab_sdk.recording("smoke"):
        pass
    assert energylab_sdk.flush(5)
    assert [kind for kind, _, _ in energylab_server.changes()] == ["start", "stop"]
    assert "refused the run's provenance" in caplog.text


def test_the_legacy_protocol_sends_no_provenance(energylab_server: FakeEnergyLab):
    energylab_sdk.configure(url=energylab_server.legacy_url, pod=POD, commit=SHA)
    with energylab_sdk.recording("smoke"):
        pass
    assert energylab_sdk.flush(5)
    start = energylab_server.event_requests()[0].body
    assert "commit" not in start


def test_the_cli_sends_its_provenance_flags_over_the_detected_ones(
    energylab_server: FakeEnergyLab, monkeypatch
):
    for name, value in GITLAB.items():
        monkeypatch.setenv(name, value)
    code = main(
        [
            "start",
            "--scenario",
            "s",
            "--url",
            energylab_server.root_url,
            "--pod",
            POD,
            "--branch",
            "given",
            "--label",
            "vnf=vFW",
            "--label",
            "flavor=m1 = large",
            "--strict",
        ]
    )
    assert code == 0
    start = energylab_server.event_requests()[0].body
    assert (start["branch"], start["commit"], start["ci_system"]) == ("given", SHA, "gitlab")
    assert start["labels"] == {"vnf": "vFW", "flavor": "m1 = large"}


def test_a_cli_label_without_a_value_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["start", "--scenario", "s", "--label", "novalue"])
    assert exited.value.code == 2
    assert "NAME=VALUE" in capsys.readouterr().err


def test_the_pytest_plugin_records_the_detected_provenance_and_its_labels(
    pytester, energylab_server: FakeEnergyLab, monkeypatch
):
    for name, value in JENKINS.items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile("def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "-p",
        "no:django",
        "-p",
        "no:cacheprovider",
        "--energylab-scenario",
        "unit",
        "--energylab-pod",
        POD,
        "--energylab-url",
        energylab_server.root_url,
        "--energylab-label",
        "suite=unit",
    )
    assert result.ret == 0
    start = energylab_server.event_requests()[0].body
    assert (start["ci_system"], start["build"], start["labels"]) == (
        "jenkins",
        "7",
        {"suite": "unit"},
    )


def test_os_environ_is_not_changed_by_detection():
    before = dict(os.environ)
    _provenance.detected()
    assert dict(os.environ) == before


def test_the_report_names_the_run_s_provenance_when_it_has_one():
    run = {
        "commit": SHA,
        "branch": "main",
        "ci_system": "github",
        "build": "17",
        "ci_url": "https://github.com/acme/lab/actions/runs/9001",
        "labels": {"vnf": "vFW"},
    }
    assert report_format.provenance_line(run) == (
        "commit 3f786850e387 on main, github build 17, "
        "https://github.com/acme/lab/actions/runs/9001, labels vnf=vFW"
    )
    assert report_format.provenance_line({"commit": "", "labels": {}}) == ""
