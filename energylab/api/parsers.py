"""JSON parsing with a size limit.

DRF's JSONParser reads the request stream directly, which skips Django's
``DATA_UPLOAD_MAX_MEMORY_SIZE`` check (only ``request.body`` makes it): without this, a client
could make the server read and decode a body of any size.

DRF's parser also turns only ``ValueError`` into a 400: a body nested deeper than Python's
recursion limit (``[[[[...`` a few thousand times, a few kilobytes) made the decoder raise
``RecursionError``, a 500. It is a 400 here.
"""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "the request body is too large"
    default_code = "too_large"


def body_limit() -> int | None:
    """The largest body parsed, in bytes (``DATA_UPLOAD_MAX_MEMORY_SIZE``); None: no limit."""
    value = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return int(value) if value is not None else None


class LimitedJSONParser(JSONParser):
    """JSON bodies up to ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes; beyond, 413 with a JSON message."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = body_limit()
        if limit is not None and stream is not None:
            request = (parser_context or {}).get("request")
            declared = content_length(request)
            if declared is not None and declared > limit:
                raise RequestTooLarge(
                    f"the request body ({declared} bytes) exceeds the limit of {limit} bytes"
                )
            # Content-Length can lie (or be absent behind some proxies): read no more than allowed.
            body = stream.read(limit + 1)
            if len(body) > limit:
                raise RequestTooLarge(f"the request body exceeds the limit of {limit} bytes")
            stream = io.BytesIO(body)
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply") from None


class AnyTypeJSONParser(LimitedJSONParser):
    """JSON whatever the Content-Type says: old clients and curl scripts send form types."""

    media_type = "*/*"


def content_length(request: Any) -> int | None:
    """The request's declared Content-Length (0 when absent); None when it is not a number.
    (A body sent without one was framed by :mod:`energylab.middleware` before any view.)"""
    if request is None:
        return None
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except (TypeError, ValueError):
        return None
