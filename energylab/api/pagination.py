"""Pages of every list: ``limit`` and ``offset`` the database can hold, or a 400 naming them."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

from energylab.api.fields import BIGINT_MAX, bounded_integer

# PostgreSQL's LIMIT and OFFSET are bigints: beyond, the query fails (DataError), which the API
# could only answer with a 400 that names no parameter.
LARGEST = BIGINT_MAX


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    def get_limit(self, request: Any) -> int | None:
        _check_range(request, self.limit_query_param)
        return super().get_limit(request)

    def get_offset(self, request: Any) -> int:
        _check_range(request, self.offset_query_param)
        return super().get_offset(request)


def _check_range(request: Any, param: str) -> None:
    text = request.query_params.get(param, "").strip()
    if not (text.isascii() and text.isdigit()):
        return  # DRF ignores what is not a number (the default applies)
    try:
        bounded_integer(text, maximum=LARGEST)
    except ValueError as exc:  # too many digits, too large: never int() of all of them
        raise ValidationError({param: [f"`{param}` {exc}"]}) from None
