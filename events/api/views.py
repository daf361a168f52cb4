"""Views of the native API: events, runs and their steps, the server's clock.

They validate, call :mod:`events.services` and serialize; the event logic lives in services.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.db.models import F, OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail, NotFound, ValidationError
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from access.audit import Actor
from energylab.api.parsers import LimitedJSONParser
from energylab.api.permissions import CanRead, CanSendEvents, authorize_pod, visible_pods
from energylab.api.schema import READ_ERRORS, WRITE_ERRORS, errors
from energylab.timestamps import from_ns
from events import services
from events.api import serializers as s
from events.api.filtersets import RunFilterSet
from events.models import Run, RunSource, Step

SOURCE_HEADER = "X-EnergyLab-Source"

SOURCE_PARAMETER = OpenApiParameter(
    SOURCE_HEADER,
    location=OpenApiParameter.HEADER,
    required=False,
    enum=[choice.value for choice in RunSource],
    description="Who sends the event (the SDK sends `sdk` or `cli`); default `api`.",
)


def source_of(request: HttpRequest) -> str:
    """The run source the client names in its header, or ``api``."""
    named = request.headers.get(SOURCE_HEADER, "").strip().lower()
    return named if named in RunSource.values else RunSource.API


_serializers = threading.local()


def validated(serializer_class: type[Serializer[Any]], data: Any) -> dict[str, Any]:
    """``data`` validated by the serializer, or a ValidationError worded as ``is_valid`` words it.

    One serializer per class and thread validates every request: a new one deep-copies its
    fields each time, a fifth of an event's CPU in this process (measured). ``run_validation``
    keeps no state in the serializer; a thread's own instance is never shared mid-call.
    """
    reused: dict[type[Serializer[Any]], Serializer[Any]] = _serializers.__dict__.setdefault(
        "by_class", {}
    )
    serializer = reused.get(serializer_class)
    if serializer is None:
        serializer = reused[serializer_class] = serializer_class()
    try:
        return dict(serializer.run_validation(data))
    except ValidationError as exc:
        raise ValidationError(_as_is_valid_words(exc.detail)) from None


def _as_is_valid_words(detail: Any) -> Any:
    """The errors of ``run_validation`` as ``Serializer.errors`` gives them: no data at all (a
    JSON ``null``) is "No data provided" under ``non_field_errors``, not "may not be null"."""
    if isinstance(detail, list) and len(detail) == 1 and getattr(detail[0], "code", None) == "null":
        return {api_settings.NON_FIELD_ERRORS_KEY: [ErrorDetail("No data provided", code="null")]}
    return detail


def runs() -> QuerySet[Run]:
    """Runs with their steps, for a run's full view."""
    return Run.objects.select_related("pod").prefetch_related("steps")


def summaries() -> QuerySet[Run]:
    """Runs with their running step's name and their step count, in one query."""
    running = Step.objects.filter(run=OuterRef("pk"), ended_at__isnull=True).values("name")[:1]
    return (
        Run.objects.select_related("pod")
        .annotate(running_step=Subquery(running), steps_counted=F("step_count"))
        .order_by("-started_at", "-pk")
    )


def run_answer(run: services.RunState) -> Response:
    """The run as the event left it."""
    return Response(s.run_summary(run), status=status.HTTP_200_OK)


def started_answer(started: services.Started) -> Response:
    return Response(s.started_summary(started), status=status.HTTP_201_CREATED)


class EventView(APIView):
    """Start, step or stop the run of a pod, as CI tells it."""

    permission_classes = [CanSendEvents]
    parser_classes = [LimitedJSONParser]
    throttle_scope = "events"

    @extend_schema(
        operation_id="events_create",
        summary="Send an event (start, step, stop)",
        description=(
            "`start` starts a run of `scenario` on `pod` (created if unknown), ending the run "
            "still running there (`ended_previous`). `step` ends the running step of the pod's "
            "run and enters a new one; `stop` ends the run. `at` defaults to when the server "
            "applies the event. An event may not rewrite the pod's history: one before the "
            "start of the running run or of its step, or a start before the end of the pod's "
            "last run, is a 409."
        ),
        parameters=[SOURCE_PARAMETER],
        request=PolymorphicProxySerializer(
            component_name="Event",
            serializers={
                s.EVENT_START: s.StartEventSerializer,
                s.EVENT_STEP: s.StepEventSerializer,
                s.EVENT_STOP: s.StopEventSerializer,
            },
            resource_type_field_name="type",
        ),
        responses={
            201: s.StartedSerializer,
            200: s.RunSummarySerializer,
            **errors(*WRITE_ERRORS, 404, 409),
        },
    )
    def post(self, request: Request) -> Response:
        data = request.data
        kind = data.get("type") if isinstance(data, dict) else None
        if not isinstance(kind, str) or kind not in s.EVENT_SERIALIZERS:
            # No event serializer applies: the type serializer says what is wrong with the type.
            kind = validated(s.EventTypeSerializer, data)["type"]
        event = validated(s.EVENT_SERIALIZERS[kind], data)
        at, pod = event.get("at"), event["pod"]
        if kind == s.EVENT_START:
            return start(
                request, pod, event["scenario"], event.get("step"), at, s.provenance_of(event)
            )
        authorize_pod(request, pod, write=True, hidden_as=no_run_on(pod))
        if kind == s.EVENT_STEP:
            return run_answer(services.set_step(pod, event["step"], at))
        return run_answer(services.stop_run(pod, at, actor=Actor.of(request)))


