"""Report write actions (STYLE rules 4, 5, 7): build, deliver, send now.

* ``report_build`` reads a **published** run's stored results (``selectors.report_figures``),
  renders the static charts, the HTML (``templates/reports/report.html`` — the same file is
  the web page and the e-mail body) and the PDF (WeasyPrint, from that HTML), and archives
  both files with the report row (``MEDIA_ROOT/reports/<yyyy>/<mm>/report-<id>.{html,pdf}``).
  A report that cannot be complete (no run, no fresh run, stale prices, the latest run
  failed) is still built and sent, with ``status = incomplete`` and its reasons at the top.
  So is a report whose building fails: figures that cannot be computed, charts that cannot
  be drawn (omitted), HTML or PDF that cannot be rendered (a minimal HTML page; HTML only
  when the PDF fails) — each failure is a reason, in words, and the report is delivered.
  "Changes since the previous report" compare with ``selectors.baseline_report`` (same
  kind, built from a run).
* ``report_deliver`` e-mails a report to the active members of roles, **once per person**
  (one message per e-mail address, case-insensitive): each (report, user) row is claimed in
  its own committed transaction before the message leaves and marked sent after; a retry
  skips claimed and sent rows and re-sends only rows whose send raised (``failed``). Call it
  outside any transaction (a Celery task does).
* ``report_deliveries_retry`` re-sends the ``failed`` rows of one report (same claim); the
  scheduled ``alerts.evaluate`` task enqueues it for recent reports whose task gave up
  (``report_deliveries_requeue``).
* ``report_send_now`` (admins) enqueues build + delivery on commit.
"""

from __future__ import annotations

import html as html_lib
import logging
from datetime import datetime, timedelta
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
from riskgov.presentation.impact import impact_view
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


def report_roles_lenient(roles: Any) -> list[str] | None:
    """Roles of a scheduled delivery (the beat entry's ``kwargs``, edited in the admin),
    never an error: unknown role names are dropped with a logged warning; ``None`` (use
    ``report_roles_default()``) when none is given or none remains. A single string is one
    role. Interactive callers validate strictly instead (``report_send_now``)."""
    if roles is None:
        return None
    if isinstance(roles, str):
        roles = [roles]
    if not isinstance(roles, list | tuple):
        log.warning("report roles %r are not a list of role names: using the default roles", roles)
        return None
    known = sorted({r for r in roles if isinstance(r, str) and r in ALL_ROLES})
    unknown = [r for r in roles if not (isinstance(r, str) and r in ALL_ROLES)]
    if unknown:
        log.warning("report roles: unknown %r dropped (roles are %s)", unknown, ", ".join(ALL_ROLES))
    if not known:
        log.warning("report roles: none of %r is a role: using the default roles", roles)
        return None
    return known


#: the OS packages WeasyPrint needs to write the PDF (README, "What each optional tool adds")
PANGO_INSTALL = "apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core fonts-symbola"


def pdf_unavailable() -> str | None:
    """``None`` when WeasyPrint can load (it needs the Pango libraries); else why not, in one
    line (``"OSError: cannot load library 'libpango-1.0-0' …"``). Never raises."""
    try:
        import weasyprint  # noqa: F401
    except (OSError, ImportError) as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        return f"{type(exc).__name__}: {first[:200]}"
    return None


def report_render_pdf(html: str) -> bytes:
    """The PDF of a report's HTML (WeasyPrint; images are inline data URIs, no fetching)."""
    from weasyprint import HTML

    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()


def _minimal_html(report: Report, reasons: list[str]) -> str:
    """A standalone page for a report whose template could not be rendered: its reasons only."""
    items = "".join(f"<li>{html_lib.escape(r)}</li>" for r in reasons)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>riskgov health report #{report.pk}</title></head><body>"
        f"<h1>riskgov health report</h1><p>Report #{report.pk} · built {report.created_at:%Y-%m-%d %H:%M} UTC"
        f" · status: {html_lib.escape(report.get_status_display())}</p>"
        f'<div class="banner" id="incomplete"><h2>This report is incomplete</h2><ul>{items}</ul></div>'
        "</body></html>"
    )


