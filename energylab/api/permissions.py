"""Who may send events, and who may read or change the inventory."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.permissions import BasePermission, DjangoModelPermissions
from rest_framework.request import Request


class CanSendEvents(BasePermission):
    """Any authenticated client; anyone when ``ENERGYLAB_ALLOW_ANONYMOUS_EVENTS`` is on.

    Read at request time so that the setting can change without re-importing views (tests).
    """

    message = "sending events needs a token or HTTP basic credentials"

    def has_permission(self, request: Request, view: Any) -> bool:
        if settings.ALLOW_ANONYMOUS_EVENTS:
            return True
        return bool(request.user and request.user.is_authenticated)


class ModelPermissionsWithView(DjangoModelPermissions):
    """Django's model permissions, including ``view_<model>`` for reads.

    Servers carry BMC addresses and user names: a token that may only send events must not be
    able to list them.
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }
