"""Property test of InfluxDB's ``POST /write`` (not in the OpenAPI schema, so schemathesis does
not reach it): whatever the lines (numbers of any size, escapes, bad UTF-8, missing parts) and
query parameters (precision, db, u/p), the answer is never a 5xx, and a refusal is InfluxDB's
JSON ``{"error": ...}``."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from energylab.api.testing import *  # noqa: F403 - fixtures
from events.ingest.buffer import SampleBuffer

pytestmark = pytest.mark.django_db

BIG = "9" * 5000
NUMBERS = st.sampled_from(
    ["1", "-0", "1.5", "1e400", "1e-400", "nan", "inf", BIG, "1_000", "٣", "1i", "-9i", "1u"]
)
NAMES = st.sampled_from(["pod", "server", "watts", "power", "a\\ b", "x\\,y", "é", "=", ",", ""])
TIMES = st.sampled_from(["", " 0", " -1", " 1700000000000000000", " " + "9" * 5000, " 1.5", " x"])


@st.composite
def good_lines(draw: Any) -> str:
    """A pod, a server and a power field, each part of which may be odd."""
    number = draw(NUMBERS)
    moment = draw(st.sampled_from(["", " 1700000000000000000", " " + BIG, " -1"]))
    return f"m,pod=fuzz\\ lab,server=s{draw(st.integers(0, 3))} watts={number}{moment}"


@st.composite
def lines(draw: Any) -> str:
    tags = draw(st.lists(st.tuples(NAMES, NAMES), max_size=3))
    fields = draw(st.lists(st.tuples(NAMES, NUMBERS), max_size=3))
    text = "m" + "".join(f",{k}={v}" for k, v in tags)
    text += " " + ",".join(f"{k}={v}" for k, v in fields) + draw(TIMES)
    return text


bodies = st.one_of(
    st.lists(st.one_of(good_lines(), lines()), min_size=1, max_size=4)
    .map("\n".join)
    .map(str.encode),
    st.binary(max_size=200),
)
queries = st.fixed_dictionaries(
    {},
    optional={
        "precision": st.sampled_from(["n", "u", "ms", "s", "m", "h", "x", "", "9" * 5000]),
        "db": st.text(max_size=10),
        "u": st.text(max_size=10),
        "p": st.text(max_size=10),
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies, query=queries)
def test_no_body_or_parameter_makes_a_5xx(
    client: APIClient, buffer: SampleBuffer, body: bytes, query: dict[str, str]
) -> None:
    answer = client.generic(
        "POST", "/write", body, content_type="text/plain", QUERY_STRING=urlencode(query)
    )
    assert answer.status_code < 500, answer.content[:500]
    event(f"HTTP {answer.status_code}")  # hypothesis' statistics show what the cases reached
    if answer.status_code >= 400:
        assert "error" in json.loads(answer.content)
