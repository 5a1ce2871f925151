from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Shared pieces: audit trail, roles, domain errors, request ids."""

    name = "riskgov.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from riskgov.core import auth_audit, governance_audit

        auth_audit.connect()
        governance_audit.connect()
