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
from riskgov.health.models import HealthRun, RunStatus, ScenarioResult
from riskgov.reports import services
from riskgov.reports.models import DeliveryStatus, Report, ReportDelivery, ReportKind, ReportStatus
from riskgov.reports.services import DeliveryIncomplete, report_build, report_deliver, report_deliveries_requeue
from riskgov.reports.tasks import report_build_and_deliver
from riskgov.reports.templatetags.report_format import fraction, ratio, share, usd
from riskgov.reports.templatetags.report_format import intcomma0 as count
from riskgov.snapshots.models import Snapshot
from tests.factories import UserFactory
from tests.reports.conftest import make_run
from tests.tools import require_tool

pytestmark = pytest.mark.django_db
COMMITTEE_AND_ADMIN = {"m1@example.org", "m2@example.org", "adm@example.org"}


def pdf_text(report: Report) -> str:
    with report.pdf.open("rb") as fh:
        reader = PdfReader(io.BytesIO(fh.read()))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.mark.pango
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


@pytest.mark.pango
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
    assert "+$1,000" in second.html.read().decode()  # presentation.formats.money, signed


@pytest.mark.pango
def test_no_run_gives_an_incomplete_report_that_is_still_sent(people):
    report = report_build()
    assert report.status == ReportStatus.INCOMPLETE and report.run is None
    assert "no health run has been published" in report.reasons[0]
    assert "This report is incomplete" in pdf_text(report)
    counts = report_deliver(report=report)
    assert counts["sent"] == 3 and len(mail.outbox) == 3
    assert "INCOMPLETE" in mail.outbox[0].subject and "no health run" in mail.outbox[0].body


@pytest.mark.pango
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


@pytest.mark.pango
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
    assert json.loads(daily.kwargs) == {"kind": "scheduled"}  # roles: RISKGOV_REPORT_ROLES
    alerts = PeriodicTask.objects.get(task="alerts.evaluate")
    assert alerts.interval.every == 15
    assert PeriodicTask.objects.filter(task__in=["reports.build_and_deliver", "alerts.evaluate"]).count() == 2


@pytest.mark.pango
def test_send_report_command(published_run, people):
    call_command("send_report", "--role", "viewer")
    assert Report.objects.get().kind == "manual" and [m.to for m in mail.outbox] == [["vic@example.org"]]


@pytest.mark.pango
def test_charts_are_rendered_by_kaleido(published_run, settings):
    """Real PNG charts through kaleido + Chromium (the production renderer)."""
    require_tool("chromium")  # skipped without it, unless RISKGOV_REQUIRE_TOOLS=1 (CI)
    settings.RISKGOV_REPORT_CHARTS = "kaleido"
    report = report_build()
    assert [c["engine"] for c in report.figures["charts"]] == ["kaleido", "kaleido"]
    assert report.html.read().decode().count('src="data:image/png;base64,') == 2
    assert report.pdf.size > 20_000


# --------------------------------------------------------------------------- review fixes
def _boom(*args, **kwargs):
    raise RuntimeError("renderer crashed")


@pytest.mark.pango
def test_a_pdf_that_fails_to_render_gives_an_html_only_report_that_is_sent(published_run, people, monkeypatch):
    monkeypatch.setattr(services, "report_render_pdf", _boom)
    out = report_build_and_deliver.apply(kwargs={}, task_id="pdf-fails", throw=True).get()
    report = Report.objects.get(pk=out["report"])
    assert out["sent"] == 3 and report.status == ReportStatus.INCOMPLETE and not report.pdf
    assert any(r.startswith("PDF rendering failed") and "renderer crashed" in r for r in report.reasons)
    html = report.html.read().decode()
    assert "PDF rendering failed" in html and f"health run <b>#{published_run.pk}</b>" in html  # full figures
    msg = mail.outbox[0]
    assert "INCOMPLETE" in msg.subject and msg.attachments == [] and msg.alternatives[0][1] == "text/html"
    assert "no PDF could be made" in msg.body and "PDF rendering failed" in msg.body


