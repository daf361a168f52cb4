"""POST /api/v1/events/: start, step and stop as CI sends them."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import OperationalError
from django.test import override_settings
from rest_framework.test import APIClient

from access.authentication import ApiTokenAuthentication
from collectors.models import Pod
from energylab.api.testing import *  # noqa: F403 - fixtures
from energylab.api.testing import ago
from energylab.timestamps import rfc3339
from events.models import Run, Step

pytestmark = pytest.mark.django_db

URL = "/api/v1/events/"
RUN_KEYS = {
    "id",
    "pod",
    "scenario",
    "source",
    "started_at",
    "ended_at",
    "received_at",
    "step",
    "step_count",
    "abandoned",
}


def steps_of(run_id: int) -> list[dict[str, Any]]:
    """The run's steps as the API shows them (event answers carry only their count)."""
    from events.api.serializers import StepSerializer

    return list(
        StepSerializer(Step.objects.filter(run_id=run_id).order_by("started_at"), many=True).data
    )


def send(client: APIClient, **body: Any) -> Any:
    return client.post(URL, body, format="json")


def test_a_start_answers_201_with_the_run(client: APIClient) -> None:
    at = ago(10)
    answer = send(client, type="start", pod="pod 1", scenario="s", step="deploy", at=rfc3339(at))
    assert answer.status_code == 201
    run = answer.json()
    assert set(run) == RUN_KEYS | {"ended_previous", "pod_created", "similar_pods"}
    assert run["pod"] == "pod 1"
    assert run["scenario"] == "s"
    assert run["source"] == "api"
    assert run["started_at"] == rfc3339(at)
    assert run["ended_at"] is None
    assert run["step"] == "deploy"
    assert run["step_count"] == 1
    assert steps_of(run["id"]) == [{"name": "deploy", "started_at": rfc3339(at), "ended_at": None}]
    assert run["ended_previous"] is None


def test_datetimes_always_have_microseconds(client: APIClient) -> None:
    at = ago(10).replace(microsecond=0)
    run = send(client, type="start", pod="p", scenario="s", at=rfc3339(at)).json()
    assert run["started_at"].endswith(".000000Z")


def test_at_defaults_to_the_time_of_receipt(client: APIClient) -> None:
    before = dt.datetime.now(dt.UTC)
    send(client, type="start", pod="p", scenario="s")
    assert before <= Run.objects.get().started_at <= dt.datetime.now(dt.UTC)


def test_a_step_answers_200_and_ends_the_running_step(client: APIClient) -> None:
    send(client, type="start", pod="p", scenario="s", step="one", at=rfc3339(ago(10)))
    at = ago(5)
    answer = send(client, type="step", pod="p", step="two", at=rfc3339(at))
    assert answer.status_code == 200
    run = answer.json()
    assert set(run) == RUN_KEYS
    assert run["step"] == "two"
    assert run["step_count"] == 2
    assert [(s["name"], s["ended_at"]) for s in steps_of(run["id"])] == [
        ("one", rfc3339(at)),
        ("two", None),
    ]


def test_a_stop_answers_200_with_the_ended_run(client: APIClient) -> None:
    send(client, type="start", pod="p", scenario="s", step="one", at=rfc3339(ago(10)))
    at = ago(1)
    answer = send(client, type="stop", pod="p", at=rfc3339(at))
    assert answer.status_code == 200
    run = answer.json()
    assert run["ended_at"] == rfc3339(at)
    assert run["step"] is None
    assert steps_of(run["id"])[0]["ended_at"] == rfc3339(at)


def test_a_start_replaces_the_running_run_and_says_so(client: APIClient) -> None:
    first = send(client, type="start", pod="p", scenario="a", step="x", at=rfc3339(ago(10)))
    at = ago(5)
    answer = send(client, type="start", pod="p", scenario="b", at=rfc3339(at)).json()
    previous = answer["ended_previous"]
    assert previous["id"] == first.json()["id"]
    assert previous["ended_at"] == rfc3339(at)
    assert steps_of(previous["id"])[0]["ended_at"] == rfc3339(at)
    assert Run.objects.filter(ended_at__isnull=True).count() == 1


