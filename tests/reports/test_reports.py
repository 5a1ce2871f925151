"""Reports: built from the latest published run, archived as HTML + PDF, e-mailed once per person."""

import datetime as dt
import io
import json
from unittest import mock

import pytest
from celery.exceptions import Retry
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from pypdf import PdfReader

from riskgov.core.models import AuditEvent
from riskgov.health.models import HealthRun, RunStatus
from riskgov.reports import services
from riskgov.reports.models import DeliveryStatus, Report, ReportDelivery, ReportStatus
from riskgov.reports.services import DeliveryIncomplete, report_build, report_deliver
from riskgov.reports.tasks import report_build_and_deliver
from riskgov.reports.templatetags.report_format import ratio, usd
from riskgov.snapshots.models import Snapshot
from tests.reports.conftest import make_run

pytestmark = pytest.mark.django_db
COMMITTEE_AND_ADMIN = {"m1@example.org", "m2@example.org", "adm@example.org"}


def pdf_text(report: Report) -> str:
    with report.pdf.open("rb") as fh:
        reader = PdfReader(io.BytesIO(fh.read()))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_report_is_built_from_the_latest_run_and_archived_as_html_and_pdf(published_run):
    older = make_run(age_hours=30)
    assert older.published_at < published_run.published_at
    report = report_build()
    assert report.run_id == published_run.pk and report.status == ReportStatus.COMPLETE and report.reasons == []
    assert report.html.name.endswith(f"report-{report.pk}.html") and report.pdf.name.endswith(f"report-{report.pk}.pdf")
    html = report.html.read().decode()
    with report.pdf.open("rb") as fh:
        assert fh.read(5) == b"%PDF-"
    assert f"health run <b>#{published_run.pk}</b>" in html
    assert usd(published_run.shortfall_usd) in html and usd(published_run.es_usd) in html
    assert 'src="data:image/svg+xml;base64,' in html  # charts are embedded: the page stands alone
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    f = report.figures
    assert f["overview"]["es_usd"] == published_run.es_usd
    assert len(f["stress"]["standard"]) == 10 + 1  # 10 uniform shocks + Black Thursday
    assert f["stress"]["historical_count"] > 0 and len(f["stress"]["historical_worst"]) == 10
    assert [m["market"] for m in f["model_health"]] == ["BTC-PERP", "ETH-PERP"]
    assert f["model_health"][0]["current_imf"] == pytest.approx(0.01)
    assert (
        f["accounts"][0]["margin_ratio"] is None or f["accounts"][0]["margin_ratio"] >= f["accounts"][1]["margin_ratio"]
    )
    assert {m["market"] for m in f["markets"]} == {"BTC-PERP", "ETH-PERP"}
    assert AuditEvent.objects.filter(action="reports.report.build", object_id=str(report.pk)).exists()


def test_pdf_text_contains_the_figures_of_its_run(published_run):
    report = report_build()
    text = pdf_text(report)
    run = published_run
    for figure in (
        usd(run.equity_usd),
        usd(run.maintenance_margin_usd),
        usd(run.shortfall_usd),
        usd(run.insurance_fund_usd),
        usd(run.var_usd),
        usd(run.es_usd),
        usd(run.cover2_usd),
        ratio(run.coverage_at_es),
        f"#{run.pk}",
        "Black Thursday",
        "BTC-PERP",
    ):
        assert figure in text, figure
    worst = report.figures["accounts"][0]["account_id"]
    assert worst in text


def test_second_report_shows_changes_since_the_previous_one(published_run):
    first = report_build()
    HealthRun.objects.filter(pk=published_run.pk).update(es_usd=published_run.es_usd + 1000.0)
    second = report_build()
    assert second.previous_id == first.pk
    assert second.figures["changes"]["es_usd"]["delta"] == pytest.approx(1000.0)
    assert second.figures["previous_run_id"] == published_run.pk
    assert "+1,000.00" in second.html.read().decode()


def test_no_run_gives_an_incomplete_report_that_is_still_sent(people):
    report = report_build()
    assert report.status == ReportStatus.INCOMPLETE and report.run is None
    assert "no health run has been published" in report.reasons[0]
    assert "This report is incomplete" in pdf_text(report)
    counts = report_deliver(report=report)
    assert counts["sent"] == 3 and len(mail.outbox) == 3
    assert "INCOMPLETE" in mail.outbox[0].subject and "no health run" in mail.outbox[0].body


def test_stale_prices_and_old_run_make_the_report_incomplete(db):
    snap = Snapshot.objects.create(
        venue="Old", taken_at=timezone.now() - dt.timedelta(days=5), insurance_fund_usd=1, sha256="0" * 64
    )
    make_run(snapshot=snap, age_hours=40)
    report = report_build()
    assert report.status == ReportStatus.INCOMPLETE
    text = " ".join(report.reasons)
    assert "no fresh health run" in text and "stale prices" in text
    assert "stale prices" in pdf_text(report)


def test_a_failed_latest_run_is_named_in_the_report(db):
    good = make_run(age_hours=2)
    failed = make_run(age_hours=1, status=RunStatus.FAILED, error="boom: worker lost")
    report = report_build()
    assert report.run_id == good.pk and report.status == ReportStatus.INCOMPLETE
    assert f"#{failed.pk}" in report.reasons[0] and "boom" in report.reasons[0]


