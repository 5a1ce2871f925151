"""Access to the committee UI and the reports: a riskgov role is required; refusals render one 403 page."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from riskgov.core.exceptions import NotAllowed
from riskgov.core.roles import can_view


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    """The one 403 page of the committee UI, saying why."""
    return render(request, "governance/forbidden.html", {"message": message}, status=403)


def role_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login and any riskgov role; a ``NotAllowed`` from a service becomes the 403 page."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_view(request.user):
            return forbidden(request, "You have no riskgov role yet; ask an administrator.")
        try:
            return view(request, *args, **kwargs)
        except NotAllowed as exc:
            return forbidden(request, exc.message)

    return wrapped