def test_a_start_earlier_than_the_running_run_is_409_and_changes_nothing(
    client: APIClient,
) -> None:
    send(client, type="start", pod="p", scenario="a", at=rfc3339(ago(10)))
    answer = send(client, type="start", pod="p", scenario="b", at=rfc3339(ago(20)))
    assert answer.status_code == 409
    assert "before the running run's start" in answer.json()["detail"]
    assert Run.objects.get().ended_at is None


def test_a_backdated_start_before_the_pods_last_run_is_409(client: APIClient) -> None:
    send(client, type="start", pod="p", scenario="a", at=rfc3339(ago(20)))
    send(client, type="stop", pod="p", at=rfc3339(ago(10)))
    answer = send(client, type="start", pod="p", scenario="b", at="1735000000000000000")
    assert answer.status_code == 409
    assert "before the end of the pod's last run" in answer.json()["detail"]
    assert Run.objects.count() == 1


@pytest.mark.parametrize("body", [{"type": "step", "step": "x"}, {"type": "stop"}])
@pytest.mark.parametrize("pod", ["unknown pod", "idle pod"])
def test_step_and_stop_without_a_running_run_are_404(
    client: APIClient, body: dict[str, Any], pod: str
) -> None:
    Pod.objects.create(name="idle pod")
    answer = send(client, pod=pod, **body)
    assert answer.status_code == 404
    assert "no run is running" in answer.json()["detail"]


@pytest.mark.parametrize("body", [{"type": "step", "step": "x"}, {"type": "stop"}])
def test_step_and_stop_before_the_current_step_are_409(
    client: APIClient, body: dict[str, Any]
) -> None:
    send(client, type="start", pod="p", scenario="s", step="one", at=rfc3339(ago(20)))
    send(client, type="step", pod="p", step="two", at=rfc3339(ago(10)))
    answer = send(client, pod="p", at=rfc3339(ago(15)), **body)
    assert answer.status_code == 409
    assert "before the start of the current step 'two'" in answer.json()["detail"]
    assert Step.objects.count() == 2
    assert Run.objects.get().ended_at is None


@pytest.mark.parametrize(
    "name",
    [
        "lab pod 7",
        " leading and trailing ",
        "a,b=c \"quoted\" 'single' \\back\\slash",
        "énergie ⚡ 電力 🙂",
        "slash/in/name",
        "+plus+",
        "x" * 200,
    ],
)
def test_names_round_trip_exactly(client: APIClient, name: str) -> None:
    run = send(client, type="start", pod=name, scenario=name, step=name).json()
    assert (run["pod"], run["scenario"], run["step"]) == (name, name, name)
    run = send(client, type="step", pod=name, step=name[:199] + "2").json()
    assert run["step"] == name[:199] + "2"
    assert Pod.objects.get().name == name


