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
