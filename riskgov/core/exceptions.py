"""One domain exception type, mapped once to the API's ``{"message", "extra"}`` shape.

Services raise ``DomainError`` (or a subclass) for any broken business rule; the API's
exception handler and the web views turn it into a 400 (or the subclass's status) with the
message shown to the person. HackSoft styleguide, "Errors & exception handling".
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler


class DomainError(Exception):
    """A business rule refused the action. ``extra`` carries structured details."""

    status_code = 400

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class NotAllowed(DomainError):
    """The actor's role does not allow the action (HTTP 403)."""

    status_code = 403


class Conflict(DomainError):
    """The object changed state meanwhile, or a precondition no longer holds (HTTP 409)."""

    status_code = 409


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: every error body is ``{"message": str, "extra": {...}}``."""
    if isinstance(exc, DomainError):
        return Response({"message": exc.message, "extra": exc.extra}, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        exc = drf_exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc.detail, (list, dict)):  # type: ignore[attr-defined]
        response.data = {"message": "Validation error", "extra": {"fields": response.data}}
    else:
        response.data = {"message": str(exc.detail), "extra": {}}  # type: ignore[attr-defined]
    return response
