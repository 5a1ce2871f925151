"""WSGI entry point: Django, with the Dash app mounted under /dash/ once dashboards exist."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskgov.config.settings")

application = get_wsgi_application()
