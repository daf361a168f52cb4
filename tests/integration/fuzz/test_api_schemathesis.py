"""Schemathesis against EnergyLab's own OpenAPI schema, in-process over WSGI: every operation
of the native API and of the legacy ``/resources`` paths, with generated (valid and invalid)
requests, as an authenticated client with every right. No answer is a 5xx, and every answer
conforms to the schema (status code, content type, body).

Bounded: ``MAX_EXAMPLES`` requests per operation and kind of data, derandomized so a failure
reproduces; the whole run takes a minute or two over the real PostgreSQL, Redis and InfluxDB.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis import checks

from access.tokens import issue_token

MAX_EXAMPLES = 40
# What the API promises: no 5xx, and answers as documented. Not schemathesis's heuristics on
# which requests should be accepted (positive_data_acceptance: a schema-valid request may well
# be refused for what it means, a 404 for an unknown run, a 409 out of order) or refused
# (negative_data_rejection: DRF and django-filter ignore a malformed ``offset`` or an empty
# filter, and the source header falls back to ``api``; lenient by design).
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def services(settings, influxdb_database: str, redis_url: str) -> None:
    # Generated requests come fast: the event rate limits are not what is tested here.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "events": "1000000/min",
            "measurements": "1000000/min",
        },
    }


@pytest.fixture
def token(db: None) -> str:
    user = User.objects.create_superuser("fuzz", password="fuzz-password")
    return issue_token(user)[1]


# Loaded at collection, from the app itself (no server, no database query).
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.timeout(300)
def test_every_operation_answers_generated_requests_within_its_schema(case, token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)
