"""Committee UI of reports: thin views over ``selectors`` and ``services`` (alerts:
``riskgov.alerts.views``).

Any role reads reports (list, HTML, PDF); only admins "send now" (the service checks it
too). The archived files are served
through these role-checked views, never as public media.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from riskgov.core.access import role_required
from riskgov.core.exceptions import DomainError, NotAllowed
from riskgov.core.roles import ADMIN, ALL_ROLES, ROLE_LABELS, has_role
from riskgov.reports import selectors
from riskgov.reports.models import Report
from riskgov.reports.services import report_roles_default, report_send_now

PAGE_SIZE = 50


@role_required
def reports_page(request: HttpRequest) -> HttpResponse:
    """Archived reports, newest first, with HTML/PDF downloads; admins may send one now."""
    page = Paginator(selectors.reports_list(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "reports/list.html",
        {
            "page": page,
            "can_send": has_role(request.user, ADMIN),
            "roles": [(r, ROLE_LABELS[r]) for r in ALL_ROLES],
            "default_roles": report_roles_default(),
        },
    )


def _file(report: Report, which: str, *, attachment: bool) -> FileResponse:
    f = getattr(report, which)
    if not f:
        raise Http404("file not archived")
    try:
        fh = f.open("rb")
    except FileNotFoundError:
        raise Http404("archived file is missing") from None
    content_type = "text/html; charset=utf-8" if which == "html" else "application/pdf"
    return FileResponse(
        fh, as_attachment=attachment, filename=f"riskgov-report-{report.pk}.{which}", content_type=content_type
    )


@role_required
def report_html(request: HttpRequest, pk: int) -> FileResponse:
    """The archived HTML (``?download=1`` as an attachment)."""
    report = get_object_or_404(Report, pk=pk)
    return _file(report, "html", attachment=request.GET.get("download") == "1")


@role_required
def report_pdf(request: HttpRequest, pk: int) -> FileResponse:
    """The archived PDF."""
    return _file(get_object_or_404(Report, pk=pk), "pdf", attachment=True)


@require_POST
@role_required
def report_send_now_view(request: HttpRequest) -> HttpResponse:
    """Admins: build a report from the latest run and e-mail it to the chosen roles."""
    roles = request.POST.getlist("roles") or None
    try:
        report_send_now(by=request.user, roles=roles)
    except NotAllowed:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The report is being built and sent; it appears here when it is archived.")
    return redirect("reports")
