"""ASGI entry point (Django only; the Dash pages are served by the WSGI application)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskgov.config.settings")

application = get_asgi_application()
