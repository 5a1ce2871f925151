"""Report write actions (STYLE rules 4, 5, 7): build, deliver, send now.

* ``report_build`` reads a **published** run's stored results (``selectors.report_figures``),
  renders the static charts, the HTML (``templates/reports/report.html`` — the same file is
  the web page and the e-mail body) and the PDF (WeasyPrint, from that HTML), and archives
  both files with the report row (``MEDIA_ROOT/reports/<yyyy>/<mm>/report-<id>.{html,pdf}``).
  A report that cannot be complete (no run, no fresh run, stale prices, the latest run
  failed) is still built and sent, with ``status = incomplete`` and its reasons at the top.
* ``report_deliver`` e-mails a report to the active members of roles, **once per person**:
  each (report, user) row is claimed in its own committed transaction before the message
  leaves and marked sent after; a retry skips claimed and sent rows and re-sends only rows
  whose send raised (``failed``). Call it outside any transaction (a Celery task does).
* ``report_send_now`` (admins) enqueues build + delivery on commit.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from riskgov.core.exceptions import DomainError, NotAllowed
from riskgov.core.roles import ADMIN, ALL_ROLES, has_role
from riskgov.core.services import audit_record
from riskgov.health.models import HealthRun, RunKind
from riskgov.reports import selectors
from riskgov.reports.charts import render_charts
from riskgov.reports.models import DeliveryStatus, Report, ReportDelivery, ReportKind, ReportStatus

log = logging.getLogger(__name__)


class DeliveryIncomplete(DomainError):
    """Some messages of a delivery failed; retrying the delivery sends only those."""


def report_roles_default() -> list[str]:
    """Roles a report goes to when none are chosen (``RISKGOV_REPORT_ROLES``)."""
    return list(getattr(settings, "RISKGOV_REPORT_ROLES", ["committee", "admin"]))


def _check_roles(roles: list[str]) -> list[str]:
    unknown = sorted(set(roles) - set(ALL_ROLES))
    if unknown or not roles:
        raise DomainError(f"choose roles among {', '.join(ALL_ROLES)}", extra={"unknown": unknown})
    return sorted(set(roles))


def report_render_pdf(html: str) -> bytes:
    """The PDF of a report's HTML (WeasyPrint; images are inline data URIs, no fetching)."""
    from weasyprint import HTML

    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()


def report_build(
    *,
    run: HealthRun | None = None,
    kind: str = ReportKind.SCHEDULED,
    by: Any = None,
    key: str | None = None,
    now: datetime | None = None,
) -> Report:
    """Build and archive a report from ``run`` (default: the latest published run).

    ``key`` makes the call idempotent: a second call with the same key (a retried task)
    returns the report already built. The report is never recomputed from the engine.

    Raises:
        DomainError: ``run`` is unpublished or an impact run (proposed parameters).
    """
    if key:
        existing = Report.objects.filter(key=key).first()
        if existing is not None:
            return existing
    now = now or timezone.now()
    if run is None:
        run = selectors.report_run()
    elif run.published_at is None or run.kind == RunKind.IMPACT:
        raise DomainError(f"health run {run.pk} is not a published run of the active parameters")
    previous = selectors.latest_report()
    reasons = selectors.report_gaps(run=run, now=now)
    figures = selectors.report_figures(run=run, previous=previous, now=now)
    charts = render_charts(figures)
    figures["charts"] = [{"title": c["title"], "engine": c["engine"]} for c in charts]
    status = ReportStatus.INCOMPLETE if reasons else ReportStatus.COMPLETE
    try:
        with transaction.atomic():
            report = Report(
                run=run,
                previous=previous,
                kind=kind,
                status=status,
                reasons=reasons,
                figures=figures,
                key=key or None,
                created_by=by if getattr(by, "is_authenticated", False) else None,
                created_by_name=by.get_username() if getattr(by, "is_authenticated", False) else "",
                created_at=now,
            )
            report.full_clean(exclude=["html", "pdf", "figures", "reasons"])
            report.save()
            html = render_to_string("reports/report.html", {"report": report, "f": figures, "charts": charts})
            pdf = report_render_pdf(html)
            report.html.save(f"report-{report.pk}.html", ContentFile(html.encode("utf-8")), save=False)
            report.pdf.save(f"report-{report.pk}.pdf", ContentFile(pdf), save=False)
            report.save(update_fields=["html", "pdf"])
            audit_record(
                actor=by,
                action="reports.report.build",
                obj=report,
                to_state=status,
                after={"run": run.pk if run else None, "reasons": reasons, "kind": kind},
            )
    except IntegrityError:
        if key and (existing := Report.objects.filter(key=key).first()) is not None:
            return existing  # a concurrent retry built it first
        raise
    return report


