"""The four roles of riskgov, as Django groups (DESIGN.md "Roles").

* viewer — reads dashboards and reports;
* analyst — creates proposals, runs what-if analyses;
* committee — approves or rejects proposals (never their own);
* admin — edits policy (quorum, timelock, bounds) and users.

A superuser holds every role. Roles do not nest: an analyst who also votes is put in both
groups, so that maker/checker stays explicit.
"""

from __future__ import annotations

from typing import Any

VIEWER = "viewer"
ANALYST = "analyst"
COMMITTEE = "committee"
ADMIN = "admin"
ALL_ROLES = (VIEWER, ANALYST, COMMITTEE, ADMIN)
ROLE_LABELS = {
    VIEWER: "Viewer",
    ANALYST: "Analyst",
    COMMITTEE: "Committee member",
    ADMIN: "Administrator",
}


def user_roles(user: Any) -> frozenset[str]:
    """The roles a user holds (empty for anonymous or inactive users)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return frozenset(ALL_ROLES)
    cached = getattr(user, "_riskgov_roles", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
        user._riskgov_roles = cached
    return cached


def has_role(user: Any, *roles: str) -> bool:
    """True when the user holds at least one of ``roles``."""
    return bool(user_roles(user) & set(roles))


def can_view(user: Any) -> bool:
    """Any role may read dashboards, parameters and reports."""
    return bool(user_roles(user))
