"""Quiet logs for ``manage.py demo``: the libraries' progress chatter (fontTools subsetting,
WeasyPrint's layout steps, kaleido/choreographer's browser start-up, Celery's per-task
lines, kombu's "no hostname" notice) hides the demo's own output, ~170 lines of it.

Inside :func:`demo_quiet_logs` those loggers only show errors (riskgov's own warnings, such
as the report's "no Chromium" advice, still show); the levels are restored on exit.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

#: logger → level during the demo
QUIET_LOGGERS = {
    "fontTools": logging.ERROR,
    "weasyprint": logging.ERROR,
    "kaleido": logging.ERROR,
    "choreographer": logging.ERROR,
    "logistro": logging.ERROR,
    "PIL": logging.ERROR,
    "celery": logging.WARNING,
    "celery.app.trace": logging.WARNING,
    "kombu": logging.ERROR,
    "django.core.mail": logging.WARNING,
}


@contextlib.contextmanager
def demo_quiet_logs() -> Iterator[None]:
    """Raise the noisy loggers' levels (:data:`QUIET_LOGGERS`) for the duration."""
    saved = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    try:
        for name, level in QUIET_LOGGERS.items():
            logging.getLogger(name).setLevel(level)
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
