"""The one place the Celery app is made (cookiecutter-django's ``celery_app``).

Workers: ``celery -A riskgov.config.celery worker``; beat:
``celery -A riskgov.config.celery beat`` (DatabaseScheduler, schedules editable in admin).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskgov.config.settings")

app = Celery("riskgov")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
