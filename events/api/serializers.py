"""Serializers of the native API: runs, steps, the events that change them, the clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from energylab.api.fields import NameField
from energylab.timestamps import rfc3339
from energylab.validators import validate_printable
from events import provenance as p
from events.api.fields import TimestampField
from events.models import Run, Step
from events.services import RunState, Started

EVENT_START = "start"
EVENT_STEP = "step"
EVENT_STOP = "stop"


class StepSerializer(serializers.ModelSerializer[Step]):
    class Meta:
        model = Step
        fields = ["name", "started_at", "ended_at"]
        read_only_fields = fields


class RunSummarySerializer(serializers.ModelSerializer[Run]):
    """A run without its list of steps: what event answers and run lists show.

    ``step`` is the running step's name (or null), ``step_count`` how many steps it has. An
    answer's size must not grow with the run: a pytest session recorded test by test has
    thousands of steps, and every event would otherwise send them all back.
    """

    pod = serializers.CharField(source="pod.name", read_only=True)
    step = serializers.SerializerMethodField()
    step_count = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = [
            "id",
            "pod",
            "scenario",
            "source",
            "started_at",
            "ended_at",
            "received_at",
            "step",
            "step_count",
            "abandoned",
        ]
        read_only_fields = fields

    def get_step(self, run: Run) -> str | None:
        if hasattr(run, "running_step"):  # annotated by the views' queryset
            return run.running_step
        running = run.steps.filter(ended_at__isnull=True).values_list("name", flat=True)
        return next(iter(running), None)

    def get_step_count(self, run: Run) -> int:
        if hasattr(run, "steps_counted"):
            return int(run.steps_counted)
        return run.steps.count()


def run_summary(run: RunState) -> dict[str, Any]:
    """What :class:`RunSummarySerializer` answers for the run an event left, without building a
    serializer and its fields for every event.

    A test holds the two to the same answers.
    """
    return {
        "id": run.id,
        "pod": run.pod,
        "scenario": run.scenario,
        "source": run.source,
        # As DRF's DateTimeField writes them with this project's settings, without its
        # per-call settings lookups (a twentieth of an event's Python time).
        "started_at": rfc3339(run.started_at),
        "ended_at": rfc3339(run.ended_at) if run.ended_at else None,
        "received_at": rfc3339(run.received_at),
        "step": run.step,
        "step_count": run.step_count,
        # An event's run is running or ended by that event, never one closed for its silence.
        "abandoned": False,
    }


def started_summary(started: Started) -> dict[str, Any]:
    """What :class:`StartedSerializer` answers, as :func:`run_summary` does."""
    previous = started.ended_previous
    return {
        **run_summary(started.run),
        "ended_previous": run_summary(previous) if previous is not None else None,
        "pod_created": started.pod_created,
        "similar_pods": list(started.similar_pods),
    }


class RunListSerializer(RunSummarySerializer):
    """A run in the run list: its summary and where it comes from (``commit``, ``branch``,
    ``ci_url``, ``ci_system``, ``build``: blank when not known; ``labels``: an object)."""

    class Meta(RunSummarySerializer.Meta):
        fields = [*RunSummarySerializer.Meta.fields, *p.FIELDS]
        read_only_fields = fields


class RunSerializer(RunListSerializer):
    """A run with its provenance and its steps, in time order (``GET /runs/{id}/``)."""

    steps = StepSerializer(many=True, read_only=True)

    class Meta(RunListSerializer.Meta):
        fields = [*RunListSerializer.Meta.fields, "steps"]
        read_only_fields = fields

    def get_step(self, run: Run) -> str | None:
        # Steps are prefetched by the views: look in memory rather than query again.
        running = [s for s in run.steps.all() if s.ended_at is None]
        return running[-1].name if running else None

    def get_step_count(self, run: Run) -> int:
        return len(run.steps.all())


class StartedSerializer(RunSummarySerializer):
    """The started run, and the run its start ended (null when none was running).

    ``pod_created`` says the start named an unknown pod and created it; ``similar_pods`` are
    then the known pods with the closest names (a typo's likely meaning), else empty.
    """

    ended_previous = serializers.SerializerMethodField()
    pod_created = serializers.SerializerMethodField()
    similar_pods = serializers.SerializerMethodField()

    class Meta(RunSummarySerializer.Meta):
        fields = [
            *RunSummarySerializer.Meta.fields,
            "ended_previous",
            "pod_created",
            "similar_pods",
        ]
        read_only_fields = fields

    def get_pod_created(self, run: Run) -> bool:
        return bool(self.context.get("pod_created", False))

    def get_similar_pods(self, run: Run) -> list[str]:
        return list(self.context.get("similar_pods", ()))

    @extend_schema_field(RunSummarySerializer(allow_null=True))
    def get_ended_previous(self, run: Run) -> dict[str, Any] | None:
        previous: Run | None = self.context.get("ended_previous")
        return RunSummarySerializer(previous).data if previous is not None else None


# -- requests -------------------------------------------------------------------------------------


class AtMixin(serializers.Serializer):
    at = TimestampField(
        required=False,
        help_text="When the event happened on the client. Absent: when the server receives it.",
    )


def _text(max_length: int, help_text: str) -> NameField:
    # A JSON string only (NameField): a build number sent as 17.5 is a mistyped field.
    return NameField(
        required=False,
        allow_blank=True,
        max_length=max_length,
        validators=[validate_printable],
        help_text=help_text,
    )


class ProvenanceMixin(serializers.Serializer):
    """Where the run comes from (docs/ci.md); each field optional, blank when not known."""

    commit = _text(p.COMMIT_MAX_LENGTH, "The commit under test (a git object name).")
    branch = _text(p.BRANCH_MAX_LENGTH, "The branch (or other ref) under test.")
    ci_url = NameField(
        required=False,
        allow_blank=True,
        max_length=p.CI_URL_MAX_LENGTH,
        validators=[p.validate_ci_url],
        help_text="The CI job's page: an http(s) URL.",
    )
    ci_system = _text(
        p.CI_SYSTEM_MAX_LENGTH, "The CI system: github, gitlab, jenkins, zuul, or another name."
    )
    build = _text(p.BUILD_MAX_LENGTH, "The CI's build or pipeline number.")
    labels = serializers.DictField(
        child=NameField(
            allow_blank=True,
            max_length=p.LABEL_VALUE_MAX_LENGTH,
            validators=[validate_printable],
        ),
        required=False,
        validators=[p.validate_labels],
        help_text=f"Free labels: an object of at most {p.LABELS_MAX} names (1-"
        f"{p.LABEL_KEY_MAX_LENGTH} printable characters, no `:`) to strings (at most "
        f"{p.LABEL_VALUE_MAX_LENGTH} printable characters).",
    )


def provenance_of(data: dict[str, Any]) -> dict[str, Any]:
    """The provenance fields of validated start data, as :func:`services.start_run` takes them."""
    return {name: data[name] for name in p.FIELDS if name in data}


class StartEventSerializer(AtMixin, ProvenanceMixin):
    type = serializers.ChoiceField(choices=[EVENT_START])
    pod = NameField(help_text="The pod's name; an unknown pod is created.")
    scenario = NameField()
    step = NameField(required=False, allow_null=True, help_text="The first step, if any.")


class StepEventSerializer(AtMixin):
    type = serializers.ChoiceField(choices=[EVENT_STEP])
    pod = NameField()
    step = NameField(help_text="The step the pod's running run enters.")


class StopEventSerializer(AtMixin):
    type = serializers.ChoiceField(choices=[EVENT_STOP])
    pod = NameField()


EVENT_SERIALIZERS: dict[str, type[serializers.Serializer]] = {
    EVENT_START: StartEventSerializer,
    EVENT_STEP: StepEventSerializer,
    EVENT_STOP: StopEventSerializer,
}


class EventTypeSerializer(serializers.Serializer):
    """Reads only ``type``, to pick the serializer of the rest."""

    type = serializers.ChoiceField(choices=list(EVENT_SERIALIZERS))


class RunStartSerializer(AtMixin, ProvenanceMixin):
    pod = NameField(help_text="The pod's name; an unknown pod is created.")
    scenario = NameField()
    step = NameField(required=False, allow_null=True)


class RunStepSerializer(AtMixin):
    name = NameField()


class RunStopSerializer(AtMixin):
    pass


class TimeSerializer(serializers.Serializer):
    now = serializers.DateTimeField()
    now_ns = serializers.IntegerField(help_text="Nanoseconds since the epoch (UTC).")


def time_answer(now: dt.datetime, now_ns: int) -> dict[str, Any]:
    return TimeSerializer({"now": now, "now_ns": now_ns}).data


# -- POST /api/v1/measurements/: the schema only (events.api.pushbodies decodes the bodies) -----


class PushedMeasurementSerializer(serializers.Serializer):
    pod = NameField(help_text="The pod (environment); created if unknown.")
    server = NameField(help_text="The server; an unknown one becomes a push server of the pod.")
    sensor = NameField(required=False, default="power", max_length=100)
    unit = NameField(required=False, default="W", max_length=32)
    value = serializers.FloatField(
        help_text="Power (sensor `power` or unit `W`): 0 to 10 MW; other sensors: at most 1e9 "
        "either way. A numeric string is taken too."
    )
    time = serializers.IntegerField(
        required=False,
        min_value=946_684_800_000_000_000,
        help_text="Integer nanoseconds since the epoch (a string of digits too), kept to the "
        "nanosecond; default: when the body was received (undated measurements of one body "
        "1 ns apart, in their order).",
    )


class MeasurementsBulkSerializer(serializers.Serializer):
    # A ListField (not many=True), as the legacy body's: errors by index.
    measurements = serializers.ListField(child=PushedMeasurementSerializer(), max_length=100_000)


class MeasurementsAnswerSerializer(serializers.Serializer):
    received = serializers.IntegerField(help_text="Measurements in the body.")
    new = serializers.IntegerField(
        help_text="Measurements not received before (same server, sensor and time to the "
        "nanosecond): a resent body counts 0."
    )
