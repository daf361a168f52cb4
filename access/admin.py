"""Admin of API tokens (made here, key shown once; revoked by an action) and the audit log
(read only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.authtoken.models import TokenProxy

from access import tokens
from access.audit import Actor
from access.models import ApiToken, AuditEntry

# DRF's tokens (kept in clear) are no longer read: their rows became hashed tokens (migration
# access 0002), and its admin would make tokens that authenticate nothing.
if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)


class ApiTokenForm(forms.ModelForm):
    expires_in_days = forms.IntegerField(
        required=False, min_value=1, help_text="Days until it expires (blank: never)."
    )

    class Meta:
        model = ApiToken
        fields = ["user", "name", "scope", "team", "pods"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "user", "scope", "team", "expires_at", "revoked_at"]
    list_display += ["last_used_at", "created"]
    list_filter = ["scope", "team", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user", "team"]
    filter_horizontal = ["pods"]
    actions = ["revoke_tokens"]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = ApiTokenForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["user", "name", "scope", "team", "pods", "expires_in_days"]
        return [
            "user",
            "name",
            "prefix",
            "scope",
            "team",
            "pods",
            "created",
            "expires_at",
            "revoked_at",
            "last_used_at",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        # A token's key and rights are fixed when it is made: make a new one instead.
        return ["user", "prefix", "scope", "team", "pods", "created", "last_used_at"]

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        days = form.cleaned_data.get("expires_in_days")
        if days is not None:
            obj.expires_at = timezone.now() + dt.timedelta(days=days)
        key = tokens.new_key()
        tokens.set_key(obj, key)
        super().save_model(request, obj, form, change)
        tokens.record_creation(
            obj, Actor.of_user(request.user), form.cleaned_data.get("pods") or ()
        )
        self.message_user(
            request,
            f"The token's key, shown this once (only its hash is kept): {key}",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected tokens")
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset.filter(revoked_at__isnull=True):
            tokens.revoke(token, Actor.of_user(request.user))
        self.message_user(request, "Revoked: refused from now on by every process.")


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "actor", "action", "pod", "target"]
    list_filter = ["action", "pod"]
    search_fields = ["actor", "target", "pod"]
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