@pytest.mark.pango
def test_charts_that_fail_are_omitted(published_run, monkeypatch):
    monkeypatch.setattr(services, "render_charts", _boom)
    report = report_build()
    assert report.status == ReportStatus.INCOMPLETE and report.figures["charts"] == []
    assert report.reasons[-1].startswith("charts omitted: chart rendering failed")
    assert "charts omitted" in pdf_text(report) and "data:image" not in report.html.read().decode()


@pytest.mark.pango
def test_figures_or_template_that_fail_still_give_a_minimal_report(published_run, people, monkeypatch):
    monkeypatch.setattr(services.selectors, "report_figures", _boom)
    monkeypatch.setattr(services, "render_to_string", _boom)  # the HTML template as well
    report = report_build()
    text = " ".join(report.reasons)
    assert report.status == ReportStatus.INCOMPLETE and "figures could not be computed" in text
    assert "HTML rendering failed" in text and "This report is incomplete" in report.html.read().decode()
    assert "HTML rendering failed" in pdf_text(report)


def _report(kind, *, run=True, hours_ago=0.0):
    report = report_build(kind=kind, now=timezone.now() - dt.timedelta(hours=hours_ago))
    if not run:
        Report.objects.filter(pk=report.pk).update(run=None)
    return report


def test_changes_are_measured_against_the_latest_earlier_report_of_the_same_kind(published_run):
    scheduled = _report(ReportKind.SCHEDULED, hours_ago=24)
    manual = _report(ReportKind.MANUAL, hours_ago=5)  # "send now" in between: not the daily baseline
    _report(ReportKind.SCHEDULED, run=False, hours_ago=2)  # no run (no figures): never the baseline
    HealthRun.objects.filter(pk=published_run.pk).update(es_usd=published_run.es_usd + 500.0)
    daily = report_build(kind=ReportKind.SCHEDULED)
    assert daily.previous_id == scheduled.pk and daily.figures["previous_report"]["id"] == scheduled.pk
    assert daily.figures["changes"]["es_usd"]["delta"] == pytest.approx(500.0)
    assert daily.figures["governance"]["since"] == scheduled.created_at.isoformat()
    assert report_build(kind=ReportKind.MANUAL).previous_id == manual.pk


def test_without_a_report_of_its_kind_the_baseline_is_the_latest_with_a_run(published_run):
    scheduled = _report(ReportKind.SCHEDULED, hours_ago=3)
    _report(ReportKind.SCHEDULED, run=False, hours_ago=1)
    figureless = _report(ReportKind.SCHEDULED, hours_ago=0.5)  # its figures could not be computed
    Report.objects.filter(pk=figureless.pk).update(figures={"run": None})
    assert report_build(kind=ReportKind.MANUAL).previous_id == scheduled.pk


def test_two_accounts_with_one_address_get_one_report(published_run, people):
    UserFactory(username="m1-again", roles=["committee"], email="M1@example.ORG")
    report = report_build()
    assert report_deliver(report=report) == {"sent": 3, "skipped": 0, "failed": 0}
    assert sorted(m.to[0].lower() for m in mail.outbox) == sorted(COMMITTEE_AND_ADMIN)
    assert report_deliver(report=report)["sent"] == 0 and len(mail.outbox) == 3


def test_failed_deliveries_are_retried_by_the_sweep_never_a_sent_or_sending_one(published_run, people):
    report = report_build()
    with mock.patch.object(services.EmailMultiAlternatives, "send", side_effect=ConnectionError("smtp down")):
        with pytest.raises(DeliveryIncomplete):
            report_deliver(report=report)  # the task's retries ran out with every row failed
    rows = {d.user.username: d for d in ReportDelivery.objects.filter(report=report)}
    ReportDelivery.objects.filter(pk=rows["m1"].pk).update(status=DeliveryStatus.SENT)  # sent by hand meanwhile
    ReportDelivery.objects.filter(pk=rows["m2"].pk).update(status=DeliveryStatus.SENDING)  # outcome unknown
    assert report_deliveries_requeue() == []  # too recent: the task's own retries come first
    assert report_deliveries_requeue(now=timezone.now() + dt.timedelta(minutes=10)) == [report.pk]
    assert [m.to for m in mail.outbox] == [["adm@example.org"]]
    assert ReportDelivery.objects.get(pk=rows["adm"].pk).status == DeliveryStatus.SENT
    assert report_deliveries_requeue(now=timezone.now() + dt.timedelta(minutes=10)) == []
    assert report_deliveries_requeue(now=timezone.now() + dt.timedelta(days=3)) == []  # old reports are left


