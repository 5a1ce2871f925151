"""Request ids: every request gets one (or keeps the caller's ``X-Request-ID``); audit rows
written while serving it record it, and the response echoes it."""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("riskgov_request_id", default="")
_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar("riskgov_request", default=None)
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def current_request_id() -> str:
    """The id of the request being served, or "" outside a request (commands, tasks)."""
    return _request_id.get()


def current_actor() -> object | None:
    """The signed-in user of the request being served, or None (commands, tasks, anonymous).

    For audit rows written by receivers of framework signals (membership, schedules), which
    are not handed the request.
    """
    request = _request.get()
    user = getattr(request, "user", None) if request is not None else None
    return user if getattr(user, "is_authenticated", False) else None


def set_request_id(value: str) -> contextvars.Token[str]:
    """Set the current request id (used by Celery tasks and commands to tag their audit)."""
    return _request_id.set(value)


class RequestIdMiddleware:
    """Assign ``request.request_id`` and expose it through ``current_request_id()``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _VALID.match(incoming) else uuid.uuid4().hex
        request.request_id = rid  # type: ignore[attr-defined]
        token = _request_id.set(rid)
        request_token = _request.set(request)
        try:
            response = self.get_response(request)
        finally:
            _request.reset(request_token)
            _request_id.reset(token)
        response["X-Request-ID"] = rid
        return response