def _claim(report: Report, user: Any, now: datetime) -> ReportDelivery | None:
    """Claim (report, user) for sending, committed; ``None`` when it is sent or being sent."""
    with transaction.atomic():
        row, created = ReportDelivery.objects.select_for_update().get_or_create(
            report=report,
            user=user,
            defaults={"email": user.email, "status": DeliveryStatus.SENDING, "attempts": 1, "claimed_at": now},
        )
        if created:
            return row
        if row.status != DeliveryStatus.FAILED:
            return None
        row.status = DeliveryStatus.SENDING
        row.attempts += 1
        row.claimed_at = now
        row.email = user.email
        row.save(update_fields=["status", "attempts", "claimed_at", "email"])
        return row


def report_message(report: Report, *, to: str) -> EmailMultiAlternatives:
    """The e-mail of a report: text summary, the archived HTML as the HTML body, the PDF attached."""
    f = report.figures or {}
    created = report.created_at
    state = "complete" if report.is_complete else "INCOMPLETE"
    subject = f"[riskgov] Health report {created:%Y-%m-%d %H:%M} UTC — {state}"
    text = render_to_string("reports/email.txt", {"report": report, "f": f})
    msg = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to])
    if report.html:
        with report.html.open("rb") as fh:
            msg.attach_alternative(fh.read().decode("utf-8"), "text/html")
    if report.pdf:
        with report.pdf.open("rb") as fh:
            msg.attach(f"riskgov-report-{report.pk}.pdf", fh.read(), "application/pdf")
    return msg


def report_deliver(*, report: Report, roles: list[str] | None = None) -> dict[str, int]:
    """E-mail ``report`` to the active members of ``roles`` (default ``RISKGOV_REPORT_ROLES``),
    exactly once per person across retries (module docstring). Returns counts.

    Raises:
        DeliveryIncomplete: some sends failed (they are marked ``failed``; retry to resend).
    """
    roles = _check_roles(roles or report_roles_default())
    counts = {"sent": 0, "skipped": 0, "failed": 0}
    errors: dict[str, str] = {}
    for user in selectors.role_members(roles):
        row = _claim(report, user, timezone.now())
        if row is None:
            counts["skipped"] += 1
            continue
        try:
            report_message(report, to=row.email).send()
        except Exception as exc:  # noqa: BLE001 — recorded on the row, re-raised as DeliveryIncomplete
            ReportDelivery.objects.filter(pk=row.pk).update(
                status=DeliveryStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000]
            )
            counts["failed"] += 1
            errors[row.email] = str(exc)[:200]
            log.warning("report %s to %s failed: %s", report.pk, row.email, exc)
            continue
        ReportDelivery.objects.filter(pk=row.pk).update(status=DeliveryStatus.SENT, sent_at=timezone.now(), error="")
        counts["sent"] += 1
    if counts["failed"]:
        raise DeliveryIncomplete(f"report {report.pk}: {counts['failed']} message(s) failed", extra={"errors": errors})
    return counts


@transaction.atomic
def report_send_now(*, by: Any, roles: list[str] | None = None) -> None:
    """Admins: build a report from the latest run now and e-mail it (enqueued on commit).

    Raises:
        NotAllowed: ``by`` is not an admin.
        DomainError: unknown roles.
    """
    if not has_role(by, ADMIN):
        raise NotAllowed("only administrators may send a report now")
    roles = _check_roles(roles or report_roles_default())
    from riskgov.reports.tasks import report_build_and_deliver

    audit_record(actor=by, action="reports.report.send_now", object_type="reports.report", after={"roles": roles})
    report_build_and_deliver.delay_on_commit(kind=ReportKind.MANUAL, roles=roles, by_id=by.pk)
