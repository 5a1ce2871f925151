"""WSGI entry point: Django, with the Dash pages mounted under /dash/."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskgov.config.settings")

django_application = get_wsgi_application()

from dashboards.app import mount  # noqa: E402 — Django must be set up first

application = mount(django_application)
