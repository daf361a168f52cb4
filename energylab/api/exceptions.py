"""The API's exception handler: every failure becomes a JSON answer, none a 500 page."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, DataError, IntegrityError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from energylab.api.parsers import RequestTooLarge
from energylab.errors import RefusedRequest, ServiceDown

log = logging.getLogger(__name__)


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "a service EnergyLab needs does not answer; try again later"
    default_code = "unavailable"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "the request conflicts with the current state"
    default_code = "conflict"


def _translate(exc: Exception) -> Exception:
    if isinstance(exc, RefusedRequest):
        api = exceptions.APIException(str(exc))
        api.status_code = exc.status
        return api
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, ServiceDown):
        # The client should retry: nothing of this request was stored.
        log.warning("%s unavailable: %s", exc.service, exc)
        return ServiceUnavailable(f"the {exc.service} is unavailable ({exc}); nothing was stored")
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return RequestTooLarge(f"the request body exceeds the limit of {limit} bytes")
    if isinstance(exc, DataError):
        # A value the database cannot hold that validation let through: the request's fault.
        log.warning("data error turned into 400: %s", exc)
        return exceptions.ValidationError(
            {"detail": "a value is out of the range the database holds"}
        )
    if isinstance(exc, IntegrityError):
        # Model validation and the pod lock prevent these; a race the lock did not cover (two
        # creations of one new name, say) is the client's to retry, not a server error.
        log.warning("integrity error turned into 409: %s", exc)
        return Conflict("the request conflicts with a concurrent change; retry it")
    if isinstance(exc, DatabaseError):
        log.error("database error turned into 503: %s", exc)
        return ServiceUnavailable("the database does not answer; try again later")
    return exc


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus EnergyLab's own errors and the services' failures (as 4xx/503)."""
    return drf_exception_handler(_translate(exc), context)
