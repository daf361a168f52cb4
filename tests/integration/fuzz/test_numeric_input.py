"""Property tests of every number a client sends: event times, legacy times and readings, ids in
paths and filters, ``limit``/``offset``, the numeric fields of pods and servers, and the pages'
parameters. Whatever the number (5,000 digits, past Python's 4,300-digit int-conversion limit;
``1e1000000``; ``1e400``, which JSON reads as infinity; NaN; signs, spaces, underscores, other
scripts' digits), as a JSON string, a JSON number or a query or path parameter, no answer is a
5xx, and the API's refusals are JSON. A 5,000-digit integer in each of them is a 400 whose
message names the field, or a 404 for an id in a path; in the Content-Length header, a 400.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from access.tokens import issue_token
from collectors.models import BMCType, Pod, Server
from events import services

pytestmark = pytest.mark.django_db(transaction=True)

HUGE = "9" * 5000
VALUE = "__value__"  # where a slot's number goes


@dataclass(frozen=True)
class Slot:
    """One place a number is read: ``{value}`` in the path or query, or ``__value__`` in the
    body; ``field`` is what a 400 must name."""

    method: str
    path: str
    field: str
    body: dict[str, object] | None = None

    @property
    def is_api(self) -> bool:
        return self.path.startswith(("/api/", "/resources/"))

    @property
    def in_path(self) -> bool:
        return "{value}" in self.path.split("?")[0]

    def request(self, client: Client, ids: dict[str, int], value: str, literal: bool):
        path = self.path.format(value=quote(value, safe=""), **ids)
        if self.body is None:
            return getattr(client, self.method)(path)
        # As a JSON string, or spliced in as a JSON number (json.dumps cannot write an int past
        # 4,300 digits, nor do clients need it to: the text is sent as it is).
        spliced = json.dumps(value) if not literal else value
        text = json.dumps(self.body).replace(json.dumps(VALUE), spliced)
        return getattr(client, self.method)(path, text, content_type="application/json")


def event(**fields: object) -> dict[str, object]:
    return {"pod": "fuzz", **fields}


SLOTS = [
    # The native API: event times.
    Slot("post", "/api/v1/events/", "at", event(type="start", scenario="s", at=VALUE)),
    Slot("post", "/api/v1/events/", "at", event(type="step", step="x", at=VALUE)),
    Slot("post", "/api/v1/events/", "at", event(type="stop", at=VALUE)),
    Slot("post", "/api/v1/runs/", "at", event(scenario="s", at=VALUE)),
    Slot("post", "/api/v1/runs/{run}/steps/", "at", {"name": "x", "at": VALUE}),
    Slot("post", "/api/v1/runs/{run}/stop/", "at", {"at": VALUE}),
    # Filters and pages of lists.
    Slot("get", "/api/v1/runs/?started_after={value}", "started_after"),
    Slot("get", "/api/v1/runs/?started_before={value}", "started_before"),
    Slot("get", "/api/v1/runs/?pod_id={value}", "pod_id"),
    Slot("get", "/api/v1/runs/?limit={value}", "limit"),
    Slot("get", "/api/v1/runs/?offset={value}", "offset"),
    Slot("get", "/api/v1/pods/?limit={value}&offset=1", "limit"),
    Slot("get", "/api/v1/servers/?pod={value}", "pod"),
    Slot("get", "/api/v1/energy/comparison/?pod=fuzz&scenario=s&last={value}", "last"),
    # Ids in paths.
    Slot("get", "/api/v1/runs/{value}/", "id"),
    Slot("get", "/api/v1/runs/{value}/steps/", "id"),
    Slot("get", "/api/v1/runs/{value}/energy/", "id"),
    Slot("post", "/api/v1/runs/{value}/steps/", "id", {"name": "x"}),
    Slot("post", "/api/v1/runs/{value}/stop/", "id", {}),
    Slot("get", "/api/v1/pods/{value}/", "id"),
    Slot("get", "/api/v1/servers/{value}/", "id"),
    Slot("delete", "/api/v1/pods/{value}/", "id"),
    # Numeric fields of pods and servers.
    Slot("post", "/api/v1/pods/", "poll_interval", {"name": "n", "poll_interval": VALUE}),
    Slot("patch", "/api/v1/pods/{pod}/", "poll_interval", {"poll_interval": VALUE}),
    Slot("patch", "/api/v1/pods/{pod}/", "idle_baseline_w", {"idle_baseline_w": VALUE}),
    Slot("post", "/api/v1/servers/", "pod", {"name": "n", "bmc_type": "push", "pod": VALUE}),
    Slot("patch", "/api/v1/servers/{server}/", "port", {"port": VALUE}),
    Slot("patch", "/api/v1/servers/{server}/", "accuracy_pct", {"accuracy_pct": VALUE}),
    Slot("patch", "/api/v1/servers/{server}/", "refresh_s", {"refresh_s": VALUE}),
    Slot("patch", "/api/v1/servers/{server}/", "pod", {"pod": VALUE}),
    # The legacy API: times, readings.
    Slot("get", "/resources/recorders/environment/fuzz?time={value}", "time"),
    Slot("delete", "/resources/recorders/environment/fuzz?time={value}", "time"),
    Slot(
        "post",
        "/resources/recorders/environment/fuzz",
        "time",
        {"scenario": "s", "step": "t", "time": VALUE},
    ),
    Slot(
        "post", "/resources/recorders/environment/fuzz/step", "time", {"step": "t", "time": VALUE}
    ),
    Slot(
        "post",
        "/resources/equipments/n/measurements",
        "value",
        {"environment": "fuzz", "measurements": [{"value": VALUE}]},
    ),
    Slot(
        "post",
        "/resources/equipments/n/measurements",
        "time",
        {"environment": "fuzz", "measurements": [{"value": 1, "time": VALUE}]},
    ),
    Slot(
        "post", "/resources/servers/n/consumption", "power", {"environment": "fuzz", "power": VALUE}
    ),
    Slot(
        "post",
        "/resources/servers/n/consumption",
        "time",
        {"environment": "fuzz", "power": 1, "time": VALUE},
    ),
    # Pages and the admin.
    Slot("get", "/runs/?page={value}", "page"),
    Slot("get", "/runs/{value}/", "id"),
    Slot("get", "/admin/events/run/{value}/change/", "id"),
    Slot("get", "/admin/events/run/?pod__id__exact={value}", "pod__id__exact"),
    Slot("get", "/admin/collectors/server/?p={value}", "p"),
]

signs = st.sampled_from(["", "", "-", "+", " "])
long_digits = st.builds(
    lambda digit, count, tail: digit * count + tail,
    st.sampled_from("0123456789"),
    st.integers(min_value=1, max_value=6000),
    st.text("0123456789", max_size=4),
)
numbers = st.one_of(
    st.builds(str.__add__, signs, long_digits),
    st.integers().map(str),
    st.integers(min_value=2**62, max_value=2**70).map(str),
    st.floats().map(repr),
    st.builds(
        lambda mantissa, exponent: f"{mantissa}e{exponent}",
        st.integers(-9, 9),
        st.integers(-(10**7), 10**7),
    ),
    st.sampled_from(
        [
            "1e1000000",
            "1e400",
            "-1e400",
            "NaN",
            "Infinity",
            "-0",
            "1_000",
            " 12 ",
            "0x10",
            "\u0661\u0662\u0663",  # Arabic-Indic digits: str.isdigit() says yes
            "1.5",
            "",
            str(2**63 - 1),
            str(2**63),
            str(2**64),
            "1795597200123456789",
        ]
    ),
)
JSON_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")


@pytest.fixture
def lab(redis_url: str, influxdb_database: str, settings) -> tuple[Client, dict[str, int]]:
    """A superuser's client (token and session) and the ids of a pod, its server and a run."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "events": "1000000/min",
            "measurements": "1000000/min",
        },
    }
    user = User.objects.create_superuser("numbers", password="numbers-password")
    client = Client(HTTP_AUTHORIZATION=f"Token {issue_token(user)[1]}")
    client.force_login(user)
    run = services.start_run("fuzz", "s", "first").run
    pod = Pod.objects.get(name="fuzz")
    server = Server.objects.create(pod=pod, name="fuzz server", bmc_type=BMCType.PUSH)
    return client, {"run": run.id, "pod": pod.pk, "server": server.pk}


