"""Top-level URLs: committee UI (with reports and alerts), admin, API."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("riskgov.api.urls")),
    path("", include("riskgov.reports.urls")),
    path("", include("riskgov.alerts.urls")),
    path("", include("riskgov.web.urls")),
]