@pytest.mark.parametrize("field", ["pod", "scenario", "step"])
@pytest.mark.parametrize("bad", ["new\nline", "tab\there", "nul\x00", "lone \ud800 surrogate"])
def test_control_characters_are_refused_naming_the_field(
    client: APIClient, field: str, bad: str
) -> None:
    body = {"type": "start", "pod": "p", "scenario": "s", "step": "t", field: bad}
    # json.dumps escapes as ASCII, so a lone surrogate travels as the JSON text "\ud800".
    answer = client.post(URL, json.dumps(body), content_type="application/json")
    assert answer.status_code == 400
    assert field in answer.json()
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "start", "pod": "p", "scenario": "x" * 201}, "scenario"),
        ({"type": "start", "pod": "p", "scenario": ""}, "scenario"),
        ({"type": "start", "pod": "p"}, "scenario"),
        ({"type": "start", "scenario": "s"}, "pod"),
        ({"type": "start", "pod": 7, "scenario": "s"}, "pod"),
        ({"type": "start", "pod": None, "scenario": "s"}, "pod"),
        ({"type": "start", "pod": ["p"], "scenario": "s"}, "pod"),
        ({"type": "step", "pod": "p"}, "step"),
        ({"type": "step", "pod": "p", "step": None}, "step"),
        ({"type": "pause", "pod": "p"}, "type"),
        ({"pod": "p"}, "type"),
        ({"type": "stop", "pod": "p", "at": "2026-11-25T09:00:00"}, "at"),
        ({"type": "stop", "pod": "p", "at": 1.5}, "at"),
        ({"type": "stop", "pod": "p", "at": "soon"}, "at"),
        ({"type": "stop", "pod": "p", "at": 1_700_000_000}, "at"),
    ],
)
def test_bad_fields_are_400_naming_the_field(
    client: APIClient, body: dict[str, Any], field: str
) -> None:
    answer = send(client, **body)
    assert answer.status_code == 400
    assert field in answer.json()


def test_a_naive_datetime_needs_an_offset(client: APIClient) -> None:
    answer = send(client, type="start", pod="p", scenario="s", at="2026-11-25T09:00:00")
    assert answer.json() == {
        "at": ["`at` needs a UTC offset (Z or +hh:mm): a time without one is ambiguous"]
    }


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
@pytest.mark.parametrize("kind", ["start", "stop"])
def test_a_time_beyond_the_years_a_datetime_holds_is_400_naming_at(
    client: APIClient, kind: str, at: str
) -> None:
    send(client, type="start", pod="p", scenario="s")
    answer = send(client, type=kind, pod="p", scenario="s", at=at)
    assert answer.status_code == 400
    assert answer.json() == {"at": ["`at` is out of range (before year 1 or after 9999 in UTC)"]}


def test_a_far_future_at_blames_the_client_clock(client: APIClient) -> None:
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    answer = send(client, type="start", pod="p", scenario="s", at=rfc3339(future))
    assert answer.status_code == 400
    [message] = answer.json()["at"]
    assert message.startswith("`at` is 3")
    assert message.endswith("s in the future; check the client's clock")


@pytest.mark.parametrize("encode", [int, str])
def test_at_in_nanoseconds_is_stored_to_the_microsecond(client: APIClient, encode: Any) -> None:
    at = ago(3).replace(microsecond=654321)
    ns = int(at.timestamp()) * 10**9 + 654_321_999
    run = send(client, type="start", pod="p", scenario="s", at=encode(ns)).json()
    assert run["started_at"] == rfc3339(at)


@pytest.mark.parametrize(
    "body", ["{not json", "[1, 2]", '"start"', "", "null", '{"type": "start", "pod": NaN}']
)
def test_malformed_bodies_are_400_json(client: APIClient, body: str) -> None:
    answer = client.post(URL, body, content_type="application/json")
    assert answer.status_code == 400
    assert isinstance(answer.json(), dict)


