from django.apps import AppConfig


class PortfolioConfig(AppConfig):
    """Portfolio margin (RISK_MODEL §14): PM parameters per underlying as a governed kind."""

    name = "riskgov.portfolio"
    label = "portfolio"
    verbose_name = "Portfolio margin"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from riskgov.portfolio import subjects  # noqa: F401  registers the "pm" kind
