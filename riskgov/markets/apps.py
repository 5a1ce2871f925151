from django.apps import AppConfig


class MarketsConfig(AppConfig):
    """Assets, markets and their daily price history."""

    name = "riskgov.markets"
    label = "markets"
    verbose_name = "Markets"
