"""A run's raw samples over the API, streamed as CSV or JSON lines (``/runs/{id}/samples/``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from energylab.api.permissions import CanRead, visible_pods
from energylab.api.schema import READ_ERRORS, errors
from events.api.reports import unavailable
from events.models import Run
from events.reports import export
from events.reports.report import ReportUnavailable


class _StreamedFormat(BaseRenderer):
    """A format this view streams itself: the class only takes part in content negotiation
    (``?format=`` or ``Accept``); errors are answered in JSON."""

    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None
    ) -> Any:
        return JSONRenderer().render(data)


class CSVFormat(_StreamedFormat):
    media_type = "text/csv"
    format = export.CSV


class JSONLinesFormat(_StreamedFormat):
    media_type = "application/jsonl"
    format = export.JSONL


class NDJSONFormat(_StreamedFormat):
    """The other name JSON lines go by (``Accept: application/x-ndjson``)."""

    media_type = "application/x-ndjson"
    format = export.JSONL


ERRORS = errors(*READ_ERRORS, 400, 404, 406)


class RunSamplesView(APIView):
    """Every raw sample of a run, streamed: CSV (the default) or JSON lines."""

    permission_classes = [CanRead]
    renderer_classes = [CSVFormat, JSONLinesFormat, NDJSONFormat]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        wanted = request.query_params.get(api_settings.URL_FORMAT_OVERRIDE)
        if not force and wanted is not None and wanted not in export.FORMATS:
            # DRF answers an unknown ?format= with a bare 404.
            raise ValidationError({"format": [f"must be csv or jsonl, not {wanted!r}"]})
        return super().perform_content_negotiation(request, force)

    def handle_exception(self, exc: Exception) -> Response:
        _answer_in_json(self.request)
        return super().handle_exception(exc)

    @extend_schema(
        operation_id="runs_samples",
        summary="The run's raw samples (CSV or JSON lines, streamed)",
        description="Every sample of the run's pod from the run's start to its end (or now): "
        "columns `time` (RFC 3339, nanoseconds), `time_ns`, `server`, `sensor` (`power` for "
        "the power readings), `unit`, `value`, `energy_j` (the BMC's counter, when it has "
        "one), `step` (the run's step then, empty between steps). CSV unless `?format=jsonl` "
        "or `Accept: application/jsonl` (or `application/x-ndjson`).",
        parameters=[
            OpenApiParameter("format", str, enum=list(export.FORMATS), required=False),
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR),
            (200, "application/jsonl"): OpenApiResponse(OpenApiTypes.STR),
            # Errors are JSON, whatever this view's formats (which the schema would list).
            **{(code, "application/json"): why for code, why in ERRORS.items()},
        },
    )
    def get(self, request: Request, pk: int) -> StreamingHttpResponse | Response:
        # Another team's run is an unknown one (docs/access.md).
        run = (
            Run.objects.select_related("pod").filter(visible_pods(request, "pod__"), pk=pk).first()
        )
        if run is None:
            raise NotFound(f"no run with id {pk}")
        kind = request.accepted_renderer.format
        chunks = export.chunks_of_rows(run)
        try:
            # Read the first chunk now: InfluxDB being down is a 503, not a cut 200.
            first = next(chunks, None)
        except ReportUnavailable as exc:
            _answer_in_json(request)
            return unavailable(exc)
        answer = StreamingHttpResponse(
            _body(kind, first, chunks),
            content_type=f"{request.accepted_renderer.media_type}; charset=utf-8",
        )
        answer["Content-Disposition"] = f'attachment; filename="run-{run.pk}-samples.{kind}"'
        return answer


def _answer_in_json(request: Request) -> None:
    """Whatever format was asked for, an error is a JSON object with its ``detail``."""
    request.accepted_renderer = JSONRenderer()
    request.accepted_media_type = JSONRenderer.media_type


def _body(
    kind: str, first: list[export.Row] | None, rest: Iterator[list[export.Row]]
) -> Iterator[bytes]:
    write = export.jsonl_chunk if kind == export.JSONL else export.csv_chunk
    if kind == export.CSV:
        yield export.csv_header()
    if first is None:
        return
    yield write(first)
    for rows in rest:
        yield write(rows)
