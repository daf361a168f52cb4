"""``POST /write`` and ``GET /ping``, answering as InfluxDB 1.x does.

``/write`` takes line protocol (gzip too: ``Content-Encoding: gzip``) with InfluxDB's query
parameters: ``db`` (accepted and not used: EnergyLab has one database), ``precision`` (``n``,
``u``, ``ms``, ``s``, ``m``, ``h``; default ``n``), ``u`` and ``p``. Credentials and permissions
are the measurements API's: a token (``Authorization: Token <key>``), HTTP basic auth or ``u``
and ``p`` of a Django user; none only when ``ENERGYLAB_ALLOW_ANONYMOUS_EVENTS`` is on. The rate
limits are the measurements API's too. Success is a 204 without a body; errors are InfluxDB's
``{"error": "..."}`` (every status), with the message in ``X-Influxdb-Error`` too.

A batch is stored whole or refused whole, as far as one request can promise it:

- every line is parsed and every point checked (tags, names, readings, times) before anything is
  stored: one bad line is a 400 naming it, and nothing of the batch is stored;
- a known server named under another pod is refused (409) before anything is stored too;
- then the samples of each (pod, server) go to the sample buffer, one push each. Should Redis
  refuse a push after others went through (it stopped, or the buffer is full), the answer is a
  503 saying how many servers' samples were stored. Telegraf and the ``influxdb`` client send the
  batch again on a 5xx, and a point sent twice is stored once (its identity in InfluxDB is its
  measurement, tags and time), so the retry completes the batch without doubling anything.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

from rest_framework import status
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.authentication import ApiTokenAuthentication, BasicAuthentication
from energylab.api.exceptions import Conflict, ServiceUnavailable
from energylab.api.parsers import RequestTooLarge, body_limit
from energylab.api.permissions import CanSendEvents, authorize_pods, may_name
from events import services
from events.api.influx.parser import LineProtocolError, parse
from events.api.influx.points import PRECISIONS, samples_by_server
from events.ingest.buffer import BufferUnavailable, Sample

#: what ``/ping`` and every answer say in ``X-Influxdb-Version``: the API EnergyLab speaks
INFLUXDB_VERSION = "1.8.10"


class QueryParameterAuthentication(BasicAuthentication):
    """InfluxDB 1.x's ``?u=<user>&p=<password>``: a Django user's name and password, checked
    (and remembered) as HTTP basic auth is."""

    def authenticate(self, request: Request) -> Any:
        user = request.query_params.get("u")
        if user is None:
            return None
        return self.authenticate_credentials(user, request.query_params.get("p", ""), request)


class JSONWhateverTheAccept(BaseContentNegotiation):
    """JSON always: InfluxDB answers JSON whatever the ``Accept`` says, and its clients ask for
    other types (the ``influxdb`` client sends ``Accept: application/x-msgpack``)."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return None  # /write reads its body itself

    def select_renderer(
        self, request: Request, renderers: Any, format_suffix: Any = None
    ) -> tuple[BaseRenderer, str]:
        return JSONRenderer(), JSONRenderer.media_type


class InfluxView(APIView):
    """Answers in InfluxDB's shape: ``X-Influxdb-Version`` on all, ``{"error"}`` on errors."""

    content_negotiation_class = JSONWhateverTheAccept

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["X-Influxdb-Version"] = INFLUXDB_VERSION
        return response

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        message = error_message(response.data)
        response.data = {"error": message}
        response["X-Influxdb-Error"] = (
            message.replace("\n", " ")[:1000].encode("ascii", "backslashreplace").decode()
        )
        return response


def error_message(data: Any) -> str:
    """The text of DRF's error data (``{"detail": ...}`` or a serializer's errors); a body's bad
    lines are one a line, as InfluxDB lists them."""
    if isinstance(data, Mapping):
        if set(data) == {"detail"}:
            return str(data["detail"])
        return "; ".join(f"{key}: {error_message(value)}" for key, value in data.items())
    if isinstance(data, list):
        return "; ".join(error_message(item) for item in data)
    return str(data)


