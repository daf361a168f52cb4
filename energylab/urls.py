"""URL map: admin, the native API under /api/v1/, the legacy API under /resources/."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("events.api.urls")),
    path("api/v1/", include("collectors.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("resources/", include("events.api.legacy.urls")),
    path("runs/", include("events.urls")),
    path("", RedirectView.as_view(pattern_name="events:run-list", permanent=False)),
]
