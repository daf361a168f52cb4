"""OpenAPI descriptions of the error answers every view shares."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse

from energylab.api.serializers import DetailSerializer

_WHY = {
    400: "Invalid input: an object naming each refused field (or `detail`/`non_field_errors`).",
    401: "No or wrong credentials.",
    403: "Authenticated, but not allowed.",
    404: "Not found (or, for events, nothing runs on the pod).",
    406: "No format the client accepts (`Accept`) is one this path answers in.",
    409: "The event's time is before the start of what it changes, or the run has ended.",
    413: "The request body is too large.",
    415: "The body is not JSON.",
    429: "A rate limit is reached (the message names its setting): retry after Retry-After seconds.",
    503: "A service EnergyLab needs (database, sample buffer) does not answer; retry later.",
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The documented error answers ``codes``, for ``extend_schema(responses=...)``."""
    return {
        code: OpenApiResponse(
            response=OpenApiTypes.OBJECT if code == 400 else DetailSerializer,
            description=_WHY[code],
        )
        for code in codes
    }


WRITE_ERRORS = (400, 401, 403, 413, 415, 429, 503)
READ_ERRORS = (401, 403, 429, 503)