def test_the_daily_task_sends_to_the_default_roles_and_drops_unknown_ones(published_run, people, settings, caplog):
    settings.RISKGOV_REPORT_ROLES = ["viewer"]
    report_build_and_deliver.apply(kwargs={"kind": "scheduled"}, task_id="daily-1", throw=True)
    assert [m.to for m in mail.outbox] == [["vic@example.org"]]  # no roles in the entry: the setting
    mail.outbox.clear()
    out = report_build_and_deliver.apply(kwargs={"roles": ["analyst", "comittee"]}, task_id="daily-2", throw=True)
    assert out.get()["sent"] == 1 and [m.to for m in mail.outbox] == [["ana@example.org"]]
    assert "comittee" in caplog.text
    mail.outbox.clear()
    out = report_build_and_deliver.apply(kwargs={"roles": ["Committee", "boss"]}, task_id="daily-3", throw=True)
    assert out.get()["sent"] == 1 and [m.to for m in mail.outbox] == [["vic@example.org"]]  # none valid: default
    assert Report.objects.count() == 3


def test_liquidatable_open_interest_counts_liquidatable_positions_only(published_run):
    """§5/§6: a healthy isolated position of a liquidatable account is not liquidatable OI."""
    from riskgov.health.models import PositionResult
    from riskgov.reports.selectors import riskiest_markets, run_liquidatable_oi

    rows = list(PositionResult.objects.filter(run=published_run))
    liq, total = run_liquidatable_oi(published_run)
    assert liq == pytest.approx(sum(abs(p.notional_usd) for p in rows if p.liquidatable), rel=1e-9)
    assert total == pytest.approx(sum(abs(p.notional_usd) for p in rows), rel=1e-9)
    assert 0 < liq < total
    markets = {m.market: m for m in riskiest_markets(published_run)}
    btc = [p for p in rows if p.market.symbol == "BTC-PERP"]
    assert markets["BTC-PERP"].liquidatable_oi_usd == pytest.approx(
        sum(abs(p.notional_usd) for p in btc if p.liquidatable), rel=1e-9, abs=1e-9
    )


# --------------------------------------------------------------------------- §12 at the horizon
def test_report_model_health_states_horizon_series_backtest_and_verdict(published_run):
    import html as htmllib

    report = report_build()
    page = htmllib.unescape(report.html.read().decode())
    rec = published_run.recommendations[0]
    assert rec["edition"] == 2
    assert "5 min, resolution 1d (yahoo)" in page  # horizon and the series it was estimated from
    lb = rec["lookbacks"]  # §12: both lookbacks with their n, and the quantile of each
    m0 = report.figures["model_health"][0]
    assert (
        f"last 365 d: {fraction(m0['q_recent'])} (n = {count(lb['n_recent'])}); "
        f"full {count(lb['long_days'])} d: {fraction(m0['q_long'])} (n = {count(lb['n_long'])})"
    ) in page
    assert rec["verdict"] in page  # the verdict in words (n, x, expected, LR, flagged or not)
    assert f"expected {rec['backtest']['expected']:.1f}" in page
    assert "liquidation horizon h" in page and "√(h/Δ)" in page  # why it differs from the venue
    m = report.figures["model_health"][0]
    assert m["edition"] == 2 and m["label"] == "at the 5-minute liquidation horizon"
    assert m["mmf_rec"] == rec["brackets"][0]["mmf_rec"] and m["flagged"] == rec["flagged"]
    assert report.figures["charts"][1]["title"].endswith("(§12, 5-minute liquidation horizon)")


