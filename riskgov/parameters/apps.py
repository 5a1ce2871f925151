from django.apps import AppConfig


class ParametersConfig(AppConfig):
    """Versioned margin parameters, their validation, diff and venue-table importers."""

    name = "riskgov.parameters"
    label = "parameters"
    verbose_name = "Parameters"
