"""Pages of every list: ``limit`` and ``offset`` the database can hold, or a 400 naming them."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

# PostgreSQL's LIMIT and OFFSET are bigints: beyond, the query fails (DataError), which the API
# could only answer with a 400 that names no parameter.
LARGEST = 2**63 - 1


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    def get_limit(self, request: Any) -> int | None:
        _check_range(request, self.limit_query_param)
        return super().get_limit(request)

    def get_offset(self, request: Any) -> int:
        _check_range(request, self.offset_query_param)
        return super().get_offset(request)


def _check_range(request: Any, param: str) -> None:
    try:
        value = int(request.query_params.get(param, ""))
    except ValueError:
        return  # DRF ignores what is not a number (the default applies)
    if value > LARGEST:
        raise ValidationError({param: [f"`{param}` must be at most {LARGEST}"]})
