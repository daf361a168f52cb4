"""API tokens (stored as a digest, never in clear) and the audit log."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils import timezone

from energylab.api.permissions import SCOPE_ALL, SCOPE_EVENTS, SCOPE_READ


class TokenScope(models.TextChoices):
    ALL = SCOPE_ALL, "everything the user may do"
    EVENTS = SCOPE_EVENTS, "events and measurements only (CI, collectors)"
    READ = SCOPE_READ, "read only (dashboards)"


class ApiToken(models.Model):
    """A credential for ``Authorization: Token <key>``: the key is shown once, when it is made;
    only its SHA-256 is kept (a key has 256 random bits: a slow hash adds nothing)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=150, help_text="What the token is for (CI job, dashboard).")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=12, editable=False, help_text="The key's first characters, to recognise it."
    )
    scope = models.CharField(max_length=8, choices=TokenScope.choices, default=TokenScope.ALL)
    team = models.ForeignKey(
        Group,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="api_tokens",
        help_text="Acts only for this team of its user (blank: all the user's teams).",
    )
    pods = models.ManyToManyField(
        "collectors.Pod",
        blank=True,
        related_name="api_tokens",
        help_text="Acts only on these pods (none: any pod of its teams).",
    )
    created = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Blank: never expires.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Written at most once a minute."
    )

    class Meta:
        ordering = ["-created"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_valid(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class AuditAction(models.TextChoices):
    RUN_START = "run.start", "run started"
    RUN_STOP = "run.stop", "run stopped"
    POD_CREATE = "pod.create", "pod added"
    POD_CHANGE = "pod.change", "pod changed"
    POD_DELETE = "pod.delete", "pod deleted"
    SERVER_CREATE = "server.create", "server added"
    SERVER_CHANGE = "server.change", "server changed"
    SERVER_DELETE = "server.delete", "server deleted"
    TOKEN_CREATE = "token.create", "token created"
    TOKEN_REVOKE = "token.revoke", "token revoked"


class AuditEntry(models.Model):
    """Who did what, when: written by the services that do it, never changed afterwards."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    actor = models.CharField(
        max_length=320, help_text="The user and token (kept when they are deleted)."
    )
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    pod = models.CharField(max_length=255, blank=True)
    target = models.CharField(max_length=320, help_text="What was acted on: a run, a server…")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["pod", "at"], name="audit_pod_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target}"
