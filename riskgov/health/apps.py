from django.apps import AppConfig


class HealthConfig(AppConfig):
    """Health runs: Celery tasks over the engine, stored results, publication."""

    name = "riskgov.health"
    label = "health"
    verbose_name = "Health"

    def ready(self) -> None:
        from django.conf import settings

        from riskgov.engine._parallel import set_default_threads

        threads = getattr(settings, "RISKGOV_ENGINE_THREADS", None)
        if threads:  # several worker processes on one host: their share of its cores each
            set_default_threads(int(threads))
