"""Committee UI of the alerts: one page, a thin view over ``selectors``.

Any role reads the alerts (active firings, their history, the rules); rules are edited in
the Django admin (``riskgov.alerts.admin``).
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from riskgov.alerts import selectors
from riskgov.core.access import role_required
from riskgov.core.roles import ADMIN, has_role
from riskgov.reports.views import PAGE_SIZE


@role_required
def alerts_page(request: HttpRequest) -> HttpResponse:
    """Active firings, the history of firings, and the rules (edited in the admin)."""
    page = Paginator(selectors.firings_history(), PAGE_SIZE).get_page(request.GET.get("page"))
    active = list(selectors.active_firings())  # figures: presentation.alerts (template filters)
    rules = list(selectors.alert_rules())
    return render(
        request,
        "alerts/alerts.html",
        {
            "active": active,
            "page": page,
            "rules": rules,
            "can_edit_rules": request.user.is_staff and has_role(request.user, ADMIN),
        },
    )