def test_report_of_a_first_edition_run_still_renders(published_run):
    HealthRun.objects.filter(pk=published_run.pk).update(
        recommendations=[
            {
                "market": "BTC-PERP",
                "current_mmf": 0.004,
                "current_imf": 0.01,
                "h1": {"horizon_days": 1, "mmf_rec": 0.1068, "imf_rec": 0.2136},
                "h3": {"horizon_days": 3, "mmf_rec": 0.2, "imf_rec": 0.4},
            }
        ]
    )
    report = report_build()
    page = report.html.read().decode()
    assert "1 d (first edition)" in page and "first-edition 1-/3-day recommendation" in page
    assert report.figures["model_health"][0]["edition"] == 1


def test_without_chromium_the_warning_says_how_to_get_it_from_the_os_packages(
    published_run, settings, monkeypatch, caplog
):
    from choreographer.browsers.chromium import ChromeNotFoundError

    from riskgov.reports import charts

    def no_browser(figs):
        raise ChromeNotFoundError("Kaleido v1 and later requires Chrome. use the CLI command `kaleido_get_chrome`")

    settings.RISKGOV_REPORT_CHARTS = "kaleido"
    monkeypatch.setattr(charts, "_kaleido_png", no_browser)
    with caplog.at_level("WARNING", logger="riskgov.reports.charts"):
        report = report_build()
    assert [c["engine"] for c in report.figures["charts"]] == ["svg", "svg"]
    assert "apt-get install chromium" in caplog.text and "kaleido_get_chrome" not in caplog.text


# --- issue #16 item 13 ---------------------------------------------------------------------
@pytest.mark.pango
def test_pdf_has_an_executive_summary_and_the_whole_stress_table(published_run):
    report = report_build()
    html = report.html.read().decode()
    assert 'id="executive-summary"' in html and 'class="stress"' in html
    text = pdf_text(report)
    assert "Executive summary" in text and f"covers {ratio(published_run.coverage_at_es)}" in " ".join(text.split())
    # the last column (Coverage) of the stress table is on the page: its header and every value
    assert "Coverage" in text
    for s in report.figures["stress"]["standard"]:
        assert ratio(s["coverage_ratio"]) in text, s["name"]


def test_mmf_chart_says_how_many_markets_it_shows():
    from riskgov.presentation.figures.report import MAX_BARS, model_series

    rows = [
        {"market": f"M{i}-PERP", "current_mmf": 0.01, "horizons": [{"mmf_rec": 0.01 + i / 1000}]} for i in range(20)
    ]
    s = model_series({"model_health": rows})
    assert len(s.labels) == MAX_BARS and f"{MAX_BARS} of 20 markets" in s.title
    assert s.labels[0] == "M19-PERP"  # the furthest below its recommendation first
    few = model_series({"model_health": rows[:3]})
    assert len(few.labels) == 3 and " of " not in few.title


def test_a_never_sent_report_is_not_labelled_sent(published_run, client, people):
    report = report_build()
    Report.objects.filter(pk=report.pk).update(kind=ReportKind.MANUAL)
    report.refresh_from_db()
    assert report.kind_label == "On demand" and report.sent_count == 0
    client.force_login(people["adm"])
    page = client.get("/reports/").content.decode()
    assert "Sent now</td>" not in page and "not sent" in page


