"""Routes of the InfluxDB 1.x compatible endpoints, at the server's root (where agents look)."""

from __future__ import annotations

from django.urls import path

from events.api.influx import views

urlpatterns = [
    path("write", views.WriteView.as_view(), name="influx-write"),
    path("ping", views.PingView.as_view(), name="influx-ping"),
]
