from django.apps import AppConfig


class WebConfig(AppConfig):
    """The committee UI: server-rendered Django views and forms."""

    name = "riskgov.web"
    label = "web"
    verbose_name = "Committee UI"
