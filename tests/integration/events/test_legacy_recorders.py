"""The legacy recorder paths, exactly as the OPNFV clients call them."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

from collectors.models import Pod
from energylab.api.testing import *  # noqa: F403 - fixtures
from energylab.api.testing import ago
from energylab.timestamps import to_ns
from events.models import Run, RunSource

pytestmark = pytest.mark.django_db

BASE = "/resources/recorders/environment/"


def env_url(name: str, suffix: str = "") -> str:
    return BASE + quote(name, safe="") + suffix


def start(
    client: APIClient, env: str, scenario: str = "s", step: str = "running", **extra: Any
) -> Any:
    return client.post(env_url(env), {"scenario": scenario, "step": step, **extra}, format="json")


def test_ping_answers_ok_without_credentials(anonymous: APIClient) -> None:
    answer = anonymous.get("/resources/monitoring/ping")
    assert (answer.status_code, answer.json()) == (200, {"status": "OK"})


def test_ping_answers_503_when_the_database_is_down(
    anonymous: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(
        "django.db.backends.base.base.BaseDatabaseWrapper.ensure_connection", refuse
    )
    answer = anonymous.get("/resources/monitoring/ping")
    assert answer.status_code == 503
    assert answer.json()["status"] != "OK"


def test_start_answers_the_environment_scenario_and_step(client: APIClient) -> None:
    answer = start(client, "pod 1", "scenario a", "deploy")
    assert answer.status_code == 200
    assert answer.json() == {
        "environment": "pod 1",
        "scenario": "scenario a",
        "step": "deploy",
        "pod_created": True,  # an extra field: the contract's clients read the other three
        "similar_pods": [],
    }
    run = Run.objects.get()
    assert (run.pod.name, run.source, run.steps.get().name) == ("pod 1", RunSource.LEGACY, "deploy")


@pytest.mark.parametrize(
    "body", [{"scenario": "s"}, {"step": "t"}, {"scenario": "s", "step": None}]
)
def test_start_needs_scenario_and_step(client: APIClient, body: dict[str, Any]) -> None:
    answer = client.post(env_url("p"), body, format="json")
    assert answer.status_code == 400
    assert not Run.objects.exists()


def test_a_start_replaces_the_running_scenario(client: APIClient) -> None:
    start(client, "p", "a")
    start(client, "p", "b")
    assert [(r.scenario, r.ended_at is None) for r in Run.objects.order_by("id")] == [
        ("a", False),
        ("b", True),
    ]


def test_step_changes_the_running_scenario_step(client: APIClient) -> None:
    start(client, "p", "a", "running")
    answer = client.post(env_url("p", "/step"), {"step": "cleanup"}, format="json")
    assert answer.json() == {"environment": "p", "scenario": "a", "step": "cleanup"}
    assert client.get(env_url("p")).json()["step"] == "cleanup"


def test_step_without_a_running_scenario_is_404(client: APIClient) -> None:
    answer = client.post(env_url("nothing here", "/step"), {"step": "x"}, format="json")
    assert answer.status_code == 404
    assert "no scenario is running" in answer.json()["detail"]


def test_get_answers_the_running_scenario_or_404(client: APIClient) -> None:
    assert client.get(env_url("p")).status_code == 404
    start(client, "p", "a", "one")
    assert client.get(env_url("p")).json() == {"environment": "p", "scenario": "a", "step": "one"}


def test_get_with_a_time_answers_what_ran_then(client: APIClient) -> None:
    t0 = ago(60)
    ns = to_ns
    start(client, "p", "a", "one", time=ns(t0))
    client.post(
        env_url("p", "/step"),
        {"step": "two", "time": ns(t0 + dt.timedelta(seconds=10))},
        format="json",
    )
    client.delete(env_url("p") + f"?time={ns(t0 + dt.timedelta(seconds=20))}")
    at = t0 + dt.timedelta(seconds=5)
    assert client.get(env_url("p"), {"time": ns(at)}).json()["step"] == "one"
    assert client.get(env_url("p"), {"time": str(ns(at) + 10**10)}).json()["step"] == "two"
    assert client.get(env_url("p"), {"time": ns(t0 + dt.timedelta(seconds=30))}).status_code == 404
    assert client.get(env_url("p")).status_code == 404
    assert client.get(env_url("p"), {"time": "yesterday"}).status_code == 400


def test_delete_stops_and_answers_what_was_running(client: APIClient) -> None:
    start(client, "p", "a", "one")
    answer = client.delete(env_url("p"))
    assert answer.json() == {"environment": "p", "scenario": "a", "step": "one"}
    assert Run.objects.get().ended_at is not None
    assert client.delete(env_url("p")).status_code == 404


def test_the_time_extension_sets_event_times(client: APIClient) -> None:
    t0 = ago(30)
    ns = to_ns(t0)
    start(client, "p", "a", "one", time=ns)
    client.post(env_url("p", "/step"), {"step": "two", "time": str(ns + 10**9)}, format="json")
    client.delete(env_url("p") + f"?time={ns + 2 * 10**9}")
    run = Run.objects.get()
    assert run.started_at == t0
    assert run.ended_at == t0 + dt.timedelta(seconds=2)
    assert [(s.name, s.started_at) for s in run.steps.order_by("started_at")] == [
        ("one", t0),
        ("two", t0 + dt.timedelta(seconds=1)),
    ]


@pytest.mark.parametrize("bad", [1.5, "soon", 1_700_000_000, True])
def test_a_bad_time_is_400_naming_it(client: APIClient, bad: object) -> None:
    answer = start(client, "p", time=bad)
    assert answer.status_code == 400
    assert "time" in answer.json()


def test_plus_and_percent_20_reach_the_same_pod(client: APIClient) -> None:
    name = "lab pod 7"
    start(client, "placeholder")  # another pod, so that the pod lookup is not trivial
    assert BASE + quote_plus(name) == BASE + "lab+pod+7"
    client.post(BASE + quote_plus(name), {"scenario": "a", "step": "one"}, format="json")
    answer = client.post(BASE + quote(name) + "/step", {"step": "two"}, format="json")
    assert answer.json() == {"environment": name, "scenario": "a", "step": "two"}
    assert client.get(BASE + quote_plus(name)).json()["step"] == "two"
    assert Pod.objects.filter(name=name).count() == 1
    assert not Pod.objects.filter(name__contains="+").exists()


def test_a_literal_plus_sent_as_percent_2b_is_kept_behind_gunicorn(client: APIClient) -> None:
    # gunicorn passes the raw request line (RAW_URI); that is how %2B is told from +.
    path = BASE + "c%2B%2B+lab"
    answer = client.post(path, {"scenario": "a", "step": "b"}, format="json", RAW_URI=path)
    assert answer.json()["environment"] == "c++ lab"
    step = client.post(path + "/step", {"step": "c"}, format="json", RAW_URI=path + "/step")
    assert step.json()["environment"] == "c++ lab"


@pytest.mark.parametrize(
    "name", ["a,b=c \"d\" 'e' \\f", "énergie ⚡ 電力", "with/slash", "step/in between"]
)
def test_names_with_any_printable_character_round_trip(client: APIClient, name: str) -> None:
    assert start(client, name, name, name).json() == {
        "environment": name,
        "scenario": name,
        "step": name,
        "pod_created": True,
        "similar_pods": [],
    }
    assert client.post(env_url(name, "/step"), {"step": "x"}, format="json").status_code == 200
    assert client.get(env_url(name)).json()["scenario"] == name
    assert Pod.objects.get().name == name


@pytest.mark.parametrize("bad", ["new%0Aline", "tab%09", "nul%00"])
def test_control_characters_in_the_environment_are_400(client: APIClient, bad: str) -> None:
    answer = client.post(BASE + bad, {"scenario": "s", "step": "t"}, format="json")
    assert answer.status_code == 400
    assert "environment" in answer.json()


@pytest.mark.parametrize("bad", ["%C3", "a%FFb", "%ED%A0%80"])  # truncated, invalid, surrogate
@pytest.mark.parametrize("method", ["post", "get", "delete", "step"])
@pytest.mark.parametrize("raw_uri", [False, True])
def test_escapes_that_are_not_utf8_in_the_environment_are_400(
    client: APIClient, bad: str, method: str, raw_uri: bool
) -> None:
    path = BASE + bad + ("/step" if method == "step" else "")
    extra = {"RAW_URI": path} if raw_uri else {}
    call = client.post if method in ("post", "step") else getattr(client, method)
    answer = call(path, {"scenario": "s", "step": "t"}, format="json", **extra)
    assert answer.status_code == 400
    assert answer.json() == {
        "environment": ["is not valid UTF-8 once its percent-escapes are decoded"]
    }
    assert not Pod.objects.exists()


def test_a_name_that_looks_like_an_escape_is_kept_behind_gunicorn(client: APIClient) -> None:
    path = env_url("%C3")  # sent as %25C3: told from a broken %C3 by the raw request line
    answer = client.post(path, {"scenario": "s", "step": "t"}, format="json", RAW_URI=path)
    assert answer.json()["environment"] == "%C3"
    assert Pod.objects.get().name == "%C3"


def test_escapes_that_are_not_utf8_in_an_equipment_are_400(client: APIClient) -> None:
    body = {"environment": "p", "measurements": [{"value": 1}]}
    answer = client.post("/resources/equipments/%C3/measurements", body, format="json")
    assert answer.status_code == 400
    assert list(answer.json()) == ["equipment"]
    assert not Pod.objects.exists()


def test_old_clients_may_omit_the_content_type(client: APIClient) -> None:
    answer = client.post(env_url("p"), '{"scenario": "a", "step": "b"}', content_type="text/plain")
    assert answer.status_code == 200


def test_a_body_that_is_not_json_is_400(client: APIClient) -> None:
    answer = client.post(
        env_url("p"), "scenario=a", content_type="application/x-www-form-urlencoded"
    )
    assert answer.status_code == 400
    assert "detail" in answer.json()
