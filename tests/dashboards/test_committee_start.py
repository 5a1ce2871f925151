"""#16 items 4 and 11: freshness of historical (generated) snapshots, figures coloured
against the alert rules, the home page as the committee's start, the dashboards' page bar."""

import datetime as dt

import pytest
from django.utils import timezone

from riskgov.alerts.services import alert_rules_ensure_defaults
from riskgov.core.roles import ANALYST, COMMITTEE, VIEWER
from riskgov.snapshots.models import Snapshot
from riskgov.snapshots.selectors import snapshot_price_age
from tests.dashboards.conftest import find, text
from tests.factories import UserFactory
from tests.reports.conftest import make_run

pytestmark = pytest.mark.django_db


def _old_generated_run(**fields):
    snap = Snapshot.objects.create(
        venue="Generated demo venue (seed 7, prices of 2025-02-20)",
        taken_at=dt.datetime(2025, 2, 20, 23, 59, 59, tzinfo=dt.UTC),
        insurance_fund_usd=1000,
        sha256="0" * 64,
        generated=True,
    )
    return make_run(snapshot=snap, **fields)


def test_historical_snapshot_is_judged_against_its_own_date():
    now = timezone.now()
    gen = Snapshot(taken_at=now - dt.timedelta(days=600), generated=True)
    live = Snapshot(taken_at=now - dt.timedelta(days=600), generated=False)
    assert snapshot_price_age(snapshot=gen, now=now).hours == 0.0
    assert "judged against that date" in snapshot_price_age(snapshot=gen, now=now).note
    assert snapshot_price_age(snapshot=live, now=now).hours == pytest.approx(600 * 24)


def test_report_of_a_historical_snapshot_is_not_stale_and_says_why(settings, tmp_path):
    from riskgov.reports.selectors import report_figures, report_gaps

    run = _old_generated_run()
    assert report_gaps(run=run, now=timezone.now()) == []
    fig = report_figures(run=run, previous=None, now=timezone.now())
    assert "Historical data" in fig["run"]["snapshot"]["freshness"]


def test_prices_stale_alert_does_not_fire_on_a_historical_snapshot():
    from riskgov.alerts.models import AlertFiring
    from riskgov.alerts.services import alerts_evaluate

    alert_rules_ensure_defaults()
    run = _old_generated_run()
    alerts_evaluate(run=run)
    assert not AlertFiring.objects.filter(rule__kind="prices_stale").exists()


def test_overview_colours_figures_against_the_alert_rules(render):
    alert_rules_ensure_defaults()
    _old_generated_run(coverage_at_es=0.078, liquidatable_accounts=10, n_accounts=100)
    viewer = UserFactory(username="v", roles=[VIEWER])
    page = render("/overview", viewer)
    assert find(page, "kpi-coverage-es-card").className == "kpi kpi-bad"
    assert "below the alert threshold 100.0 %" in text(find(page, "kpi-coverage-es-card"))
    assert find(page, "kpi-liquidatable-card").className == "kpi kpi-bad"  # 10 % > 5 %
    assert "Historical data" in text(find(page, "freshness"))


def test_without_rules_nothing_is_coloured(render):
    _old_generated_run(coverage_at_es=0.078)
    page = render("/overview", UserFactory(username="v", roles=[VIEWER]))
    assert find(page, "kpi-coverage-es-card").className == "kpi"


def test_home_is_the_committee_start(client, django_capture_on_commit_callbacks):
    from riskgov.alerts.services import alerts_evaluate

    alert_rules_ensure_defaults()
    run = _old_generated_run(coverage_at_es=0.078)
    alerts_evaluate(run=run)
    member = UserFactory(username="m1", roles=[COMMITTEE])
    client.force_login(member)
    html = client.get("/").content.decode()
    for section in ("home-health", "home-alerts", "home-votes", "home-activations"):
        assert f'id="{section}"' in html
    assert "Outside the alert thresholds: Coverage at ES" in html
    assert "Coverage at ES below 1" in html  # the alert firing
    assert "Nothing awaits your vote." in html
    assert "7.8 %" in html and "Historical data" in html
    client.force_login(UserFactory(username="an", roles=[ANALYST]))
    assert "Only committee members vote" in client.get("/").content.decode()


def test_dashboards_have_a_page_bar_and_a_start_page(render):
    from dashboards.app import page_bar

    viewer = UserFactory(username="v", roles=[VIEWER])
    render("/", viewer)  # the app and its pages exist
    bar = page_bar()
    links = [(link.children, link.href) for link in bar.children]
    assert links[0] == ("All dashboards", "/dash/")
    assert ("Overview", "/dash/overview") in links and ("Stress and coverage", "/dash/stress") in links
    assert all("/account" != href.removeprefix("/dash") for _, href in links)
    index = render("/", viewer)
    assert "Margin-ratio distribution" in text(find(index, "dash-card-accounts"))
