"""Admin for pods and servers: a superuser registers a lab without touching the shell."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import Field, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from access import audit
from collectors import health
from collectors.drivers.base import DriverError
from collectors.forms import ServerForm
from collectors.models import HEALTH_FIELDS, BMCType, Pod, Server
from energylab.api.permissions import visible_pods


class TeamScopedAdmin(admin.ModelAdmin):
    """Rows of the pods the user may use: a superuser's all, a staff user's their teams'."""

    pod_field = ""  # "" for pods, "pod__" for rows of a pod

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(visible_pods(request, self.pod_field))

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "pod":
            kwargs["queryset"] = Pod.objects.filter(visible_pods(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class AuditedAdmin(TeamScopedAdmin):
    """Pods and servers: every add, change and delete is in the audit log (access.audit),
    servers edited inline on their pod's page and rows removed by "delete selected" included."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            audit.record_change(_actor(request), "create", obj)
        elif form.changed_data:  # saved with only its inline servers changed: not a change
            audit.record_change(_actor(request), "change", obj, form.changed_data)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        audit.record_change(_actor(request), "delete", obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            audit.record_change(_actor(request), "delete", obj)
        super().delete_queryset(request, queryset)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        for inline_form in formset.deleted_forms:  # recorded while they still have their id
            if inline_form.instance.pk is not None:
                audit.record_change(_actor(request), "delete", inline_form.instance)
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            audit.record_change(_actor(request), "create", obj)
        for obj, fields in formset.changed_objects:
            audit.record_change(_actor(request), "change", obj, fields)


def _actor(request: HttpRequest) -> audit.Actor:
    return audit.Actor.of_user(request.user)


def visible_name(name: str) -> str:
    """The name as stored (as sent), with leading and trailing spaces shown: a pod created by a
    start with a stray space (``"demo-lab "``) must not look like the pod it was meant to be."""
    stripped = name.strip()
    if stripped == name:
        return name
    lead, trail = name[: len(name) - len(name.lstrip())], name[len(name.rstrip()) :]
    return format_html(
        '<span title="{}"><mark>{}</mark>{}<mark>{}</mark></span>',
        f"{len(lead)} leading and {len(trail)} trailing space(s): {name!r}",
        "␣" * len(lead),
        stripped,
        "␣" * len(trail),
    )


_LOGIN = ("host", "port", "username", "password", "clear_password")
#: the connection fields each server type uses (the admin shows only those on a saved server)
FIELDS_BY_TYPE: dict[str, frozenset[str]] = {
    BMCType.IPMI: frozenset({*_LOGIN, "source_settings"}),  # settings: IPMB bridging
    BMCType.REDFISH: frozenset({*_LOGIN, "verify_tls"}),
    BMCType.ILO: frozenset({*_LOGIN, "verify_tls"}),
    BMCType.SNMP: frozenset({*_LOGIN, "privacy_password", "source_settings"}),
    BMCType.MODBUS: frozenset({"host", "port", "source_settings"}),
    BMCType.SHELLY: frozenset({*_LOGIN, "verify_tls", "source_settings"}),
    BMCType.PUSH: frozenset(),
}


#: every connection field; a saved server's page hides those its type does not use
CONNECTION_FIELDS = frozenset({*_LOGIN, "verify_tls", "source_settings", "privacy_password"})


class ServerInline(admin.TabularInline):
    model = Server
    form = ServerForm
    extra = 0
    fields = ["name", "bmc_type", "host", "port", "username", "password", "verify_tls", "active"]
    show_change_link = True


@admin.register(Pod)
class PodAdmin(AuditedAdmin):
    list_display = ["pod_name", "team", "poll_interval", "active", "queue", "server_count"]
    list_display += ["updated"]
    list_filter = ["active", "team", "queue"]
    search_fields = ["name", "description"]
    inlines = [ServerInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Pod]:
        from django.db.models import Count

        return super().get_queryset(request).annotate(_server_count=Count("servers"))

    @admin.display(description="name", ordering="name")
    def pod_name(self, pod: Pod) -> str:
        return visible_name(pod.name)

    @admin.display(description="servers", ordering="_server_count")
    def server_count(self, pod: Pod) -> int:
        return int(getattr(pod, "_server_count", 0))


@admin.register(Server)
class ServerAdmin(AuditedAdmin):
    form = ServerForm
    pod_field = "pod__"
    list_display = [
        "server_name",
        "pod_name",
        "bmc_type",
        "host",
        "active",
        "health",
        "last_reading",
        "last_source",
        "last_success_at",
        "consecutive_failures",
    ]
    list_filter = ["bmc_type", "active", "pod", "dc", "room"]
    search_fields = ["name", "host", "pod__name", "rack"]
    list_select_related = ["pod"]
    # The reading as people read it (0.1 W), and the health as the list shows it.
    readonly_fields = (
        "health",
        *("last_reading" if f == "last_reading_w" else f for f in HEALTH_FIELDS),
    )
    fieldsets = [
        (None, {"fields": ["pod", "name", "bmc_type", "active"]}),
        (
            "BMC",
            {
                "fields": [
                    "host",
                    "port",
                    "username",
                    "password",
                    "clear_password",
                    "verify_tls",
                ]
            },
        ),
        ("Readings", {"fields": ["accuracy_pct", "refresh_s"]}),
        (
            "Meter (SNMP, Modbus, Shelly; IPMI bridging): see docs/sources.md",
            {"fields": ["source_settings", "privacy_password"]},
        ),
        ("Topology", {"fields": ["dc", "room", "row", "rack"]}),
        ("Health", {"fields": readonly_fields}),
    ]

    class Media:
        js = ("collectors/server-type-fields.js",)

    def formfield_for_dbfield(
        self, db_field: Field[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> Any:
        """The type select carries which fields each type uses, for the page's script."""
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "bmc_type" and formfield is not None:
            by_type = {kind: sorted(fields) for kind, fields in FIELDS_BY_TYPE.items()}
            formfield.widget.attrs["data-fields-by-type"] = json.dumps(by_type)
            formfield.widget.attrs["data-connection-fields"] = json.dumps(sorted(CONNECTION_FIELDS))
        return formfield

    def get_fieldsets(self, request: HttpRequest, obj: Server | None = None) -> Any:
        """A new server shows every field; a saved one only those its type uses (fields left
        out of the form keep their stored values). Change the type and save to see the new
        type's fields."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or obj.bmc_type not in FIELDS_BY_TYPE:
            return fieldsets
        hidden = CONNECTION_FIELDS - FIELDS_BY_TYPE[obj.bmc_type]
        kept: list[Any] = []
        for title, options in fieldsets:
            fields: list[Any] = [f for f in options["fields"] if f not in hidden]
            if fields:
                kept.append((title, {**options, "fields": fields}))
        return kept

    actions = ["read_power_now"]

    @admin.action(description="Read power now")
    def read_power_now(self, request: HttpRequest, queryset: QuerySet[Server]) -> None:
        from collectors.polling import read_now

        for server in queryset.select_related("pod")[:50]:
            try:
                reading = read_now(server)
            except DriverError as exc:
                self.message_user(
                    request, f"{server.name}: {type(exc).__name__}: {exc}", messages.ERROR
                )
                continue
            self.message_user(
                request, f"{server.name}: {reading.watts:.1f} W from {reading.source}"
            )

    @admin.display(description="health")
    def health(self, server: Server) -> str:
        state = server.health
        if state in (health.INACTIVE, health.PUSHED):
            return "-"
        if state == health.STALE:
            expected = health.expected_by(server.poll_state())
            return format_html(
                '<span style="color:#b00" title="no poll since {}: does a worker read queue {}?">'
                "stale</span>",
                f"{expected:%Y-%m-%d %H:%M:%S} UTC",
                server.pod.queue,
            )
        if state == health.CIRCUIT_OPEN:
            return format_html(
                '<span style="color:#b00" title="{}">circuit open ({} failures)</span>',
                server.last_error,
                server.consecutive_failures,
            )
        if state == health.FAILING:
            return format_html(
                '<span style="color:#b00" title="{}">failing ({})</span>',
                server.last_error,
                server.consecutive_failures,
            )
        if state == health.OK:
            return format_html('<span style="color:#070">ok</span>')
        return str(state)

    @admin.display(description="last reading (W)", ordering="last_reading_w")
    def last_reading(self, server: Server) -> str:
        # To 0.1 W: what a BMC's reading supports (the API keeps the value as read).
        return "-" if server.last_reading_w is None else f"{server.last_reading_w:.1f}"

    @admin.display(description="pod", ordering="pod__name")
    def pod_name(self, server: Server) -> str:
        return visible_name(server.pod.name)

    @admin.display(description="name", ordering="name")
    def server_name(self, server: Server) -> str:
        return visible_name(server.name)