def test_emails_go_to_the_chosen_roles_exactly_once_per_person(published_run, people):
    report = report_build()
    counts = report_deliver(report=report, roles=["committee", "admin"])
    assert counts == {"sent": 3, "skipped": 0, "failed": 0}
    assert {m.to[0] for m in mail.outbox} == COMMITTEE_AND_ADMIN and all(len(m.to) == 1 for m in mail.outbox)
    msg = mail.outbox[0]
    assert msg.alternatives[0][1] == "text/html" and msg.alternatives[0][0] == report.html.open("rb").read().decode()
    assert msg.attachments[0][0] == f"riskgov-report-{report.pk}.pdf" and msg.attachments[0][1][:5] == b"%PDF-"
    # delivering again (a retried task) sends nothing new
    assert report_deliver(report=report, roles=["committee", "admin"]) == {"sent": 0, "skipped": 3, "failed": 0}
    assert len(mail.outbox) == 3
    # another role gets it once as well
    report_deliver(report=report, roles=["viewer", "committee"])
    assert len(mail.outbox) == 4 and mail.outbox[-1].to == ["vic@example.org"]


def test_a_failure_mid_way_is_retried_without_sending_anyone_twice(published_run, people):
    report = report_build()
    real_send = services.EmailMultiAlternatives.send
    calls = {"n": 0}

    def flaky(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("smtp down")
        return real_send(self, *a, **kw)

    with mock.patch.object(services.EmailMultiAlternatives, "send", flaky):
        with pytest.raises(DeliveryIncomplete):
            report_deliver(report=report)
    assert len(mail.outbox) == 2
    failed = ReportDelivery.objects.get(report=report, status=DeliveryStatus.FAILED)
    assert "smtp down" in failed.error
    counts = report_deliver(report=report)  # the retry
    assert counts == {"sent": 1, "skipped": 2, "failed": 0}
    assert sorted(m.to[0] for m in mail.outbox) == sorted(COMMITTEE_AND_ADMIN)
    assert ReportDelivery.objects.get(pk=failed.pk).attempts == 2


def test_a_claimed_but_unconfirmed_delivery_is_never_resent(published_run, people):
    """A worker killed after sending but before marking sent leaves 'sending': at most once."""
    report = report_build()
    ReportDelivery.objects.create(
        report=report,
        user=people["m1"],
        email="m1@example.org",
        status=DeliveryStatus.SENDING,
        claimed_at=timezone.now(),
    )
    report_deliver(report=report)
    assert "m1@example.org" not in {m.to[0] for m in mail.outbox} and len(mail.outbox) == 2


def test_scheduled_task_builds_once_and_delivers_once_under_retries(published_run, people):
    task_id = "beat-2026-11-20"
    real_send = services.EmailMultiAlternatives.send
    calls = {"n": 0}

    def flaky(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("smtp down")
        return real_send(self, *a, **kw)

    with mock.patch.object(services.EmailMultiAlternatives, "send", flaky):
        with pytest.raises((DeliveryIncomplete, Retry)):  # autoretry: eager apply() raises Retry
            report_build_and_deliver.apply(kwargs={"roles": ["committee", "admin"]}, task_id=task_id, throw=True)
    assert Report.objects.count() == 1 and len(mail.outbox) == 2
    # the broker redelivers the same message (same task id): same report, the missing e-mail only
    out = report_build_and_deliver.apply(kwargs={"roles": ["committee", "admin"]}, task_id=task_id, throw=True).get()
    assert out["sent"] == 1 and out["skipped"] == 2 and Report.objects.count() == 1
    out = report_build_and_deliver.apply(kwargs={"roles": ["committee", "admin"]}, task_id=task_id, throw=True).get()
    assert out["sent"] == 0
    assert sorted(m.to[0] for m in mail.outbox) == sorted(COMMITTEE_AND_ADMIN)
    report = Report.objects.get()
    assert report.run_id == published_run.pk and report.key == f"task:{task_id}"


def test_setup_schedules_creates_the_daily_report_and_alert_entries():
    from django_celery_beat.models import PeriodicTask

    call_command("setup_schedules")
    call_command("setup_schedules")
    daily = PeriodicTask.objects.get(task="reports.build_and_deliver")
    assert (daily.crontab.hour, daily.crontab.minute) == ("7", "0") and daily.interval is None
    assert json.loads(daily.kwargs) == {"kind": "scheduled", "roles": ["committee", "admin"]}
    alerts = PeriodicTask.objects.get(task="alerts.evaluate")
    assert alerts.interval.every == 15
    assert PeriodicTask.objects.filter(task__in=["reports.build_and_deliver", "alerts.evaluate"]).count() == 2


def test_send_report_command(published_run, people):
    call_command("send_report", "--role", "viewer")
    assert Report.objects.get().kind == "manual" and [m.to for m in mail.outbox] == [["vic@example.org"]]


def test_charts_are_rendered_by_kaleido(published_run, settings):
    """Real PNG charts through kaleido + Chromium (the production renderer)."""
    settings.RISKGOV_REPORT_CHARTS = "kaleido"
    report = report_build()
    assert [c["engine"] for c in report.figures["charts"]] == ["kaleido", "kaleido"]
    assert report.html.read().decode().count('src="data:image/png;base64,') == 2
    assert report.pdf.size > 20_000
