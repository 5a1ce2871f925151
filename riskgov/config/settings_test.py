"""Test settings: the real services of this machine (PostgreSQL, Redis) unless told otherwise.

``DATABASE_URL`` / ``CELERY_BROKER_URL`` from the environment win, so ``.ci/run`` and a
developer can point the suite elsewhere; ``RISKGOV_TEST_SQLITE=1`` runs it on SQLite.
Tasks run eagerly unless a test starts a real worker (tests/health end-to-end tests do).
"""

import os

if os.environ.get("RISKGOV_TEST_SQLITE") == "1":
    os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")
else:
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/riskgov")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
os.environ.setdefault("DEBUG", "1")

from riskgov.config.settings import *  # noqa: E402,F403

RISKGOV_EAGER_BACKGROUND = False  # eager tasks stay synchronous; a test turns it on
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SITE_URL = "http://testserver"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
