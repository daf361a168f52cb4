from __future__ import annotations

from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access: API tokens and the audit log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from access import grants, pods, version
        from energylab.api.permissions import register

        register(pods.pod_by_name, grants.grant_of_user)
        version.connect_signals()
