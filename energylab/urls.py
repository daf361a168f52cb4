"""URL map: admin, the native API under /api/v1/, the legacy API under /resources/."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
]
