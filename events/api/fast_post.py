"""POSTs of the everyday kind answered without DRF's per-request machinery (the events endpoint).

Nearly every request CI sends to ``POST /api/v1/events/`` is the same: a small JSON event, a token
or basic credentials, valid. For those, DRF's dispatch (its Request wrapper, content negotiation,
parser selection, the authentication loop behind ``request.user``, the permission and throttle
loops) costs 6 % of an event's CPU in the web server, which is what limits events per second on
a small box (measured side by side, docs/benchmarks.md).

:class:`FastPostAPIView` answers such a request itself, with DRF's own parts: the view's
authenticator, permission, parser, throttle and renderer classes, its exception handler and its
``finalize_response``. Any other request (another method, no or failed credentials, a session or
anonymous client, an Accept other than JSON, a query string, a body too large, malformed or
invalid, a throttled client, an unexpected error) goes to the DRF view untouched, so it is
answered, and its errors worded and coded, exactly as before: up to the hand-over nothing was
written and no rate-limit token spent.
"""

from __future__ import annotations

import functools
import io
import logging
from typing import TYPE_CHECKING, Any, cast

from django.http import HttpRequest, HttpResponseBase
from rest_framework.authentication import BasicAuthentication, TokenAuthentication
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from energylab.api.negotiation import JSON, PLAIN_ACCEPTS
from energylab.api.parsers import body_limit, content_length

if TYPE_CHECKING:
    from rest_framework.views import AsView, GenericView

log = logging.getLogger(__name__)

# Authenticators that read only the request's headers. DRF's session authentication enforces
# CSRF on its own Request: a session client goes the DRF way.
_HEADER_AUTHENTICATORS = (TokenAuthentication, BasicAuthentication)


class FastPostAPIView(APIView):
    """An APIView whose everyday POSTs are answered without DRF's dispatch.

    Subclasses split their ``post`` in two: :meth:`validate` (the parsed body to what
    :meth:`perform` needs, or DRF's ValidationError) and :meth:`perform` (the work and its
    Response). Both run on DRF's Request in DRF's path and on Django's request in this one: they
    may read the request's headers and user, not ``request.data``.
    """

    def validate(self, data: Any) -> Any:
        raise NotImplementedError

    def perform(self, request: HttpRequest, valid: Any) -> Response:
        raise NotImplementedError

    def post(self, request: Request) -> Response:
        return self.perform(request, self.validate(request.data))

    @classmethod
    def as_view(cls, **initkwargs: Any) -> AsView[GenericView]:
        drf_view = super().as_view(**initkwargs)

        @functools.wraps(drf_view)  # keeps cls, initkwargs, csrf_exempt: schema and URLs see DRF's
        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method != "POST" or args or kwargs:
                return drf_view(request, *args, **kwargs)
            api_view = cls(**initkwargs)
            try:
                valid = _accepted(api_view, request)
            except _NotHere:
                return drf_view(request, *args, **kwargs)
            except Exception:  # nothing is written yet: DRF meets it and answers it
                log.debug("fast path: handing over to DRF", exc_info=True)
                return drf_view(request, *args, **kwargs)
            # From here on the request is this path's: its rate-limit token is spent.
            _prepare(api_view, request)
            try:
                response = api_view.perform(request, valid)
            except Exception as exc:
                # As APIView.handle_exception, past authentication: the same handler and context.
                handler = api_view.get_exception_handler()
                handled = handler(exc, api_view.get_exception_handler_context())
                if handled is None:
                    raise
                handled.exception = True
                response = handled
            finalized: HttpResponseBase = api_view.finalize_response(
                request,  # type: ignore[arg-type]
                response,
            )
            return finalized

        return cast("AsView[GenericView]", view)


class _NotHere(Exception):
    """This request is the DRF view's to answer."""


def _accepted(api_view: FastPostAPIView, request: HttpRequest) -> Any:
    """The validated body of a request DRF would carry out, its token spent; or _NotHere."""
    meta = request.META
    if (
        meta.get("QUERY_STRING")  # ?format= and friends are negotiated by DRF
        or meta.get("HTTP_ACCEPT", "").strip() not in PLAIN_ACCEPTS
        or request.content_type != JSON
        or (request.content_params or {}).get("charset", "utf-8").lower() not in ("utf-8", "utf8")
        or api_view.renderer_classes[0].media_type != JSON
    ):
        raise _NotHere
    limit, declared = body_limit(), content_length(request)
    if declared is None or (limit is not None and declared > limit):
        raise _NotHere  # the parser's 413 (or DRF's reading of a Content-Length that is not one)
    request.user = _user(api_view, request)  # as DRF's Request sets it on the request it wraps
    for permission in api_view.get_permissions():
        if not permission.has_permission(request, api_view):  # type: ignore[arg-type]
            raise _NotHere
    parser = api_view.get_parsers()[0]
    if parser.media_type != JSON:
        raise _NotHere
    try:
        # request.body keeps the bytes: the DRF view can read them again if it answers.
        data = parser.parse(io.BytesIO(request.body), JSON, {"request": request})
        validated = api_view.validate(data)
    except APIException:
        raise _NotHere from None
    # Last, since nothing after it may send the request to DRF: a spent token is not given back.
    # With two throttles, the first could spend a token and the second refuse: DRF's then.
    throttles = api_view.get_throttles()
    if len(throttles) > 1:
        raise _NotHere
    for throttle in throttles:
        if not throttle.allow_request(request, api_view):  # type: ignore[arg-type]
            raise _NotHere
    return validated


def _user(api_view: APIView, request: HttpRequest) -> Any:
    """The user the first header authenticator names, as DRF's authentication loop finds it."""
    for authenticator in api_view.get_authenticators():
        if not isinstance(authenticator, _HEADER_AUTHENTICATORS):
            break
        try:
            found = authenticator.authenticate(request)  # type: ignore[arg-type]
        except APIException:
            break
        if found is not None:
            return found[0]
    raise _NotHere


def _prepare(api_view: APIView, request: HttpRequest) -> None:
    """The view and request as DRF's dispatch and ``initial`` leave them, for the answer."""
    renderer = api_view.get_renderers()[0]
    request.accepted_renderer = renderer  # type: ignore[attr-defined]
    request.accepted_media_type = renderer.media_type  # type: ignore[attr-defined]
    api_view.request = request  # type: ignore[assignment]
    api_view.args = ()
    api_view.kwargs = {}
    api_view.headers = api_view.default_response_headers
    api_view.format_kwarg = None
