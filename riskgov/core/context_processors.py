"""Template context: the user's roles, for the shared navigation."""

from django.conf import settings
from django.http import HttpRequest

from riskgov.core.roles import ROLE_LABELS, user_roles


def roles(request: HttpRequest) -> dict[str, object]:
    held = user_roles(getattr(request, "user", None))
    return {
        "user_roles": held,
        "user_role_labels": [ROLE_LABELS[r] for r in ROLE_LABELS if r in held],
        "riskgov_mode": settings.RISKGOV_MODE,
    }
