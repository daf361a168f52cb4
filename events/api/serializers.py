"""Serializers of the native API: runs, steps, the events that change them, the clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from collectors.api.fields import NameField
from events.api.fields import TimestampField
from events.models import Run, Step

EVENT_START = "start"
EVENT_STEP = "step"
EVENT_STOP = "stop"


class StepSerializer(serializers.ModelSerializer[Step]):
    class Meta:
        model = Step
        fields = ["name", "started_at", "ended_at"]
        read_only_fields = fields


class RunSerializer(serializers.ModelSerializer[Run]):
    """A run as every answer shows it; ``step`` is the running step's name (or null)."""

    pod = serializers.CharField(source="pod.name", read_only=True)
    step = serializers.SerializerMethodField()
    steps = StepSerializer(many=True, read_only=True)

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
            "steps",
        ]
        read_only_fields = fields

    def get_step(self, run: Run) -> str | None:
        # Steps are prefetched by the views: look in memory rather than query once per run.
        running = [s for s in run.steps.all() if s.ended_at is None]
        return running[-1].name if running else None


class StartedSerializer(RunSerializer):
    """The started run, and the run its start ended (null when none was running)."""

    ended_previous = serializers.SerializerMethodField()

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "ended_previous"]
        read_only_fields = fields

    @extend_schema_field(RunSerializer(allow_null=True))
    def get_ended_previous(self, run: Run) -> dict[str, Any] | None:
        previous: Run | None = self.context.get("ended_previous")
        return RunSerializer(previous).data if previous is not None else None


# -- requests -------------------------------------------------------------------------------------


class AtMixin(serializers.Serializer):
    at = TimestampField(
        required=False,
        help_text="When the event happened on the client. Absent: when the server receives it.",
    )


class StartEventSerializer(AtMixin):
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


class RunStartSerializer(AtMixin):
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


class DetailSerializer(serializers.Serializer):
    """Every refusal that is not about given fields."""

    detail = serializers.CharField()


def time_answer(now: dt.datetime, now_ns: int) -> dict[str, Any]:
    return TimeSerializer({"now": now, "now_ns": now_ns}).data
