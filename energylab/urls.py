"""URL map: admin, the native API under /api/v1/, the legacy API under /resources/, InfluxDB's
/write and /ping."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from energylab.api.views import not_found
from energylab.health import healthz
from energylab.metrics import metrics_view
from events.reports.badges import badge

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("events.api.urls")),
    path("api/v1/", include("collectors.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("resources/", include("events.api.legacy.urls")),
    # API clients get a JSON 404 for unknown API paths, even under DEBUG (HTML pages otherwise).
    re_path(r"^(?:api|resources)/", not_found),
    path("metrics", metrics_view, name="metrics"),
    path("", include("events.api.influx.urls")),
    path("healthz", healthz, name="healthz"),
    path("runs/", include("events.reports.urls")),
    re_path(r"^badges/(?P<rest>.+/.+)\.svg$", badge, name="badge"),
    path("", RedirectView.as_view(pattern_name="events:run-list", permanent=False)),
]
