"""Signals of the health app: other apps react to runs without health importing them.

``run_published`` is sent **after the publishing transaction commits** (from
``services.health_run_finalize`` via ``transaction.on_commit``), once per run, with
``run_id`` (int) and ``kind`` (``RunKind`` value). Receivers must be quick and must not
raise: they enqueue their own Celery tasks (``riskgov.alerts`` evaluates its alert rules).
"""

from django.dispatch import Signal

run_published = Signal()
