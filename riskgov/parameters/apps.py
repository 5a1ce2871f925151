from django.apps import AppConfig


class ParametersConfig(AppConfig):
    """Versioned margin parameters, their validation, diff and venue-table importers."""

    name = "riskgov.parameters"
    label = "parameters"
    verbose_name = "Parameters"

    def ready(self) -> None:
        """Register the ``market`` and ``asset`` governed subject kinds (riskgov.core.subjects)."""
        from riskgov.parameters import subjects  # noqa: F401
