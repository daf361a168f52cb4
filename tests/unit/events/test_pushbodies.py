"""Pushed bodies decoded by msgspec: samples to the nanosecond, errors named by field and index."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from events.api import pushbodies
from events.ingest.buffer import Sample

NS = time.time_ns() - 60_000_000_000


def request(body: Any) -> Request:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    # Any Content-Type: the legacy clients send form types.
    return Request(APIRequestFactory().post("/", raw, content_type="text/plain"))


def decode_bulk(body: Any) -> list[Sample]:
    return pushbodies.bulk_samples(pushbodies.decode(request(body), pushbodies.BulkBody), "push")


def bulk_errors(body: Any) -> Any:
    with pytest.raises(ValidationError) as raised:
        decode_bulk(body)
    return raised.value.detail


def test_a_legacy_body_gives_samples_to_the_nanosecond_with_its_topology() -> None:
    body = {
        "environment": "lab",
        "topology": {"rack": "R7"},
        "measurements": [
            {"value": 12.5, "time": NS + 1},
            {"sensor": "inlet", "unit": "C", "value": "21", "time": str(NS + 2)},
        ],
    }
    decoded = pushbodies.decode(request(body), pushbodies.MeasurementsBody)
    pod, topology, samples = pushbodies.measurements_samples(decoded, "srv", "legacy")
    assert (pod, topology) == ("lab", {"rack": "R7"})
    assert samples == [
        Sample("lab", "srv", 12.5, NS + 1, "legacy"),
        Sample("lab", "srv", 21.0, NS + 2, "legacy", sensor="inlet", unit="C"),
    ]


def test_undated_measurements_of_one_body_are_one_nanosecond_apart_in_their_order() -> None:
    body = {"environment": "lab", "measurements": [{"value": 1}, {"value": 2}, {"value": 3}]}
    decoded = pushbodies.decode(request(body), pushbodies.MeasurementsBody)
    times = [s.measured_at_ns for s in pushbodies.measurements_samples(decoded, "s", "x")[2]]
    assert times == [times[0], times[0] + 1, times[0] + 2]


@pytest.mark.parametrize(
    ("item", "errors"),
    [
        ({"server": "a", "value": 1}, {"pod": ["This field is required."]}),
        (
            {"pod": "p", "server": "a", "value": True},
            {"value": ["Expected `float | str`, got `bool`"]},
        ),
        ({"pod": "p", "server": "a", "value": "x"}, {"value": ["'x' is not a number"]}),
        ({"pod": "p", "server": "", "value": 1}, {"server": ["may not be empty"]}),
        (
            {"pod": "p", "server": "a", "value": 1, "time": 1.5e18},
            {"time": ["Expected `int | str | null`, got `float`"]},
        ),
    ],
)
def test_a_bad_measurement_is_named_by_its_index_and_field(item: Any, errors: Any) -> None:
    body = {"measurements": [{"pod": "p", "server": "a", "value": 1, "time": NS}, item]}
    assert bulk_errors(body) == {"measurements": {"1": errors}}


def test_every_bad_measurement_is_named_at_once() -> None:
    body = {
        "measurements": [
            {"pod": "p", "server": "a", "value": -1},
            {"pod": "p", "server": "a", "value": 1},
            {"pod": "p", "server": "a", "value": 1, "time": 1_700_000_000},
        ]
    }
    assert set(bulk_errors(body)["measurements"]) == {"0", "2"}


def test_a_body_that_is_not_json_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        pushbodies.decode(request(b"{nope"), pushbodies.BulkBody)


def test_a_body_that_is_not_an_object_is_a_non_field_error() -> None:
    assert "non_field_errors" in bulk_errors([1, 2])