def _failure(what: str, exc: BaseException) -> str:
    log.exception("report: %s", what)
    return f"{what}: {type(exc).__name__}: {str(exc)[:300]}"


def _report_figures_safe(
    *, run: HealthRun | None, previous: Report | None, now: datetime, reasons: list[str]
) -> dict[str, Any]:
    """``selectors.report_figures``; on an error (in a savepoint, so a database error does not
    break the caller's transaction) minimal figures and a reason."""
    try:
        with transaction.atomic():
            return selectors.report_figures(run=run, previous=previous, now=now)
    except Exception as exc:  # noqa: BLE001 — any failure still gives a (minimal) report
        reasons.append(_failure("the report's figures could not be computed; figures omitted", exc))
    return {
        "generated_at": now.isoformat(),
        "previous_report": None,
        "governance": {"since": now.isoformat(), "awaiting_vote": [], "activated": []},
        "run": None,
    }


def _impact_views(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """Each proposal awaiting a vote with its frozen impact as formatted sections (RISK_MODEL
    §15: cost to traders, protection per family, the frontier), as the vote page shows it."""
    out = []
    for p in (figures.get("governance") or {}).get("awaiting_vote") or []:
        if p.get("impact"):
            out.append({"p": p, "view": impact_view(p["impact"])})
    return out


def _render_files(report: Report, figures: dict[str, Any], charts: list[dict[str, str]]) -> tuple[str, bytes | None]:
    """HTML and PDF of ``report``; a rendering failure appends a reason to ``report.reasons``
    (the HTML is rendered again so it shows it) and gives a minimal page / no PDF."""

    template_failed = False

    def render_html() -> str:
        nonlocal template_failed
        if not template_failed:
            try:
                return render_to_string(
                    "reports/report.html",
                    {"report": report, "f": figures, "charts": charts, "impacts": _impact_views(figures)},
                )
            except Exception as exc:  # noqa: BLE001
                template_failed = True
                report.reasons.append(_failure("HTML rendering failed; a minimal page is archived", exc))
                report.status = ReportStatus.INCOMPLETE
        return _minimal_html(report, report.reasons)

    html = render_html()
    missing = pdf_unavailable()
    if missing is not None:
        # a machine without Pango: one line in the log and in the report, no traceback
        reason = f"no PDF: WeasyPrint needs Pango ({PANGO_INSTALL}); the report is archived and sent as HTML only"
        log.warning("report: %s [%s]", reason, missing)
        report.reasons.append(reason)
        report.status = ReportStatus.INCOMPLETE
        return render_html(), None
    try:
        return html, report_render_pdf(html)
    except Exception as exc:  # noqa: BLE001
        report.reasons.append(_failure("PDF rendering failed; the report is archived and sent as HTML only", exc))
        report.status = ReportStatus.INCOMPLETE
        return render_html(), None


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
    A failure to compute the figures or to render the charts, the HTML or the PDF does not
    raise: the report is archived ``incomplete`` with what failed among its reasons (module
    docstring), so that it is still delivered.

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
    previous = selectors.baseline_report(kind=kind, before=now)
    reasons = selectors.report_gaps(run=run, now=now)
    figures = _report_figures_safe(run=run, previous=previous, now=now, reasons=reasons)
    try:
        charts = render_charts(figures)
    except Exception as exc:  # noqa: BLE001
        reasons.append(_failure("charts omitted: chart rendering failed", exc))
        charts = []
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
            html, pdf = _render_files(report, figures, charts)
            report.html.save(f"report-{report.pk}.html", ContentFile(html.encode("utf-8")), save=False)
            if pdf is not None:
                report.pdf.save(f"report-{report.pk}.pdf", ContentFile(pdf), save=False)
            report.save(update_fields=["html", "pdf", "status", "reasons"])
            audit_record(
                actor=by,
                action="reports.report.build",
                obj=report,
                to_state=report.status,
                after={"run": run.pk if run else None, "reasons": report.reasons, "kind": kind},
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


def _address_taken(report: Report, user: Any) -> bool:
    """Another account with the same address (any case) already got, or is getting, ``report``."""
    return (
        ReportDelivery.objects.filter(report=report, email__iexact=user.email.strip())
        .exclude(user=user)
        .exclude(status=DeliveryStatus.FAILED)
        .exists()
    )


def _send_claimed(report: Report, users: list[Any]) -> dict[str, Any]:
    """Claim and send ``report`` to each of ``users`` (one per address); counts and errors."""
    counts = {"sent": 0, "skipped": 0, "failed": 0}
    errors: dict[str, str] = {}
    for user in users:
        row = None if _address_taken(report, user) else _claim(report, user, timezone.now())
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
    return {"counts": counts, "errors": errors}


def report_deliver(*, report: Report, roles: list[str] | None = None) -> dict[str, int]:
    """E-mail ``report`` to the active members of ``roles`` (default ``RISKGOV_REPORT_ROLES``),
    exactly once per person across retries (module docstring); two accounts with the same
    e-mail address (case-insensitive) get one message. Returns counts.

    Raises:
        DomainError: ``roles`` is empty after the default, or names an unknown role.
        DeliveryIncomplete: some sends failed (they are marked ``failed``; retry to resend).
    """
    roles = _check_roles(roles or report_roles_default())
    out = _send_claimed(report, selectors.role_recipients(roles))
    counts = out["counts"]
    if counts["failed"]:
        raise DeliveryIncomplete(
            f"report {report.pk}: {counts['failed']} message(s) failed", extra={"errors": out["errors"]}
        )
    return counts


def report_deliveries_retry(*, report: Report) -> dict[str, int]:
    """Re-send the ``failed`` deliveries of ``report`` (same claim: a ``sent`` or ``sending``
    row is never sent again) to their people, if still active with an address. Returns counts.

    Raises:
        DeliveryIncomplete: some sends failed again (still ``failed``; a later sweep retries).
    """
    failed = ReportDelivery.objects.filter(report=report, status=DeliveryStatus.FAILED).select_related("user")
    users, seen = [], set()
    for d in failed.order_by("user_id"):
        address = d.user.email.strip().lower()
        if d.user.is_active and address and address not in seen:
            seen.add(address)
            users.append(d.user)
    out = _send_claimed(report, users)
    counts = out["counts"]
    if counts["failed"]:
        raise DeliveryIncomplete(
            f"report {report.pk}: {counts['failed']} message(s) failed again", extra={"errors": out["errors"]}
        )
    return counts


#: a failed delivery is re-sent by the sweep once it is this old (the task's own retries first)
RETRY_AFTER = timedelta(minutes=5)
#: … and only for reports at most this old (an older report is no longer news)
RETRY_WITHIN = timedelta(days=2)


def report_deliveries_requeue(*, now: datetime | None = None) -> list[int]:
    """Enqueue ``reports.retry_failed`` for each report of the last ``RETRY_WITHIN`` with a
    delivery ``failed`` for at least ``RETRY_AFTER`` (its task gave up, or is still backing
    off: the claim makes a double enqueue harmless). A broker error is logged; the next
    sweep tries again. Returns the report ids enqueued."""
    from riskgov.reports.tasks import report_retry_failed_task

    now = now or timezone.now()
    ids = list(
        ReportDelivery.objects.filter(
            status=DeliveryStatus.FAILED, claimed_at__lte=now - RETRY_AFTER, report__created_at__gte=now - RETRY_WITHIN
        )
        .order_by("report_id")
        .values_list("report_id", flat=True)
        .distinct()
    )
    done = []
    for report_id in ids:
        try:
            report_retry_failed_task.delay(report_id)
        except Exception:  # noqa: BLE001 — a broker outage: the next sweep retries
            log.exception("could not enqueue the retry of report %s's failed deliveries", report_id)
            continue
        done.append(report_id)
    return done


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
