"""Views of the legacy ``/resources`` API.

Environment names in paths: Functest's SDK quotes them with ``quote_plus`` (a space arrives as
``+``) while other clients send ``%20``; both must reach the same pod, so a ``+`` in the
environment segment means a space. A literal ``+`` must be sent as ``%2B``: that is only told
apart when the server passes the raw request line (gunicorn's ``RAW_URI``, uWSGI's
``REQUEST_URI``); behind Django's development server a ``%2B`` is a space too.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, unquote_plus, unquote_to_bytes, urlsplit

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.audit import Actor
from energylab.api.fields import NAME_PATTERN
from energylab.api.parsers import AnyTypeJSONParser, LimitedJSONParser
from energylab.api.permissions import (
    CanSendEvents,
    CanSendEventsOrReadThem,
    authorize_pod,
    grant_of,
    may_name,
)
from energylab.api.schema import WRITE_ERRORS, errors
from energylab.services import ServiceUnavailable, check_database
from energylab.validators import NAME_MAX_LENGTH, validate_name
from events import services
from events.api import pushbodies
from events.api.legacy import serializers as s
from events.api.views import validated
from events.ingest.buffer import Sample
from events.models import Run, RunSource

TAG = "legacy"
ENVIRONMENT_MARKER = "/recorders/environment/"
STEP_SUFFIX = "/step"

ENVIRONMENT_PARAMETER = OpenApiParameter(
    "environment",
    location=OpenApiParameter.PATH,
    pattern=NAME_PATTERN.replace("*$", "+$"),
    description="The pod's name; `+` means a space (send a literal `+` as `%2B`).",
)


def server_parameter(name: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        location=OpenApiParameter.PATH,
        pattern=NAME_PATTERN.replace("*$", "+$"),
        description="The server's name (created as a push server if unknown).",
    )


def environment_name(request: Request, captured: str, suffix: str = "") -> str:
    """The pod named by the path's environment segment (see the module's docstring)."""
    raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    if raw:
        raw_path = urlsplit(raw).path
        start = raw_path.find(ENVIRONMENT_MARKER)
        if start >= 0:
            segment = raw_path[start + len(ENVIRONMENT_MARKER) :]
            if suffix and segment.endswith(suffix):
                segment = segment[: -len(suffix)]
            # Use the raw line only if it is the request Django routed (proxies may rewrite it).
            if unquote(segment) == captured:
                return checked_name("environment", unquote_plus(segment))
    return checked_name("environment", captured.replace("+", " "))


def checked_name(field: str, name: str) -> str:
    """:raises ValidationError: (400) a name the models would refuse, naming ``field``."""
    try:
        validate_name(name)
    except DjangoValidationError as exc:
        raise ValidationError({field: exc.messages}) from None
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError({field: [f"may not be longer than {NAME_MAX_LENGTH} characters"]})
    return name


def scenario_answer(environment: str, scenario: str, step: str | None) -> Response:
    return Response({"environment": environment, "scenario": scenario, "step": step})


def nothing_runs_on(env: str) -> NotFound:
    """What a pod of another team gets: the answer of an unknown environment."""
    return NotFound(f"no scenario is running on {env!r}")


def nothing_ran_on(env: str) -> NotFound:
    return NotFound(f"no scenario was running on {env!r} at that time")


def current_step_name(run: Run) -> str | None:
    step = services.current_step(run)
    return step.name if step else None


class LegacyView(APIView):
    """Event senders only (anyone with ``ENERGYLAB_ALLOW_ANONYMOUS_EVENTS``), JSON whatever the
    Content-Type says."""

    permission_classes = [CanSendEvents]
    parser_classes = [LimitedJSONParser, AnyTypeJSONParser]
    throttle_scope = "events"  # GET counts as a read

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        check_path_encoding(request, kwargs)


def check_path_encoding(request: Request, names: dict[str, Any]) -> None:
    """:raises ValidationError: (400) the path's percent-escapes are not UTF-8, naming the name.

    Django keeps such bytes as their escapes (``%C3``, an encoded surrogate ``%ED%A0%80``), so
    the view would create a pod named by that literal text. The raw request line tells them from
    a name holding ``%C3`` (sent as ``%25C3``); without it (see the module's docstring), a name
    whose escapes would not decode is refused as ambiguous.
    """
    raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    sent = {"path": urlsplit(raw).path} if raw else names
    for field, value in sent.items():
        try:
            unquote_to_bytes(str(value)).decode("utf-8")
        except UnicodeDecodeError:
            field = next(iter(names), field)
            raise ValidationError(
                {field: ["is not valid UTF-8 once its percent-escapes are decoded"]}
            ) from None


class PingView(APIView):
    """Up while the database answers. Open to all, so clients can tell "down" from "refused"."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []  # monitors probe it without credentials, from one address

    @extend_schema(
        tags=[TAG],
        operation_id="legacy_ping",
        responses={200: s.StatusSerializer, 503: s.StatusSerializer},
    )
    def get(self, request: Request) -> Response:
        try:
            check_database()
        except ServiceUnavailable as exc:
            return Response(
                {"status": "KO", "detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE
            )
        return Response({"status": "OK"})


class RecorderView(LegacyView):
    permission_classes = [CanSendEventsOrReadThem]

    @extend_schema(
        tags=[TAG],
        operation_id="legacy_recorder_get",
        parameters=[ENVIRONMENT_PARAMETER, s.LegacyTimeQuerySerializer],
        responses={200: s.LegacyScenarioSerializer, **errors(400, 401, 403, 404, 429, 503)},
    )
    def get(self, request: Request, environment: str) -> Response:
        """The scenario running on the environment (or, with ``time``, running then)."""
        env = environment_name(request, environment)
        at = validated(s.LegacyTimeQuerySerializer, request.query_params).get("time")
        # The old recorder's clients read the running scenario with the credential they send
        # events with: an events-only token may, as a write would; a read-only one reads.
        hidden = nothing_runs_on(env) if at is None else nothing_ran_on(env)
        authorize_pod(request, env, write=not grant_of(request).may_read, hidden_as=hidden)
        if at is None:
            run = services.running_run(env)
            if run is None:
                raise NotFound(f"no scenario is running on {env!r}")
            return scenario_answer(env, run.scenario, current_step_name(run))
        found = services.run_at(env, at)
        if found is None:
            raise nothing_ran_on(env)
        run, step = found
        return scenario_answer(env, run.scenario, step.name if step else None)

    @extend_schema(
        tags=[TAG],
        operation_id="legacy_recorder_start",
        parameters=[ENVIRONMENT_PARAMETER],
        request={"application/json": s.LegacyStartSerializer},
        responses={200: s.LegacyStartedSerializer, **errors(*WRITE_ERRORS, 409)},
    )
    def post(self, request: Request, environment: str) -> Response:
        """Start a scenario in a step (replacing the one running)."""
        env = environment_name(request, environment)
        data = validated(s.LegacyStartSerializer, request.data)
        _, new_pod = authorize_pod(request, env, write=True, create=True)
        started = services.start_run(
            env,
            data["scenario"],
            data["step"],
            data.get("time"),
            RunSource.LEGACY,
            actor=Actor.of(request),
            new_pod=new_pod,
        )
        answer = scenario_answer(env, started.run.scenario, data["step"])
        answer.data.update(pod_created=started.pod_created, similar_pods=list(started.similar_pods))
        return answer

    @extend_schema(
        tags=[TAG],
        operation_id="legacy_recorder_stop",
        parameters=[ENVIRONMENT_PARAMETER, s.LegacyTimeQuerySerializer],
        request=None,
        responses={
            200: s.LegacyScenarioSerializer,
            **errors(400, 401, 403, 404, 409, 429, 503),
        },
    )
    def delete(self, request: Request, environment: str) -> Response:
        """Stop the running scenario; answers it as it was."""
        env = environment_name(request, environment)
        at = validated(s.LegacyTimeQuerySerializer, request.query_params).get("time")
        authorize_pod(request, env, write=True, hidden_as=nothing_runs_on(env))
        try:
            run = services.stop_run(env, at, actor=Actor.of(request))
        except services.NoRunningRun:
            raise NotFound(f"no scenario is running on {env!r}") from None
        return scenario_answer(env, run.scenario, run.ended_step)


class RecorderStepView(LegacyView):
    @extend_schema(
        tags=[TAG],
        operation_id="legacy_recorder_step",
        parameters=[ENVIRONMENT_PARAMETER],
        request={"application/json": s.LegacyStepSerializer},
        responses={200: s.LegacyScenarioSerializer, **errors(*WRITE_ERRORS, 404, 409)},
    )
    def post(self, request: Request, environment: str) -> Response:
        """Change the running scenario's step."""
        env = environment_name(request, environment, STEP_SUFFIX)
        data = validated(s.LegacyStepSerializer, request.data)
        authorize_pod(request, env, write=True, hidden_as=nothing_runs_on(env))
        try:
            run = services.set_step(env, data["step"], data.get("time"))
        except services.NoRunningRun:
            raise NotFound(f"no scenario is running on {env!r}") from None
        return scenario_answer(env, run.scenario, data["step"])


class MeasurementsView(LegacyView):
    """Bodies decoded by :mod:`events.api.pushbodies` (no serializer per measurement); the
    serializers named in the schema describe them."""

    throttle_scope = "measurements"

    def answer(
        self, pod: str, server: str, samples: list[Sample], topology: dict[str, str]
    ) -> Response:
        _, new_pod = authorize_pod(self.request, pod, write=True, create=True)
        try:
            new = services.record_measurements(
                pod, server, samples, topology=topology, new_pod=new_pod
            )
        except services.ServerOfAnotherPod as exc:
            if may_name(self.request, exc.pod):
                raise
            # The other pod is not the client's: do not name it.
            raise services.ServerOfAnotherPod(
                exc.pod, f"server {server!r} belongs to another pod than {pod!r}"
            ) from None
        return Response({"status": "OK", "received": len(samples), "new": new})


class EquipmentMeasurementsView(MeasurementsView):
    @extend_schema(
        tags=[TAG],
        operation_id="legacy_equipment_measurements",
        parameters=[server_parameter("equipment")],
        request={"application/json": s.MeasurementsSerializer},
        responses={200: s.PushAnswerSerializer, **errors(*WRITE_ERRORS, 409)},
    )
    def post(self, request: Request, equipment: str) -> Response:
        """Measurements of one server (created as a push server if unknown).

        A measurement already received (same server, sensor and time to the nanosecond) is not
        stored again: ``new`` counts those that were not.
        """
        name = checked_name("server", equipment)
        body = pushbodies.decode(request, pushbodies.MeasurementsBody)
        pod, topology, samples = pushbodies.measurements_samples(body, name, RunSource.LEGACY)
        return self.answer(pod, name, samples, topology)


class ServerConsumptionView(MeasurementsView):
    @extend_schema(
        tags=[TAG],
        operation_id="legacy_server_consumption",
        parameters=[server_parameter("server")],
        deprecated=True,
        request={"application/json": s.ConsumptionSerializer},
        responses={200: s.PushAnswerSerializer, **errors(*WRITE_ERRORS, 409)},
    )
    def post(self, request: Request, server: str) -> Response:
        """One power reading in watts (the pre-2022 collectors' path)."""
        name = checked_name("server", server)
        body = pushbodies.decode(request, pushbodies.ConsumptionBody)
        samples = pushbodies.consumption_samples(body, name, RunSource.LEGACY)
        return self.answer(samples[0].pod, name, samples, {})
