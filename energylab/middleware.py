"""Request bodies sent without a Content-Length (``Transfer-Encoding: chunked``).

Django, and DRF after it, read ``CONTENT_LENGTH`` only: without it a body is taken as empty, so a
valid event was answered "type: this field is required" and an admin form came in blank. Under a
server that says it ends the input where the body ends (``wsgi.input_terminated``: gunicorn
decodes chunks), the body is read here, before any view or middleware reads it, up to the size
limit; under any other (Django's development server passes chunks undecoded), the answer is 411.

A Content-Length that is not a length in bytes is a 400 here: Django reads it with ``int()`` when
the body is read (a form, the debug page), and 5,000 digits raised Python's int-conversion error
there, a 500. gunicorn refuses such a header itself; Django's development server passes it on.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from energylab.api.parsers import body_limit


def unframed(request: HttpRequest) -> bool:
    """Whether the body comes with a Transfer-Encoding and no Content-Length."""
    meta = request.META
    return bool(meta.get("HTTP_TRANSFER_ENCODING")) and not meta.get("CONTENT_LENGTH")


class ChunkedBodyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not declared_length_valid(request):
            return JsonResponse(
                {"detail": "the Content-Length header is not a length in bytes"}, status=400
            )
        if unframed(request):
            refused = frame_body(request)
            if refused is not None:
                return refused
        return self.get_response(request)


def declared_length_valid(request: HttpRequest) -> bool:
    """Whether the Content-Length is absent or digits that a bigint holds (19 at most, leading
    zeros aside): the largest body ever read is far smaller, and no more digits are converted."""
    declared = str(request.META.get("CONTENT_LENGTH") or "").strip()
    if not declared:
        return True
    return declared.isascii() and declared.isdigit() and len(declared.lstrip("0")) <= 19


def frame_body(request: HttpRequest) -> HttpResponse | None:
    """Give an unframed body the length Django needs; or the answer refusing it (411, 413)."""
    if not request.META.get("wsgi.input_terminated"):
        return JsonResponse(
            {
                "detail": "the request body has no Content-Length (Transfer-Encoding: "
                f"{request.META['HTTP_TRANSFER_ENCODING']}) and this server cannot read it: "
                "send a Content-Length"
            },
            status=411,
        )
    limit = body_limit()
    body = request.META["wsgi.input"].read(-1 if limit is None else limit + 1)
    if limit is not None and len(body) > limit:
        return JsonResponse(
            {"detail": f"the request body exceeds the limit of {limit} bytes"}, status=413
        )
    request._stream = io.BytesIO(body)  # what read() and request.body read from
    request.META["CONTENT_LENGTH"] = str(len(body))
    return None
