"""Routes of the legacy API, under ``/resources/``.

Names may contain ``/``: the ``name`` converter takes them whole, and the ``/step`` route comes
first so that its suffix still routes (an environment named ``x/step`` cannot be stepped).
"""

from __future__ import annotations

from django.urls import path, register_converter

from events.api.legacy import views


class NameConverter:
    """Like ``path``, but also across line breaks, so that they reach the view and get a 400
    naming the field, instead of an HTML 404."""

    regex = r"[\s\S]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(NameConverter, "name")

urlpatterns = [
    path("monitoring/ping", views.PingView.as_view(), name="legacy-ping"),
    path(
        "recorders/environment/<name:environment>/step",
        views.RecorderStepView.as_view(),
        name="legacy-recorder-step",
    ),
    path(
        "recorders/environment/<name:environment>",
        views.RecorderView.as_view(),
        name="legacy-recorder",
    ),
    path(
        "equipments/<name:equipment>/measurements",
        views.EquipmentMeasurementsView.as_view(),
        name="legacy-measurements",
    ),
    path(
        "servers/<name:server>/consumption",
        views.ServerConsumptionView.as_view(),
        name="legacy-consumption",
    ),
]