# --------------------------------------------------------------------------- §10 by family
def test_report_shows_every_family_tail_named_with_its_horizon_and_the_gaps_apart(published_run):
    """Per family (§10, never pooled): VaR/ES/Cover-2/coverage named "VaR 99 %, 1-day paths",
    the headline 1-day paths, the shortfall distribution, the worst 1-day path (date, shortfall,
    worst step) with its interpolated share, and the gap table apart with each horizon."""
    import html as htmllib

    report = report_build()
    page = htmllib.unescape(report.html.read().decode())
    f = report.figures
    fams = {t["family"]: t for t in f["families"]}
    assert list(fams) == ["gap", "trend", "path_1d", "path_3d"]
    assert [t["label"] for t in f["families"]] == ["1-day gaps", "1-day trends", "1-day paths", "3-day paths"]
    assert [t["family"] for t in f["families"] if t["headline"]] == ["path_1d"]
    for t in f["families"]:
        stored = next(x for x in published_run.tails if x["family"] == t["family"])
        assert (t["var_usd"], t["es_usd"], t["scenarios"]) == (stored["var_usd"], stored["es_usd"], stored["scenarios"])
        assert f"VaR 99 %, {t['label']}: {usd(t['var_usd'])}" in page
        assert f"ES 99 %, {t['label']}: {usd(t['es_usd'])}" in page
        d = t["distribution"]
        assert d["n"] == t["scenarios"] and d["max_usd"] == pytest.approx(t["worst_shortfall_usd"])
    assert f"ES 99 %, 1-day paths: {usd(published_run.es_usd)}" in page  # the headline, named
    # the gap tail: the 1-day windows only; the 3-day windows shown apart, outside every tail
    gaps = ScenarioResult.objects.filter(run=published_run, family="gap", name__startswith="hist ")
    assert fams["gap"]["scenarios"] == gaps.filter(step_minutes=1440).count() == f["stress"]["historical_count"]
    assert f["stress"]["other_windows_count"] == gaps.filter(step_minutes=4320).count() > 0
    assert {s["horizon"] for s in f["stress"]["historical_worst"]} == {"1-day"}
    assert {s["horizon"] for s in f["stress"]["other_windows_worst"]} == {"3-day"}
    assert {s["horizon"] for s in f["stress"]["standard"] if s["kind"] == "uniform"} == {"instant"}
    assert "3-day gap, no tail" in page and "1-day gap, in the tail" in page
    # the worst 1-day path, step by step
    w, rp = f["worst_path"], published_run.replay
    assert (w["scenario"], w["shortfall_usd"], w["worst_step"]) == (
        rp["scenario"],
        rp["shortfall_usd"],
        rp["worst_step"],
    )
    assert w["worst_step_shortfall_usd"] == rp["shortfall_by_step_usd"][rp["worst_step"] - 1]
    text = " ".join(page.split())
    assert (
        f"{w['scenario']} (from {w['start'][:10]} {w['start_utc'][11:]} UTC" in text
        and f"at step {w['worst_step']}" in text
    )
    assert f"interpolated steps {share(w['interpolated_share'])}" in text


def test_without_pango_the_report_is_html_only_with_a_one_line_reason(published_run, people, monkeypatch, caplog):
    """Issue #16 item 3: on a machine where WeasyPrint cannot load Pango the report is still
    built and sent, as HTML only; the reason is one line with the install command, no traceback."""
    import builtins
    import sys

    from riskgov.reports.services import PANGO_INSTALL, pdf_unavailable

    real_import = builtins.__import__

    def no_pango(name, *args, **kwargs):  # what WeasyPrint's import raises without Pango
        if name == "weasyprint" or name.startswith("weasyprint."):
            raise OSError("cannot load library 'libpango-1.0-0': libpango-1.0-0: cannot open shared object file\nmore")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "weasyprint", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_pango)
    assert pdf_unavailable() == (
        "OSError: cannot load library 'libpango-1.0-0': libpango-1.0-0: cannot open shared object file"
    )
    with caplog.at_level("WARNING", logger="riskgov.reports.services"):
        out = report_build_and_deliver.apply(kwargs={}, task_id="no-pango", throw=True).get()
    report = Report.objects.get(pk=out["report"])
    assert out["sent"] == 3 and not report.pdf and report.status == ReportStatus.INCOMPLETE
    reason = [r for r in report.reasons if "Pango" in r]
    assert reason == [f"no PDF: WeasyPrint needs Pango ({PANGO_INSTALL}); the report is archived and sent as HTML only"]
    assert reason[0] in report.html.read().decode()
    msg = mail.outbox[0]
    assert "INCOMPLETE" in msg.subject and msg.attachments == [] and msg.alternatives[0][1] == "text/html"
    records = [r for r in caplog.records if "Pango" in r.getMessage()]
    assert len(records) == 1 and records[0].exc_info is None and "\n" not in records[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]  # no traceback anywhere
