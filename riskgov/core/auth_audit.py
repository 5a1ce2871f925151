"""Sign-ins are governance-relevant: logins, failed logins and lock-outs are audited.

Django's auth framework (and django-axes) announce these with signals; there is no riskgov
service in that path, so the receivers here are the one place that writes their audit rows
(STYLE rule 5's exception: the write action is Django's, not ours). Passwords are never
recorded — only the user name tried and the client address.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed

from riskgov.core.services import audit_record


def _address(request: Any) -> str:
    if request is None:
        return ""
    return getattr(request, "axes_ip_address", None) or request.META.get("REMOTE_ADDR", "")


def on_logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(actor=user, action="auth.login", obj=user, after={"address": _address(request)})


def on_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get("username", ""))[:150]
    audit_record(
        actor=None,
        action="auth.login_failed",
        object_type="auth.user",
        object_id=username[:64],
        object_repr=username,
        after={"username": username, "address": _address(request)},
    )


def on_locked_out(sender: Any, request: Any = None, username: str = "", ip_address: str = "", **kwargs: Any) -> None:
    audit_record(
        actor=None,
        action="auth.locked_out",
        object_type="auth.user",
        object_id=(username or "")[:64],
        object_repr=username or ip_address or "",
        after={"username": username, "address": ip_address},
    )


def connect() -> None:
    """Connect the receivers (CoreConfig.ready)."""
    from axes.signals import user_locked_out

    user_logged_in.connect(on_logged_in, dispatch_uid="riskgov.audit.login")
    user_login_failed.connect(on_login_failed, dispatch_uid="riskgov.audit.login_failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="riskgov.audit.locked_out")