def test_a_body_that_is_not_json_is_415(client: APIClient) -> None:
    answer = client.post(URL, "type=start", content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 415
    assert "detail" in answer.json()


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_an_oversized_body_is_413_json(client: APIClient) -> None:
    body = json.dumps({"type": "start", "pod": "p", "scenario": "s", "pad": "x" * 2000})
    answer = client.post(URL, body, content_type="application/json")
    assert answer.status_code == 413
    assert "limit of 1000 bytes" in answer.json()["detail"]
    assert not Run.objects.exists()


@pytest.mark.parametrize(("header", "source"), [("sdk", "sdk"), ("CLI", "cli"), ("bogus", "api")])
def test_the_source_header_names_the_source(client: APIClient, header: str, source: str) -> None:
    answer = client.post(
        URL,
        {"type": "start", "pod": "p", "scenario": "s"},
        format="json",
        HTTP_X_ENERGYLAB_SOURCE=header,
    )
    assert answer.json()["source"] == source


def test_the_clock_needs_no_credentials(anonymous: APIClient) -> None:
    answer = anonymous.get("/api/v1/time/").json()
    now = dt.datetime.fromisoformat(answer["now"])
    assert abs(now - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)
    assert isinstance(answer["now_ns"], int)
    assert abs(answer["now_ns"] / 1e9 - now.timestamp()) < 0.001


# -- requests of every kind: each gets its own answer (kept from the fast path's tests) -----------


@pytest.mark.parametrize(
    "case",
    [
        pytest.param({"body": "{not json", "code": 400}, id="malformed JSON"),
        pytest.param({"body": {"type": "step", "pod": "p"}, "code": 400}, id="missing field"),
        pytest.param({"body": {"type": "jump", "pod": "p"}, "code": 400}, id="unknown type"),
        pytest.param(
            {"body": {"type": "step", "pod": "p\n", "step": "s"}, "code": 400},
            id="control character",
        ),
        pytest.param({"body": [1, 2], "code": 400}, id="not an object"),
        pytest.param({"token": "wrong", "code": 401}, id="unknown token"),
        pytest.param({"token": None, "code": 401}, id="no credentials"),
        pytest.param({"accept": "text/html", "code": 201}, id="a browser's Accept"),
        pytest.param({"accept": "application/xml", "code": 406}, id="an Accept no renderer has"),
        pytest.param(
            {"accept": "application/json; indent=4", "code": 201}, id="an Accept with parameters"
        ),
        pytest.param({"body": "", "code": 400}, id="an empty body"),
        pytest.param(
            {"body": '{"type": "start", "pod": "p", "scenario": "s"}', "charset": "latin-1"},
            id="a charset other than utf-8",
        ),
    ],
)
def test_each_kind_of_request_gets_its_answer(
    client: APIClient, token: str, case: dict[str, Any]
) -> None:
    body = case.get("body", {"type": "start", "pod": "p", "scenario": "s"})
    extra: dict[str, Any] = {}
    if "accept" in case:
        extra["HTTP_ACCEPT"] = case["accept"]
    if "token" in case:
        client.credentials(
            **({"HTTP_AUTHORIZATION": f"Token {case['token']}"} if case["token"] else {})
        )
    if isinstance(body, str):
        content_type = "application/json"
        if "charset" in case:
            content_type += f"; charset={case['charset']}"
        response = client.generic("POST", URL, body, content_type=content_type, **extra)
    else:
        response = client.post(URL, body, format="json", **extra)
    assert response.status_code == case.get("code", 201)


def test_basic_credentials_send_events(ci_user: User) -> None:
    ci_user.set_password("pw")
    ci_user.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"ci:pw").decode())
    response = client.post(URL, {"type": "start", "pod": "p", "scenario": "s"}, format="json")
    assert response.status_code == 201


def test_a_session_client_meets_its_csrf_check(ci_user: User) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(ci_user)
    response = client.post(URL, {"type": "start", "pod": "p", "scenario": "s"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_a_throttled_client_is_refused_once_and_counted_once(
    client: APIClient, settings: Any
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"events": "2/min", "measurements": "60/min"},
    }
    start = {"type": "start", "pod": "p", "scenario": "s"}
    codes = [client.post(URL, start, format="json").status_code for _ in range(3)]
    assert codes == [201, 201, 429]


def test_a_database_failure_while_authenticating_is_503(
    client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(self: Any, key: str) -> Any:
        raise OperationalError("connection refused")

    monkeypatch.setattr(ApiTokenAuthentication, "authenticate_credentials", down)
    response = client.post(URL, {"type": "start", "pod": "p", "scenario": "s"}, format="json")
    assert response.status_code == 503
    assert "database" in response.json()["detail"]


def test_a_refused_event_says_why(client: APIClient) -> None:
    response = client.post(URL, {"type": "step", "pod": "nowhere", "step": "s"}, format="json")
    assert 400 <= response.status_code < 500
    assert response.json()["detail"]
