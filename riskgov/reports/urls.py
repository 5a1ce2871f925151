"""Committee UI URLs of reports (included by ``riskgov.config.urls``)."""

from django.urls import path

from riskgov.reports import views

urlpatterns = [
    path("reports/", views.reports_page, name="reports"),
    path("reports/send-now/", views.report_send_now_view, name="report-send-now"),
    path("reports/<int:pk>/html/", views.report_html, name="report-html"),
    path("reports/<int:pk>/pdf/", views.report_pdf, name="report-pdf"),
]
