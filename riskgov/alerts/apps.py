from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """Alert rules, their evaluation, firings and notification outbox.

    ``ready`` connects to ``riskgov.health.signals.run_published`` so that every published
    run is followed by an alert evaluation, without the health app importing this one.
    """

    name = "riskgov.alerts"
    label = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from riskgov.alerts.receivers import on_run_published
        from riskgov.health.signals import run_published

        run_published.connect(on_run_published, dispatch_uid="alerts.on_run_published")
