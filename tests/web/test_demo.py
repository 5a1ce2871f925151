"""`manage.py demo --no-serve`: loads the real data and is safe to rerun."""

import re

import pytest
from django.core.management import call_command

from riskgov.core.models import AuditEvent
from riskgov.markets.models import DailyClose
from riskgov.parameters.models import MarketParameterVersion, ParameterImport, VersionStatus

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def counts():
    return (
        DailyClose.objects.count(),
        MarketParameterVersion.objects.count(),
        ParameterImport.objects.filter(is_reference=True).count(),
    )


@pytest.mark.pango
def test_demo_loads_real_data_and_reruns_safely(capsys, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path  # the demo archives a health report
    call_command("demo", "--no-serve")
    out = capsys.readouterr().out
    archived = re.search(r"health report (\d+) \(", out)
    assert archived and "/dash/overview" in out
    assert list(tmp_path.rglob(f"report-{archived.group(1)}.pdf"))  # ids depend on earlier tests
    closes, versions, references = counts()
    assert closes > 50000
    active = MarketParameterVersion.objects.filter(status=VersionStatus.ACTIVE)
    assert active.count() == versions >= 15
    assert active.filter(market__symbol="BTC-PERP").exists()
    assert set(ParameterImport.objects.filter(is_reference=True).values_list("venue", flat=True)) == {
        "binance",
        "hyperliquid",
        "dydx",
    }
    assert "member1 / member1-demo" in out
    # the summary: what was loaded, what ran, the key figures, the alerts, the URLs and users
    summary = out[out.index("── riskgov demo: summary") :]
    for key in (
        "loaded",
        "set up",
        "ran",
        "freshness",
        "venue",
        "portfolio",
        "tail",
        "fund",
        "alerts",
        "open",
        "users",
    ):
        assert f"\n  {key} " in summary, key
    # the options book (RISK_MODEL §14): 3 % of the 20,000 generated accounts in portfolio margin
    # mode with options on BTC and ETH, under the §14 default PM parameters seeded by the demo
    assert re.search(
        r"\n  portfolio +600 accounts in portfolio margin mode with [\d,]+ option positions on BTC, ETH", summary
    )
    assert "incomplete" not in summary  # a historical snapshot is judged against its own date
    # §10: one tail line per family, named with its horizon, never pooled
    for family in ("1-day gaps", "1-day paths", "3-day paths"):
        assert re.search(rf"\n  tail +{family} \(", summary), family
    assert "VaR 99 % $" in summary
    assert "Historical data" in summary and "/api/v1/docs/" in summary
    # the hourly and 5-minute bars at their own resolution, the default alert rules
    from riskgov.alerts.models import AlertRule
    from riskgov.markets.models import PriceBar

    assert PriceBar.objects.filter(resolution="1h").count() == 439_900
    assert PriceBar.objects.filter(resolution="5m").count() == 54_720
    assert AlertRule.objects.count() == 10
    assert "Coverage at ES below 1" in summary or "none firing" in summary
    audit = AuditEvent.objects.count()
    call_command("demo", "--no-serve")
    assert counts() == (closes, versions, references)
    assert AuditEvent.objects.count() > audit  # the reruns' price imports are audited, nothing else changes
    assert "0 written now" in capsys.readouterr().out  # the intraday bars are not written again


def test_demo_quiets_the_libraries_loggers_and_restores_them():
    import logging

    from riskgov.demo.logs import demo_quiet_logs

    before = logging.getLogger("weasyprint").level
    with demo_quiet_logs():
        for name in ("fontTools", "weasyprint", "kaleido", "choreographer", "celery.app.trace"):
            assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
        assert logging.getLogger("riskgov.reports.charts").isEnabledFor(logging.WARNING)
    assert logging.getLogger("weasyprint").level == before


def test_demo_admin_reaches_alert_rules_and_periodic_tasks_but_holds_no_committee_role(client):
    from riskgov.core.roles import COMMITTEE, user_roles
    from riskgov.demo.composition import demo_users_ensure

    demo_users_ensure()
    demo_users_ensure()  # rerun: idempotent
    _sign_in(client, "admin", "admin-demo")
    index = client.get("/admin/")
    assert index.status_code == 200
    assert b"permission to view or edit anything" not in index.content
    assert client.get("/admin/alerts/alertrule/").status_code == 200
    assert client.get("/admin/alerts/alertrule/add/").status_code == 200
    assert client.get("/admin/django_celery_beat/periodictask/").status_code == 200
    assert client.get("/admin/core/auditevent/").status_code == 200  # read-only
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.get(username="admin")
    assert not admin.is_superuser and COMMITTEE not in user_roles(admin)
    assert not admin.has_perm("governance.change_proposal")
    client.logout()
    _sign_in(client, "viewer", "viewer-demo")
    assert client.get("/admin/alerts/alertrule/").status_code == 302


def test_api_docs_are_served_without_a_cdn(client):

    from riskgov.core.roles import VIEWER
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="docs", roles=[VIEWER]))  # the docs need a role (#13)
    html = client.get("/api/v1/docs/").content.decode()
    assert "cdn.jsdelivr" not in html and "unpkg" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html


def _sign_in(client, username: str, password: str) -> None:
    """Sign in through the real login page (django-axes needs the request: no ``client.login``)."""
    r = client.post("/login/", {"username": username, "password": password})
    assert r.status_code == 302, r.content.decode()[:500]
