"""The governance policy page (admins edit it through ``policy_update``)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from riskgov.core.access import role_required
from riskgov.core.exceptions import DomainError, NotAllowed
from riskgov.core.roles import ADMIN, has_role
from riskgov.governance import selectors as gov_selectors
from riskgov.governance import services as gov
from riskgov.governance.models import Policy
from riskgov.presentation import fields
from riskgov.web import forms as f
from riskgov.web.change_views import _domain_errors


# --- policy -------------------------------------------------------------------------------
@role_required
def policy_page(request: HttpRequest) -> HttpResponse:
    """The policy in force and its history; admins edit it (``policy_update``).

    A read writes nothing: with no policy recorded yet the page shows the default values
    (``policy_current`` records version 1 the first time a write needs it), so opening the
    page never adds an audit record."""
    current = Policy.objects.filter(is_active=True).first() or Policy(
        version=1, is_active=True, comment="default policy"
    )
    is_admin = has_role(request.user, ADMIN)
    form = f.PolicyForm(initial={fld: getattr(current, fld) for fld in gov.POLICY_FIELDS})
    general: list[str] = []
    if request.method == "POST":
        form = f.PolicyForm(request.POST)
        if form.is_valid():
            try:
                new = gov.policy_update(by=request.user, comment=form.cleaned_data["comment"], **form.policy_values())
            except NotAllowed:
                raise
            except DomainError as exc:
                for e in _domain_errors(exc):
                    if e.get("field") in form.fields:
                        form.add_error(e["field"], e["message"])
                    else:
                        general.append(e["message"])
            else:
                messages.success(request, f"Policy version {new.version} is in force.")
                return redirect("policy")
    return render(
        request,
        "governance/policy.html",
        {
            "current": current,
            "history": Policy.objects.order_by("-version"),
            "fields": [
                (
                    Policy._meta.get_field(fld).verbose_name,
                    fields.format_field(fld, getattr(current, fld)),
                    Policy._meta.get_field(fld).help_text,
                )
                for fld in gov.POLICY_FIELDS
            ],
            "form": form if is_admin or request.method == "POST" else None,
            "general_errors": general,
            "committee_size": gov_selectors.committee_members().count(),
        },
    )
