"""Alert messages follow the one presentation rule (issue #16 item 10): money as
``formats.money`` gives it (``$250,000``), shares and fractions as ``formats.share`` /
``formats.fraction`` (``8.00 %``, ``0.400 %``), ratios as ``formats.ratio`` (``60.0 %``) —
the same text as the cards beside them, never ``0.0800``, ``8.00%`` or ``250,000.00 USD``."""

from decimal import Decimal

import pytest

from riskgov.alerts.models import AlertFiring, AlertKind, AlertRule
from riskgov.presentation import formats
from tests.alerts.test_alerts import accounts, evaluate, rec, rule
from tests.factories import AssetFactory, MarketFactory, UserFactory
from tests.raw_numbers import raw_numbers
from tests.reports.conftest import make_run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def committee(db):
    return [UserFactory(username="m1", roles=["committee"])]


@pytest.fixture
def btc(db):
    return MarketFactory(base_asset=AssetFactory(symbol="BTC"))


def _message(cap, kind, threshold, run):
    r = rule(kind, threshold)
    evaluate(run, capture=cap)
    msg = AlertFiring.objects.get(rule=r).message
    assert raw_numbers(msg) == [], msg
    assert "USD" not in msg and "%)" not in msg.replace(" %)", ""), msg  # "$…", "… %": never "USD", "5.00%"
    return msg


def test_coverage_message_is_a_ratio_in_percent(django_capture_on_commit_callbacks):
    msg = _message(django_capture_on_commit_callbacks, AlertKind.COVERAGE_AT_ES, 1, make_run(coverage_at_es=0.6))
    assert msg.startswith(f"coverage at ES {formats.ratio(0.6)} (") and "threshold 100.0 %" in msg
    assert "60.0 %" in msg


def test_liquidatable_accounts_message_uses_counts_and_shares(django_capture_on_commit_callbacks):
    run = make_run(liquidatable_accounts=12_345, n_accounts=100_000)
    msg = _message(django_capture_on_commit_callbacks, AlertKind.LIQUIDATABLE_ACCOUNTS, "0.05", run)
    assert msg == "12,345 of 100,000 accounts liquidatable (12.35 %, threshold 5.00 %)"


def test_liquidatable_oi_message_uses_money_and_shares(btc, django_capture_on_commit_callbacks):
    run = make_run()
    accounts(run, [(True, False, 0, 2_148_259.80), (False, False, 0, 2_070_817.71)])
    msg = _message(django_capture_on_commit_callbacks, AlertKind.LIQUIDATABLE_OI, "0.1", run)
    liq, total = formats.money(2_148_259.80), formats.money(2_148_259.80 + 2_070_817.71)
    assert (liq, total) == ("$2,148,260", "$4,219,078")
    assert msg == f"50.92 % of open interest is held by liquidatable accounts ({liq} of {total}; threshold 10.00 %)"


def test_bankrupt_message_uses_money(btc, django_capture_on_commit_callbacks):
    run = make_run()
    accounts(run, [(True, True, 250_000.0, 10.0), (True, True, 10.0, 10.0)])
    msg = _message(django_capture_on_commit_callbacks, AlertKind.BANKRUPT_ACCOUNT, 100_000, run)
    assert msg == "1 bankrupt account(s) with shortfall above $100,000 (largest $250,000)"


def test_mmf_messages_use_the_fraction_format(django_capture_on_commit_callbacks):
    run = make_run(recommendations=[rec("BTC-PERP", 0.004, 0.006, reject=True)])
    msg = _message(django_capture_on_commit_callbacks, AlertKind.MMF_BELOW_RECOMMENDATION, "0.25", run)
    assert msg == "BTC-PERP: current MMF 0.400 % below the recommended 0.600 % (§12, tolerance 25.00 %)"
    msg = _message(django_capture_on_commit_callbacks, AlertKind.BACKTEST_FAILS, 0, run)
    assert msg.startswith("BTC-PERP: current MMF 0.400 % fails the Kupiec backtest at horizon ")
    assert "9 exceedances in 300, LR 12.500, critical 3.840" in msg


def test_alerts_page_shows_values_and_thresholds_by_the_presentation_rule(
    client, committee, btc, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    from tests.raw_numbers import html_raw_numbers

    run = make_run(liquidatable_accounts=12_346, n_accounts=100_000, coverage_at_es=0.0781234)
    accounts(run, [(True, True, 250_000.0, 10.0)])
    for kind, threshold in (
        (AlertKind.LIQUIDATABLE_ACCOUNTS, "0.05"),
        (AlertKind.COVERAGE_AT_ES, "1"),
        (AlertKind.BANKRUPT_ACCOUNT, "100000"),
        (AlertKind.MMF_BELOW_RECOMMENDATION, "0.25"),
    ):  # named by kind only: the default names of ``rule`` carry the raw threshold
        AlertRule.objects.create(name=kind.label[:60], kind=kind, threshold=Decimal(threshold), roles=["committee"])
    evaluate(run, capture=django_capture_on_commit_callbacks)
    client.force_login(committee[0])
    page = client.get(reverse("alerts")).content.decode()
    active = page.split('id="active-alerts"')[1].split("</section>")[0]
    for cell in ("12.35 %", "5.00 %", "7.8 %", "100.0 %", "$250,000", "$100,000"):
        assert f'<td class="num">{cell}</td>' in active, cell
    rules = page.split('id="alert-rules"')[1].split("</section>")[0]
    for cell in ("5.00 %", "100.0 %", "$100,000", "25.00 %"):  # the MMF rule's threshold: its tolerance
        assert f'<td class="num">{cell}</td>' in rules, cell
    assert html_raw_numbers(page) == []
