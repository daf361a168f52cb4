"""Views every API shares."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt  # a 404 for any method: the CSRF check would answer an HTML 403 first
def not_found(request: HttpRequest) -> JsonResponse:
    """A JSON 404 for unknown API paths (a missing trailing slash is the usual cause)."""
    detail = f"no API path {request.path}"
    if not request.path.endswith("/"):
        try:
            resolve(request.path + "/")
        except Resolver404:
            pass
        else:
            detail += f"; did you mean {request.path}/ ?"
    return JsonResponse({"detail": detail}, status=404)
