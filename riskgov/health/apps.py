from django.apps import AppConfig


class HealthConfig(AppConfig):
    """Health runs: Celery tasks over the engine, stored results, publication."""

    name = "riskgov.health"
    label = "health"
    verbose_name = "Health"
