from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Scheduled health reports (HTML + PDF, e-mailed to roles); alerts are ``riskgov.alerts``."""

    name = "riskgov.reports"
    label = "reports"
    verbose_name = "Reports"
