"""Django project configuration: settings, URLs, WSGI/ASGI entry points and the Celery app.

The Celery app is bound here, as cookiecutter-django does: importing Django's settings
package imports ``riskgov.config.celery``, so the project's app is the current and default
app in every thread (``shared_task`` proxies and ``delay_on_commit`` resolve to it, never to
an unconfigured default app in a server's worker thread).
"""

from riskgov.config.celery import app as celery_app

__all__ = ("celery_app",)