def check(answer, slot: Slot, value: str) -> None:
    shown = f"{slot.method.upper()} {slot.path} with {value[:40]!r} ({len(value)} chars)"
    assert answer.status_code < 500, f"{shown}: {answer.status_code} {answer.content[:300]!r}"
    if slot.is_api and answer.status_code >= 400:
        assert answer["Content-Type"].startswith("application/json"), (
            f"{shown}: {answer.status_code} as {answer['Content-Type']}"
        )


@given(slot=st.sampled_from(SLOTS), value=numbers, literal=st.booleans())
@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.timeout(300)
def test_no_number_anywhere_is_a_server_error(lab, slot: Slot, value: str, literal: bool) -> None:
    client, ids = lab
    literal = literal and slot.body is not None and JSON_NUMBER.fullmatch(value) is not None
    check(slot.request(client, ids, value, literal), slot, value)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("slot", SLOTS, ids=lambda s: f"{s.method} {s.path} {s.field}")
def test_an_integer_of_5000_digits_is_a_400_naming_the_field(lab, slot: Slot) -> None:
    client, ids = lab
    answer = slot.request(client, ids, HUGE, literal=False)
    check(answer, slot, HUGE)
    if not slot.is_api:
        return  # pages: no 500 is the promise (a page number past the last is the first page)
    if slot.in_path:
        assert answer.status_code == 404, answer.content[:300]
        return
    assert answer.status_code == 400, answer.content[:300]
    assert slot.field in answer.json().__repr__(), answer.content[:300]
    if slot.body is not None:
        # As a JSON number: past 4,300 digits no JSON reader takes it (a 400 that says why).
        answer = slot.request(client, ids, HUGE, literal=True)
        check(answer, slot, HUGE)
        assert answer.status_code == 400, answer.content[:300]


@pytest.mark.parametrize("length", [HUGE, "-1", "12abc", "1e3"])
@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/events/", "application/json"),
        ("/resources/recorders/environment/fuzz", "application/json"),
        ("/admin/login/", "application/x-www-form-urlencoded"),
    ],
)
def test_a_content_length_that_is_not_a_length_is_a_400(
    lab, path: str, content_type: str, length: str
) -> None:
    # Django's development server passes the header as sent (gunicorn refuses it itself); Django
    # read 5,000 digits with int() when the body was read: a 500, its debug page failing too.
    client, _ids = lab
    answer = client.post(path, "a=1", content_type=content_type, CONTENT_LENGTH=length)
    assert answer.status_code == 400, answer.content[:300]
    assert "Content-Length" in answer.json()["detail"]
