"""Settings in both modes: the embedded default and the full stack; production hardening."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], 'eager': s.CELERY_TASK_ALWAYS_EAGER, "
    "'broker': s.CELERY_BROKER_URL, 'mode': s.RISKGOV_MODE, 'debug': s.DEBUG}))"
)


def run(env_extra, code=PROBE, args=None):
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "CELERY_BROKER_URL",
            "CELERY_TASK_ALWAYS_EAGER",
            "DEBUG",
            "SECRET_KEY",
            "CELERY_RESULT_BACKEND",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    env["DJANGO_SETTINGS_MODULE"] = "riskgov.config.settings"
    env["RISKGOV_VAR_DIR"] = str(REPO / "var" / "settings-probe")
    env.update(env_extra)
    cmd = [sys.executable, "-c", code] if args is None else [sys.executable, "manage.py", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_embedded_default_is_sqlite_and_eager():
    out = run({})
    assert out.returncode == 0, out.stderr
    cfg = json.loads(out.stdout)
    assert cfg["engine"] == "django.db.backends.sqlite3"
    assert cfg["eager"] is True and cfg["broker"] == "memory://"
    assert cfg["mode"].startswith("embedded")


def test_full_stack_uses_postgres_and_a_real_broker():
    out = run(
        {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/riskgov", "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"}
    )
    assert out.returncode == 0, out.stderr
    cfg = json.loads(out.stdout)
    assert cfg["engine"] == "django.db.backends.postgresql"
    assert cfg["eager"] is False and cfg["broker"].startswith("redis://")
    assert cfg["mode"] == "full stack"


def test_production_settings_pass_check_deploy():
    env = {
        "DEBUG": "False",
        "SECRET_KEY": "x" * 20 + "a-long-random-production-secret-key-0123456789",
        "ALLOWED_HOSTS": "riskgov.example.org",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/riskgov",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    }
    out = run(env, args=["check", "--deploy", "--fail-level", "WARNING"])
    assert out.returncode == 0, out.stdout + out.stderr


def test_insecure_default_key_is_flagged_in_production():
    out = run({"DEBUG": "False", "ALLOWED_HOSTS": "x.org"}, args=["check", "--deploy", "--fail-level", "WARNING"])
    assert out.returncode != 0
    assert "SECRET_KEY" in out.stdout + out.stderr


def test_production_refuses_to_start_with_the_public_default_key():
    """Issue 13.10: DEBUG=False without SECRET_KEY must not fall back to the public default."""
    out = run({"DEBUG": "False", "ALLOWED_HOSTS": "x.org"})
    assert out.returncode != 0
    assert "ImproperlyConfigured" in out.stderr and "SECRET_KEY" in out.stderr
    ok = run({"DEBUG": "False", "ALLOWED_HOSTS": "x.org", "SECRET_KEY": "a-real-secret-" + "k" * 40})
    assert ok.returncode == 0, ok.stderr
