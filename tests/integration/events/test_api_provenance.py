"""Run provenance over the API: given with the start event, shown in runs, filtered on."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from energylab.api.testing import *  # noqa: F403 - fixtures
from energylab.api.testing import ago
from energylab.timestamps import rfc3339
from events import provenance

pytestmark = pytest.mark.django_db

SHA = "3f786850e387550fdab836ed7e6dc881de23001b"
GITHUB: dict[str, Any] = {
    "commit": SHA,
    "branch": "feature/faster boot",
    "ci_url": "https://github.com/acme/lab/actions/runs/42",
    "ci_system": "github",
    "build": "17",
    "labels": {"vnf": "vFW", "flavor": "m1.large", "odd, = ' \\ name": 'a:b c "'},
}


def start_event(client: APIClient, pod: str = "p", minutes_ago: int = 10, **extra: Any) -> Any:
    body = {"type": "start", "pod": pod, "scenario": "s", "at": rfc3339(ago(minutes_ago * 60))}
    return client.post("/api/v1/events/", {**body, **extra}, format="json")


def test_a_start_event_records_the_provenance_shown_by_the_run_and_the_list(
    client: APIClient,
) -> None:
    run_id = start_event(client, **GITHUB).json()["id"]
    shown = client.get(f"/api/v1/runs/{run_id}/").json()
    assert {k: shown[k] for k in GITHUB} == GITHUB
    listed = client.get("/api/v1/runs/").json()["results"][0]
    assert {k: listed[k] for k in GITHUB} == GITHUB


def test_a_run_started_without_provenance_shows_blanks_and_no_labels(client: APIClient) -> None:
    run_id = start_event(client).json()["id"]
    shown = client.get(f"/api/v1/runs/{run_id}/").json()
    assert {k: shown[k] for k in provenance.FIELDS} == {
        "commit": "",
        "branch": "",
        "ci_url": "",
        "ci_system": "",
        "build": "",
        "labels": {},
    }


def test_post_runs_takes_the_provenance_too(client: APIClient) -> None:
    answer = client.post(
        "/api/v1/runs/",
        {"pod": "p", "scenario": "s", "commit": SHA, "labels": {"k": "v"}},
        format="json",
    )
    assert answer.status_code == 201
    shown = client.get(f"/api/v1/runs/{answer.json()['id']}/").json()
    assert (shown["commit"], shown["labels"]) == (SHA, {"k": "v"})


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("commit", "x" * 65, "64"),
        ("branch", "ma\nin", "control characters"),
        ("ci_url", "javascript:alert(1)", "URL"),
        ("ci_url", "http://a b/", "URL"),
        ("ci_url", "not a url", "URL"),
        ("build", 17.5, "string"),
        ("labels", ["a", "b"], "dictionary"),
        ("labels", {"a": 1}, "string"),
        ("labels", {"a:b": "c"}, "':'"),
        ("labels", {'a"b': "c"}, "may not contain"),
        ("labels", {"": "c"}, "empty"),
        ("labels", {"a": "x" * 201}, "200"),
        ("labels", {"a\tb": "c"}, "control characters"),
        ("labels", {"a": "b\x00"}, "control characters"),
        ("labels", {f"k{i}": "v" for i in range(33)}, "at most 32"),
    ],
)
def test_bad_provenance_is_a_400_that_says_why(
    client: APIClient, field: str, value: Any, says: str
) -> None:
    answer = start_event(client, **{field: value})
    assert answer.status_code == 400, answer.content
    assert field in answer.json()
    assert says in str(answer.json()[field])


def test_the_list_filters_by_commit_branch_ci_system_and_labels(client: APIClient) -> None:
    start_event(client, "a", 50, **GITHUB)
    start_event(
        client,
        "b",
        40,
        commit="0" * 40,
        branch="main",
        ci_system="gitlab",
        labels={"vnf": "vRouter"},
    )
    start_event(client, "c", 30)

    def pods(**query: Any) -> list[str]:
        answer = client.get("/api/v1/runs/", query)
        assert answer.status_code == 200, answer.content
        return [r["pod"] for r in answer.json()["results"]]

    assert pods(commit=SHA) == ["a"]
    assert pods(commit=SHA[:7]) == ["a"]
    assert pods(commit=SHA[:2]) == []  # too short to be a prefix: exact only
    assert pods(branch="feature/faster boot") == ["a"]
    assert pods(branch="main") == ["b"]
    assert pods(ci_system="gitlab") == ["b"]
    assert pods(label="vnf:vFW") == ["a"]
    assert pods(label="vnf") == ["b", "a"]
    assert pods(label=["vnf", "flavor:m1.large"]) == ["a"]
    assert pods(label="odd, = ' \\ name:a:b c \"") == ["a"]
    assert pods(label="vnf:nothing") == []


@pytest.mark.parametrize("label", [":v", "a\nb:c"])
def test_a_bad_label_filter_is_a_400(client: APIClient, label: str) -> None:
    answer = client.get("/api/v1/runs/", {"label": label})
    assert answer.status_code == 400
    assert "label" in answer.json()


def test_legacy_start_events_keep_working_without_provenance(client: APIClient) -> None:
    answer = client.post(
        "/resources/recorders/environment/legacy-pod",
        {"scenario": "s", "step": "running"},
        format="json",
    )
    assert answer.status_code in (200, 201), answer.content
    run = client.get("/api/v1/runs/", {"pod": "legacy-pod"}).json()["results"][0]
    assert (run["commit"], run["labels"]) == ("", {})


def test_a_job_url_on_a_host_without_a_dot_is_accepted(client: APIClient) -> None:
    url = "http://jenkins_1:8080/job/nightly/7/"
    run_id = start_event(client, ci_url=url).json()["id"]
    assert client.get(f"/api/v1/runs/{run_id}/").json()["ci_url"] == url
