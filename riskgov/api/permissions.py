"""API permissions by role (DESIGN.md "Roles"), checked on every endpoint."""

from rest_framework.permissions import BasePermission

from riskgov.core.roles import can_view


class HasAnyRole(BasePermission):
    """Read access for any riskgov role (viewer, analyst, committee, admin)."""

    message = "You have no riskgov role."

    def has_permission(self, request, view) -> bool:
        return can_view(request.user)
