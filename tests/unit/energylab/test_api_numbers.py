"""Numbers read from requests: bounded before they are converted, refused with a message that
says why (and, in the answer, names the field), never Python's own int-conversion error.

Past 4300 digits ``int()`` raises ValueError ("Exceeds the limit (4300 digits) for integer
string conversion"), which the views did not expect: an HTML 500. A Decimal filter took
``1e1000000`` and the query computed that integer: seconds of CPU per request.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as FormError
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from energylab.api.fields import BIGINT_MAX, IdRelatedField, bounded_integer
from energylab.api.filters import IdFormField
from energylab.api.pagination import BoundedLimitOffsetPagination

HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        ("12", 12),
        (" 12 ", 12),
        ("+12", 12),
        ("0" * 5000 + "7", 7),
        (str(BIGINT_MAX), BIGINT_MAX),
    ],
)
def test_bounded_integer_reads_integers_in_range(value: object, expected: int) -> None:
    assert bounded_integer(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (HUGE, "must be at most 9223372036854775807 (it has 5000 digits)"),
        ("-" + HUGE, "must be at least 0 (it has 5000 digits)"),
        (str(BIGINT_MAX + 1), "must be at most 9223372036854775807"),
        ("-1", "must be at least 0"),
        ("1e1000000", "must be an integer"),
        ("1.5", "must be an integer"),
        ("1_000", "must be an integer"),
        ("\u0661\u0662", "must be an integer"),  # Arabic-Indic digits: isdigit() says yes
        ("", "must be an integer"),
        (1.0, "not float"),
        (float("inf"), "not float"),
        (True, "not bool"),
        (None, "not NoneType"),
    ],
)
def test_bounded_integer_refuses_the_rest_saying_why(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        bounded_integer(value)


@pytest.mark.parametrize("value", [HUGE, "1e1000000", "0", "-3", "1.5"])
def test_an_id_filter_refuses_what_is_not_an_id(value: str) -> None:
    field = IdFormField()
    with pytest.raises(FormError, match="is not an id"):
        field.clean(value)


def test_an_id_filter_reads_an_id() -> None:
    assert IdFormField().clean(" 42 ") == 42


@pytest.mark.parametrize("value", [HUGE, 1e400, "1e400", 1.9, True, "0"])
def test_an_id_of_a_related_object_is_refused_before_any_query(value: object) -> None:
    field = IdRelatedField(queryset=User.objects.none())
    with pytest.raises(ValidationError, match="is not an id"):
        field.to_internal_value(value)


@pytest.mark.parametrize("param", ["limit", "offset"])
def test_a_huge_limit_or_offset_is_a_400_naming_it(param: str) -> None:
    request = Request(APIRequestFactory().get("/", {param: HUGE}))
    paginator = BoundedLimitOffsetPagination()
    with pytest.raises(ValidationError) as raised:
        paginator.get_limit(request) if param == "limit" else paginator.get_offset(request)
    assert param in raised.value.detail
    assert "5000 digits" in str(raised.value.detail[param])
