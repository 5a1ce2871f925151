"""A proposal's impact evaluates every portfolio-margin account under the proposed PM
parameters beside the active ones (issue 17 governance; RISK_MODEL §13, §14, §15).

Differential: the PM-only proposal's frozen figures equal those of a health run on the same
snapshot once its PM version is active.
"""

import pytest

from riskgov.governance import services as gs
from riskgov.governance.models import Proposal
from riskgov.health.models import HealthRun, RunKind
from riskgov.health.selectors import run_totals
from riskgov.health.services import health_run_create
from riskgov.markets.models import Asset
from riskgov.portfolio.adapters import active_pm_version_ids
from riskgov.portfolio.services import pm_defaults_seed
from riskgov.snapshots.services import snapshot_import
from tests.governance_fixtures import later
from tests.health.test_portfolio_accounts import add_pm_accounts, run_eager
from tests.raw_numbers import html_raw_numbers
from tests.venue_fixtures import STRICTER_BTC, write_snapshot

pytestmark = pytest.mark.django_db

#: BTC PM parameters stricter than the §14 defaults: wider moves, bigger contingency
STRICTER_BTC_PM = {"pm": "BTC", "price_range": "0.25", "short_option_contingency": "0.02", "perp_contingency": "0.01"}


@pytest.fixture
def pm_snapshot(venue, tmp_path):
    for sym in ("BTC", "ETH"):
        pm_defaults_seed(underlying=Asset.objects.get(symbol=sym))
    return snapshot_import(path=add_pm_accounts(write_snapshot(tmp_path / "pm")))


@pytest.fixture
def current_run(pm_snapshot, django_capture_on_commit_callbacks):
    return run_eager(pm_snapshot, django_capture_on_commit_callbacks)


def submitted(people, callbacks, changes, title="Stricter BTC PM"):
    p = gs.proposal_create(
        by=people["analyst"], title=title, rationale="vol regime", effective_at=later(days=3), changes=changes
    )
    with callbacks(execute=True):
        gs.proposal_submit(proposal=p, by=people["analyst"])
    p.refresh_from_db()
    assert p.impact is not None and "error" not in p.impact, p.impact
    return p


def pm_row(impact, underlying):
    return {u["underlying"]: u for u in impact["cost"]["per_underlying"]}.get(underlying)


