"""/api/v1/runs/: list, read, start, step and stop runs by id."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from energylab.api.testing import *  # noqa: F403 - fixtures
from energylab.api.testing import ago
from energylab.timestamps import rfc3339, to_ns
from events.models import Run

pytestmark = pytest.mark.django_db


def start(client: APIClient, pod: str = "p", scenario: str = "s", **extra: Any) -> Any:
    return client.post("/api/v1/runs/", {"pod": pod, "scenario": scenario, **extra}, format="json")


def test_post_starts_a_run(client: APIClient) -> None:
    answer = start(client, step="one", at=rfc3339(ago(5)))
    assert answer.status_code == 201
    assert answer.json()["step"] == "one"
    assert answer.json()["ended_previous"] is None


def test_steps_and_stop_by_id(client: APIClient) -> None:
    run_id = start(client, at=rfc3339(ago(10))).json()["id"]
    stepped = client.post(f"/api/v1/runs/{run_id}/steps/", {"name": "two"}, format="json")
    assert (stepped.status_code, stepped.json()["step"]) == (200, "two")
    steps = client.get(f"/api/v1/runs/{run_id}/steps/").json()
    assert [s["name"] for s in steps] == ["two"]
    stopped = client.post(f"/api/v1/runs/{run_id}/stop/", {}, format="json")
    assert stopped.status_code == 200
    assert stopped.json()["ended_at"] is not None


def test_an_ended_run_refuses_steps_and_stops_with_409(client: APIClient) -> None:
    run_id = start(client, at=rfc3339(ago(10))).json()["id"]
    client.post(f"/api/v1/runs/{run_id}/stop/", {}, format="json")
    for path, body in [("steps/", {"name": "x"}), ("stop/", {})]:
        answer = client.post(f"/api/v1/runs/{run_id}/{path}", body, format="json")
        assert answer.status_code == 409
        assert "ended" in answer.json()["detail"]


def test_a_step_before_the_run_is_409(client: APIClient) -> None:
    run_id = start(client, at=rfc3339(ago(10))).json()["id"]
    answer = client.post(
        f"/api/v1/runs/{run_id}/steps/", {"name": "x", "at": rfc3339(ago(20))}, format="json"
    )
    assert answer.status_code == 409


@pytest.mark.parametrize("run_id", ["999", "abc", "99999999999999999999999"])
@pytest.mark.parametrize(
    ("method", "suffix"), [("get", ""), ("get", "steps/"), ("post", "steps/"), ("post", "stop/")]
)
def test_unknown_runs_are_404(client: APIClient, run_id: str, method: str, suffix: str) -> None:
    answer = getattr(client, method)(
        f"/api/v1/runs/{run_id}/{suffix}", {"name": "x"}, format="json"
    )
    assert answer.status_code == 404
    assert "detail" in answer.json()


def test_the_list_filters_and_paginates(client: APIClient) -> None:
    start(client, "pod a", "one", at=rfc3339(ago(50)))
    start(client, "pod a", "two", at=rfc3339(ago(40)))
    start(client, "pod b", "one", at=rfc3339(ago(30)))

    def names(**query: Any) -> list[str]:
        answer = client.get("/api/v1/runs/", query)
        assert answer.status_code == 200
        return [f"{r['pod']}/{r['scenario']}" for r in answer.json()["results"]]

    assert names() == ["pod b/one", "pod a/two", "pod a/one"]
    assert names(pod="pod a") == ["pod a/two", "pod a/one"]
    assert names(scenario="one") == ["pod b/one", "pod a/one"]
    assert names(running="true") == ["pod b/one", "pod a/two"]
    assert names(running="false") == ["pod a/one"]
    assert names(started_after=rfc3339(ago(45))) == ["pod b/one", "pod a/two"]
    assert names(started_before=rfc3339(ago(45))) == ["pod a/one"]
    page = client.get("/api/v1/runs/", {"limit": 1, "offset": 1}).json()
    assert (page["count"], len(page["results"])) == (3, 1)


def test_a_running_filter_that_is_not_true_or_false_is_400_naming_it(client: APIClient) -> None:
    answer = client.get("/api/v1/runs/", {"running": "maybe"})
    assert answer.status_code == 400
    assert list(answer.json()) == ["running"]


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_start_and_stop_times_beyond_the_years_a_datetime_holds_are_400_naming_at(
    client: APIClient, at: str
) -> None:
    assert start(client, at=at).json() == {
        "at": ["`at` is out of range (before year 1 or after 9999 in UTC)"]
    }
    run_id = start(client).json()["id"]
    answer = client.post(f"/api/v1/runs/{run_id}/stop/", {"at": at}, format="json")
    assert answer.status_code == 400
    assert list(answer.json()) == ["at"]
    assert Run.objects.get().ended_at is None


def test_a_bad_filter_is_400(client: APIClient) -> None:
    assert client.get("/api/v1/runs/", {"started_after": "last week"}).status_code == 400


def test_the_list_does_not_query_per_run(
    client: APIClient, django_assert_max_num_queries: Any
) -> None:
    for i in range(5):
        start(client, f"pod {i}", step="x")
    with django_assert_max_num_queries(6):
        assert len(client.get("/api/v1/runs/").json()["results"]) == 5
    assert Run.objects.count() == 5


def test_filters_keep_spaces_in_names(client: APIClient) -> None:
    start(client, " pod ", " s ")
    start(client, "pod", "s")
    runs = client.get("/api/v1/runs/", {"pod": " pod ", "scenario": " s "}).json()["results"]
    assert [(r["pod"], r["scenario"]) for r in runs] == [(" pod ", " s ")]


@pytest.mark.parametrize("offset", ["-20:31", "+19:14"])
def test_filter_times_with_offsets_postgresql_refuses_are_compared_in_utc(
    client: APIClient, offset: str
) -> None:
    answer = client.get("/api/v1/runs/", {"started_after": f"2200-01-13T00:12:03{offset}"})
    assert answer.status_code == 200


def test_a_filter_time_that_cannot_be_utc_is_400(client: APIClient) -> None:
    answer = client.get("/api/v1/runs/", {"started_before": "0001-01-01T00:00:00+05:00"})
    assert answer.status_code == 400
    assert "started_before" in answer.json()


def test_filter_times_take_nanoseconds_as_events_do(client: APIClient) -> None:
    at = ago(60)
    start(client, at=rfc3339(at))
    ns = to_ns(at)
    for param, value, found in [
        ("started_after", ns, 1),
        ("started_after", ns + 1000, 0),
        ("started_before", ns + 1000, 1),
        ("started_before", ns, 0),
    ]:
        answer = client.get("/api/v1/runs/", {param: str(value)})
        assert (param, answer.json()["count"]) == (param, found)


@pytest.mark.parametrize("param", ["started_after", "started_before"])
def test_a_naive_filter_time_is_400_naming_the_filter(client: APIClient, param: str) -> None:
    answer = client.get("/api/v1/runs/", {param: "2026-11-25T09:00:00"})
    assert answer.status_code == 400
    assert answer.json() == {
        param: [f"`{param}` needs a UTC offset (Z or +hh:mm): a time without one is ambiguous"]
    }


@pytest.mark.parametrize("path", ["/api/v1/runs/", "/api/v1/pods/"])
@pytest.mark.parametrize("param", ["limit", "offset"])
def test_a_page_bound_beyond_what_the_database_holds_is_400_naming_it(
    client: APIClient, param: str, path: str
) -> None:
    start(client)
    answer = client.get(path, {param: "99999999999999999999"})
    assert answer.status_code == 400
    assert list(answer.json()) == [param]
    assert client.get(path, {param: str(2**63 - 1)}).status_code == 200


@pytest.mark.parametrize("method", ["get", "post", "delete"])
@pytest.mark.parametrize("path", ["/api/v1/runs/0.5/", "/api/v1/nothing/", "/resources/nothing"])
def test_unknown_api_paths_are_json_404(client: APIClient, method: str, path: str) -> None:
    answer = getattr(client, method)(path)
    assert answer.status_code == 404
    assert "no API path" in answer.json()["detail"]


def test_a_missing_trailing_slash_is_pointed_out(client: APIClient) -> None:
    assert "did you mean /api/v1/runs/ ?" in client.get("/api/v1/runs").json()["detail"]