class PingView(InfluxView):
    """``GET`` (and ``HEAD``) ``/ping``: 204 with ``X-Influxdb-Version``, as InfluxDB answers.
    Open to all and not rate-limited: agents probe it before writing, with or without
    credentials."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []
    schema = None  # not part of the documented REST API (docs/ingest.md describes it)

    def get(self, request: Request) -> Response:
        return Response(status=status.HTTP_204_NO_CONTENT)


class WriteView(InfluxView):
    """``POST /write``: line protocol points as samples (see the module's docstring)."""

    authentication_classes = [
        ApiTokenAuthentication,
        BasicAuthentication,
        QueryParameterAuthentication,
    ]
    permission_classes = [CanSendEvents]
    throttle_scope = "measurements"
    schema = None

    def post(self, request: Request) -> Response:
        precision = request.query_params.get("precision") or "n"
        if precision not in PRECISIONS:
            raise ParseError(
                f"precision {precision[:20]!r} is not one of n, u, ms, s, m, h (the default is n)"
            )
        try:
            text = request_body(request).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(f"the body is not UTF-8 (at byte {exc.start})") from None
        try:
            grouped = samples_by_server(parse(text), precision)
        except LineProtocolError as exc:
            raise ParseError(str(exc)) from None
        record(request, grouped)
        return Response(status=status.HTTP_204_NO_CONTENT)


def request_body(request: Request) -> bytes:
    """The body, gunzipped when ``Content-Encoding: gzip`` says so, never larger than the
    request body limit (``DATA_UPLOAD_MAX_MEMORY_SIZE``) once decompressed.

    :raises RequestTooLarge: (413) too large, sent or once decompressed.
    :raises ParseError: (400) not gzip although it says so.
    :raises UnsupportedMediaType: (415) another content encoding.
    """
    body: bytes = request.body  # Django refuses one past the limit (413)
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise UnsupportedMediaType(encoding, f"content encoding {encoding[:30]!r}: gzip or none")
    limit = body_limit() or 0
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        plain = decompressor.decompress(body, limit + 1 if limit else 0)
    except zlib.error as exc:
        raise ParseError(f"the body is not valid gzip ({exc})") from None
    if limit and (len(plain) > limit or decompressor.unconsumed_tail):
        raise RequestTooLarge(f"the decompressed body exceeds the limit of {limit} bytes")
    if not decompressor.eof:
        raise ParseError("the gzip body is truncated")
    return plain


def record(request: Request, grouped: dict[tuple[str, str], list[Sample]]) -> None:
    """Push each server's samples, after checking that the credential may use (or create) every
    pod named (``authorize_pods``: the one check of every path) and that none names a server of
    another pod.

    :raises Conflict: (409) a known server is named under another pod; nothing was stored.
    :raises ServiceUnavailable: (503) the sample buffer refused a push; the message says how many
        servers' samples went through before (a retry of the batch stores the rest once).
    """
    new_pods = authorize_pods(request, {pod for pod, _server in grouped})
    refuse_servers_of_other_pods(request, grouped)
    for done, ((pod, server), samples) in enumerate(grouped.items()):
        try:
            services.record_measurements(pod, server, samples, new_pod=new_pods.get(pod))
        except BufferUnavailable as exc:
            if done == 0:
                raise  # nothing was stored: the usual 503
            raise ServiceUnavailable(
                f"the sample buffer is unavailable ({exc}) after the samples of {done} of "
                f"{len(grouped)} servers were stored; send the batch again (a point sent twice "
                "is stored once)"
            ) from exc


def refuse_servers_of_other_pods(
    request: Request, grouped: Mapping[tuple[str, str], object]
) -> None:
    """:raises Conflict: a server named in ``grouped`` exists in another pod, or one server is
    named under two pods (``record_measurements`` would refuse it after storing others)."""
    from collectors.models import Server

    if not grouped:
        return
    pods: dict[str, str] = {}
    for pod, server in grouped:
        if pods.setdefault(server, pod) != pod:
            raise Conflict(
                f"server {server!r} is named under two pods ({pods[server]!r} and {pod!r}) in "
                "one batch; a server belongs to one pod"
            )
    known = Server.objects.filter(name__in=list(pods)).values_list("name", "pod__name")
    for server, pod in known:
        if pods[server] != pod and not may_name(request, pod):
            raise Conflict(f"server {server!r} belongs to another pod than {pods[server]!r}")
        if pods[server] != pod:
            raise Conflict(
                f"server {server!r} belongs to pod {pod!r}, not to {pods[server]!r}; write it "
                "with its own pod's tag, or move it to the other pod first (PATCH "
                "/api/v1/servers/{id}/ with its new pod, or the admin)"
            )