def test_pm_only_proposal_impact_equals_a_run_with_the_parameters_active(
    current_run, people, django_capture_on_commit_callbacks
):
    p = submitted(people, django_capture_on_commit_callbacks, [STRICTER_BTC_PM])
    impact = p.impact
    draft = p.changes.get().version
    run = HealthRun.objects.get(pk=impact["proposed"]["run"])
    # the impact run froze the draft for BTC and the active version for ETH
    active = active_pm_version_ids()
    assert run.kind == RunKind.IMPACT and run.pm_versions == {"BTC": draft.pk, "ETH": active["ETH"]}
    assert {"kind": "pm", "id": draft.pk} in run.overrides
    assert impact["current"]["run"] == current_run.pk
    assert impact["changed_markets"] == [] and impact["changed_underlyings"] == ["BTC"]

    cost = impact["cost"]
    btc = pm_row(impact, "BTC")
    assert btc["risk_units"] == 2 and btc["delta_maintenance_margin_usd"] > 0 and btc["delta_initial_margin_usd"] > 0
    assert pm_row(impact, "ETH") is None  # unchanged underlying: same margin
    assert cost["per_market"] == []  # the bracket side is untouched
    assert cost["delta_maintenance_margin_usd"] == pytest.approx(btc["delta_maintenance_margin_usd"], rel=1e-12)
    assert cost["delta_initial_margin_usd"] == pytest.approx(btc["delta_initial_margin_usd"], rel=1e-12)

    # approve and activate; a health run on the same snapshot with the version active gives the same numbers
    for m in ("m1", "m2"):
        gs.proposal_vote(proposal=p, by=people[m], decision="approve", comment="ok")
    p = Proposal.objects.get(pk=p.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert gs.proposals_activate_due(now=p.effective_at) == [p.pk]
    assert active_pm_version_ids()["BTC"] == draft.pk
    after = run_eager(current_run.snapshot, django_capture_on_commit_callbacks)
    now_t, after_t = run_totals(current_run), run_totals(after)
    for key, delta in (
        ("maintenance_margin_usd", cost["delta_maintenance_margin_usd"]),
        ("initial_margin_usd", cost["delta_initial_margin_usd"]),
    ):
        assert after_t[key] - now_t[key] == pytest.approx(delta, rel=1e-9)
        assert impact["proposed"]["totals"][key] == pytest.approx(after_t[key], rel=1e-12)
    assert after_t["liquidatable_accounts"] - now_t["liquidatable_accounts"] == (
        cost["newly_liquidatable_accounts"] - cost["no_longer_liquidatable_accounts"]
    )
    # protection: each standard gap scenario's shortfall before/after = the health runs' own
    # (the chunks' gap stress, PM accounts included) with the old / the new version active
    gap = next(f for f in impact["protection"] if f["family"] == "gap")
    before_run, after_run = _gap_shortfalls(current_run), _gap_shortfalls(after)
    assert gap["standard_scenarios"]
    for s in gap["standard_scenarios"]:
        assert s["shortfall_before_usd"] == pytest.approx(before_run[s["name"]], rel=1e-9, abs=1e-6)
        assert s["shortfall_after_usd"] == pytest.approx(after_run[s["name"]], rel=1e-9, abs=1e-6)
    # the PM accounts are on both sides: the deep-under-water PM account's shortfall is counted
    worst = max(gap["standard_scenarios"], key=lambda s: s["shortfall_before_usd"])
    assert worst["shortfall_before_usd"] > 0 and gap["current"]["worst_shortfall_usd"] > 0


def _gap_shortfalls(run):
    return dict(run.scenario_results.filter(family="gap").values_list("name", "shortfall_usd"))


def test_mixed_market_and_pm_proposal(current_run, people, django_capture_on_commit_callbacks):
    pm_only = submitted(people, django_capture_on_commit_callbacks, [STRICTER_BTC_PM])
    mixed = submitted(
        people,
        django_capture_on_commit_callbacks,
        [{"market": "BTC-PERP", "brackets": STRICTER_BTC}, STRICTER_BTC_PM],
        title="Stricter BTC",
    )
    impact = mixed.impact
    run = HealthRun.objects.get(pk=impact["proposed"]["run"])
    pm_draft = next(c.version for c in mixed.changes.all() if c.kind == "pm")
    assert run.pm_versions["BTC"] == pm_draft.pk
    assert impact["changed_markets"] == ["BTC-PERP"] and impact["changed_underlyings"] == ["BTC"]
    cost = impact["cost"]
    # the PM accounts' change is the PM-only proposal's (their margin reads no bracket table)
    assert pm_row(impact, "BTC")["delta_maintenance_margin_usd"] == pytest.approx(
        pm_row(pm_only.impact, "BTC")["delta_maintenance_margin_usd"], rel=1e-12
    )
    btc_perp = next(m for m in cost["per_market"] if m["market"] == "BTC-PERP")
    assert btc_perp["delta_maintenance_margin_usd"] > 0
    assert cost["delta_maintenance_margin_usd"] > pm_only.impact["cost"]["delta_maintenance_margin_usd"] > 0
    # the proposed run (drafts of both kinds frozen) is the §15 proposed side
    assert impact["proposed"]["totals"]["maintenance_margin_usd"] - impact["current"]["totals"][
        "maintenance_margin_usd"
    ] == pytest.approx(cost["delta_maintenance_margin_usd"], rel=1e-9)
    assert impact["frontier"] and impact["frontier"][0]["market"] == "BTC-PERP"


def test_vote_page_shows_the_pm_impact_formatted(current_run, client, people, django_capture_on_commit_callbacks):
    p = submitted(people, django_capture_on_commit_callbacks, [STRICTER_BTC_PM])
    client.force_login(people["m1"])
    html = client.get(f"/proposals/{p.pk}/").content.decode()
    assert 'id="impact-cost-underlyings"' in html and "changed portfolio-margin parameters: BTC" in html
    assert "impact not computed" not in html
    assert html_raw_numbers(html) == []


def test_manual_run_with_a_pm_draft_overlaid_freezes_it(current_run, people):
    """``health_run_create(overrides=[pm draft])`` freezes the draft for its underlying only."""
    p = gs.proposal_create(
        by=people["analyst"], title="t", rationale="r", effective_at=later(days=3), changes=[STRICTER_BTC_PM]
    )
    draft = p.changes.get().version
    run = health_run_create(snapshot=current_run.snapshot, overrides=[draft], enqueue=False)
    assert run.pm_versions == {**active_pm_version_ids(), "BTC": draft.pk}
    assert run.input_hash != current_run.input_hash
