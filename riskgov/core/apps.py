from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Shared pieces: audit trail, roles, domain errors, request ids."""

    name = "riskgov.core"
    label = "core"
    verbose_name = "Core"
