"""`manage.py demo --no-serve`: loads the real data and is safe to rerun."""

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


def test_demo_loads_real_data_and_reruns_safely(capsys, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path  # the demo archives a health report
    call_command("demo", "--no-serve")
    out = capsys.readouterr().out
    assert "health report 1 (" in out and "/dash/overview" in out
    assert list(tmp_path.rglob("report-1.pdf"))
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
    audit = AuditEvent.objects.count()
    call_command("demo", "--no-serve")
    assert counts() == (closes, versions, references)
    assert AuditEvent.objects.count() > audit  # the reruns' price imports are audited, nothing else changes


def test_demo_admin_reaches_alert_rules_and_periodic_tasks_but_holds_no_committee_role(client):
    from riskgov.core.roles import COMMITTEE, user_roles
    from riskgov.demo.composition import demo_users_ensure

    demo_users_ensure()
    demo_users_ensure()  # rerun: idempotent
    assert client.login(username="admin", password="admin-demo")
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
    assert client.login(username="viewer", password="viewer-demo")
    assert client.get("/admin/alerts/alertrule/").status_code == 302


def test_api_docs_are_served_without_a_cdn(client):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("docs", password="pw")
    client.login(username="docs", password="pw")
    html = client.get("/api/v1/docs/").content.decode()
    assert "cdn.jsdelivr" not in html and "unpkg" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
