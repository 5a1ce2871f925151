"""Committee UI URL of the alerts (included by ``riskgov.config.urls``)."""

from django.urls import path

from riskgov.alerts import views

urlpatterns = [
    path("alerts/", views.alerts_page, name="alerts"),
]
