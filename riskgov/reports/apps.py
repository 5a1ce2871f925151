from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Scheduled health reports (HTML + PDF, e-mailed to roles) and alert rules.

    ``ready`` connects to ``riskgov.health.signals.run_published`` so that every published
    run is followed by an alert evaluation, without the health app importing this one.
    """

    name = "riskgov.reports"
    label = "reports"
    verbose_name = "Reports and alerts"

    def ready(self) -> None:
        from riskgov.health.signals import run_published
        from riskgov.reports.receivers import on_run_published

        run_published.connect(on_run_published, dispatch_uid="reports.on_run_published")
