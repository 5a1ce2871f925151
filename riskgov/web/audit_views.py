"""The audit log: filter, page and export as CSV (read-only, any role)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from riskgov.core.access import role_required
from riskgov.core.models import AuditEvent
from riskgov.presentation.exports import csv_writer
from riskgov.web import forms as f

AUDIT_PAGE_SIZE = 50
AUDIT_CSV_FIELDS = (
    "id",
    "created_at",
    "actor_id",
    "actor_name",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "from_state",
    "to_state",
    "before",
    "after",
    "comment",
    "request_id",
)


# --- audit --------------------------------------------------------------------------------
def _audit_filter(request: HttpRequest) -> f.AuditEventFilter:
    return f.AuditEventFilter(request.GET or None, queryset=AuditEvent.objects.order_by("-created_at", "-id"))


@role_required
def audit_log(request: HttpRequest) -> HttpResponse:
    """The audit trail, filtered and paged."""
    fs = _audit_filter(request)
    page = Paginator(fs.qs, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    actions = AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct()
    return render(
        request,
        "governance/audit.html",
        {"filter": fs, "page": page, "query": query.urlencode(), "actions": actions},
    )


class _Echo:
    """A file-like object whose ``write`` returns the line (for a streaming CSV)."""

    def write(self, value: str) -> str:
        return value


def _csv_value(event: AuditEvent, field: str) -> Any:
    value = getattr(event, field)
    if field in ("before", "after"):
        return "" if value is None else json.dumps(value, sort_keys=True, default=str)
    if field == "created_at":
        return value.isoformat()
    return "" if value is None else value


@role_required
def audit_export(request: HttpRequest) -> HttpResponse:
    """The filtered audit events as CSV, streamed (every field; before/after as JSON)."""
    fs = _audit_filter(request)
    if fs.is_bound and not fs.form.is_valid():  # never export more than was asked for
        return HttpResponse(f"invalid filter: {fs.form.errors.as_text()}", status=400, content_type="text/plain")
    writer = csv_writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(AUDIT_CSV_FIELDS)
        for event in fs.qs.iterator(chunk_size=2000):
            yield writer.writerow([_csv_value(event, fld) for fld in AUDIT_CSV_FIELDS])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="riskgov-audit-{stamp}.csv"'
    return response
