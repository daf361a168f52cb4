"""Serializers of pods and servers. A server's BMC password is write-only, always."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from collectors.health import STATES
from collectors.models import HEALTH_FIELDS, Pod, Server
from energylab.api.fields import IdRelatedField, NameField
from energylab.api.permissions import grant_of, visible_pods
from energylab.validators import validate_name


class PodSerializer(serializers.ModelSerializer[Pod]):
    name = NameField(validators=[validate_name, UniqueValidator(queryset=Pod.objects.all())])
    team = serializers.SlugRelatedField(
        slug_field="name",
        queryset=Group.objects.all(),
        allow_null=True,
        required=False,
        help_text="The team (Django group) whose users and tokens may use the pod; null: "
        "unassigned. A superuser may name any team; others one of their own.",
    )

    def validate_team(self, team: Group | None) -> Group | None:
        request = self.context.get("request")
        if request is None:
            return team
        grant = grant_of(request)
        if grant.everything:
            return team
        if team is None and not grant.teamless:
            raise serializers.ValidationError("name one of your teams")
        if team is not None and team.pk not in grant.teams:
            raise serializers.ValidationError("may only be one of your teams")
        return team

    class Meta:
        model = Pod
        fields = [
            "id",
            "name",
            "description",
            "poll_interval",
            "active",
            "queue",
            "idle_baseline_w",
            "team",
            "accepts_anonymous_events",
            "created",
            "updated",
        ]
        read_only_fields = ["created", "updated"]


def _secret_field(help_text: str) -> serializers.CharField:
    """A credential a server is given: write-only, kept as sent (no trimming), blank keeps the
    stored one and null removes it (the serializer's ``update`` does both)."""
    return serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        allow_null=True,
        trim_whitespace=False,
        max_length=1024,
        style={"input_type": "password"},
        help_text=help_text,
    )


class ServerSerializer(serializers.ModelSerializer[Server]):
    """A server. ``password`` is accepted, encrypted, and never shown (``has_password`` is)."""

    serializer_related_field = IdRelatedField
    name = NameField(validators=[validate_name, UniqueValidator(queryset=Server.objects.all())])
    pod_name = serializers.CharField(source="pod.name", read_only=True)
    password = _secret_field(
        "The BMC password; encrypted at rest, never returned. Blank or absent on update keeps "
        "the stored one; null removes it."
    )
    has_password = serializers.SerializerMethodField()
    privacy_password = _secret_field(
        "SNMPv3 privacy pass phrase; as password: encrypted, never returned, blank keeps it, "
        "null removes it."
    )
    health = serializers.ChoiceField(
        choices=list(STATES),
        read_only=True,
        help_text="`stale`: not polled for 3 poll intervals (no worker reads the pod's queue?); "
        "`failing` / `circuit open`: its BMC fails; `inactive`; `push`; `not polled yet`; `ok`.",
    )

    class Meta:
        model = Server
        fields = [
            "id",
            "pod",
            "pod_name",
            "name",
            "bmc_type",
            "host",
            "port",
            "username",
            "password",
            "has_password",
            "privacy_password",
            "verify_tls",
            "source_settings",
            "active",
            "accuracy_pct",
            "refresh_s",
            "dc",
            "room",
            "row",
            "rack",
            "health",
            *HEALTH_FIELDS,
            "created",
            "updated",
        ]
        read_only_fields = ["health", *HEALTH_FIELDS, "created", "updated"]

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        request = self.context.get("request")
        pod = fields.get("pod")
        if request is not None and isinstance(pod, IdRelatedField):
            # A server goes only into a pod the client may use: another team's is "not found".
            pod.queryset = Pod.objects.filter(visible_pods(request))  # type: ignore[arg-type]
        return fields

    def get_has_password(self, server: Server) -> bool:
        return bool(server.password_encrypted)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The model's cross-field rules (a polled server needs a host...) live in clean().
        candidate = Server(
            **{
                field: attrs.get(field, getattr(self.instance, field, None))
                for field in ("bmc_type", "host", "source_settings")
            }
        )
        try:
            candidate.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Server:
        password = validated_data.pop("password", None)
        privacy_password = validated_data.pop("privacy_password", None)
        server = Server(**validated_data)
        if password:
            server.password = password
        if privacy_password:
            server.privacy_password = privacy_password
        server.save()
        return server

    def update(self, instance: Server, validated_data: dict[str, Any]) -> Server:
        marker = object()
        password = validated_data.pop("password", marker)
        if password is None:
            instance.password = ""
        elif password is not marker and password != "":
            instance.password = str(password)
        privacy_password = validated_data.pop("privacy_password", marker)
        if privacy_password is None:
            instance.privacy_password = ""
        elif privacy_password is not marker and privacy_password != "":
            instance.privacy_password = str(privacy_password)
        return super().update(instance, validated_data)