def no_run_on(pod: str) -> services.NoRunningRun:
    """What a step or stop on a pod of another team gets: the answer of an unknown pod."""
    return services.NoRunningRun(f"no run is running on pod {pod!r}")


def start(
    request: Request,
    pod: str,
    scenario: str,
    step: str | None,
    at: Any,
    provenance: dict[str, Any],
) -> Response:
    """Start a run, once the credential may use the pod (or create it)."""
    _, new_pod = authorize_pod(request, pod, write=True, create=True)
    started = services.start_run(
        pod,
        scenario,
        step,
        at,
        source_of(request),
        provenance,
        actor=Actor.of(request),
        new_pod=new_pod,
    )
    return started_answer(started)


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Run]):
    """Runs: listed and read by any authenticated client; started, stepped and stopped by event
    senders."""

    queryset = runs()
    serializer_class = s.RunSerializer

    def get_queryset(self) -> QuerySet[Run]:
        # Lists show summaries: a run's steps can be thousands (one per test case).
        found = summaries() if self.action == "list" else runs()
        return found.filter(visible_pods(self.request, "pod__"))

    def get_serializer_class(self) -> type[s.RunSummarySerializer]:
        return s.RunListSerializer if self.action == "list" else s.RunSerializer

    filterset_class = RunFilterSet
    parser_classes = [LimitedJSONParser]
    throttle_scope = "events"  # its reads count as reads

    def _is_event(self) -> bool:
        return self.request.method not in {"GET", "HEAD", "OPTIONS"}

    def get_permissions(self) -> list[BasePermission]:
        return [CanSendEvents()] if self._is_event() else [CanRead()]

    def _run_id(self) -> int:
        """The id of the run an event names, once the credential may use its pod (a run of
        another team's pod is answered as an unknown run)."""
        try:
            run_id = int(self.kwargs["pk"])
        except (TypeError, ValueError):
            raise NotFound("no run has this id") from None
        unknown = services.RunNotFound(f"no run has id {run_id}")
        pod = services.pod_of_run(run_id)
        if pod is None:
            raise unknown
        authorize_pod(self.request, pod, write=True, hidden_as=unknown)
        return run_id

    @extend_schema(responses={200: s.RunListSerializer(many=True), **errors(400, *READ_ERRORS)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: s.RunSerializer, **errors(404, *READ_ERRORS)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Start a run",
        parameters=[SOURCE_PARAMETER],
        request=s.RunStartSerializer,
        responses={201: s.StartedSerializer, **errors(*WRITE_ERRORS, 409)},
    )
    def create(self, request: Request) -> Response:
        data = validated(s.RunStartSerializer, request.data)
        return start(
            request,
            data["pod"],
            data["scenario"],
            data.get("step"),
            data.get("at"),
            s.provenance_of(data),
        )

    @extend_schema(
        methods=["GET"],
        summary="The run's steps",
        request=None,
        responses={200: s.StepSerializer(many=True), **errors(404, *READ_ERRORS)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Enter a step (ends the running one)",
        request=s.RunStepSerializer,
        responses={200: s.RunSummarySerializer, **errors(*WRITE_ERRORS, 404, 409)},
    )
    @action(detail=True, methods=["get", "post"], filterset_class=None, pagination_class=None)
    def steps(self, request: Request, pk: str | None = None) -> Response:
        if request.method == "GET":
            run = self.get_object()
            return Response(s.StepSerializer(run.steps.all(), many=True).data)
        run_id = self._run_id()
        data = validated(s.RunStepSerializer, request.data)
        return run_answer(services.set_step_of(run_id, data["name"], data.get("at")))

    @extend_schema(
        summary="Stop the run",
        request=s.RunStopSerializer,
        responses={200: s.RunSummarySerializer, **errors(*WRITE_ERRORS, 404, 409)},
    )
    @action(detail=True, methods=["post"], filterset_class=None)
    def stop(self, request: Request, pk: str | None = None) -> Response:
        run_id = self._run_id()
        data = validated(s.RunStopSerializer, request.data)
        return run_answer(services.stop_run_by_id(run_id, data.get("at"), actor=Actor.of(request)))


class TimeView(APIView):
    """The server's clock, for clients to measure their offset (no credentials needed)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    # Every client is anonymous here: CI jobs behind one address would share a limit.
    throttle_classes: list[Any] = []

    @extend_schema(responses={200: s.TimeSerializer})
    def get(self, request: Request) -> Response:
        now_ns = time.time_ns()
        return Response(s.time_answer(from_ns(now_ns), now_ns))
