"""Dash pages read stored results: what they show equals the published run's stored figures."""

from __future__ import annotations

import pytest
from django.db.models import F

from riskgov.core.roles import ANALYST, VIEWER
from riskgov.health.models import AccountResult, ScenarioResult
from tests.dashboards.conftest import find, page_module, text, walk

pytestmark = pytest.mark.django_db


def usd(x, *, signed=False):
    from riskgov.presentation.formats import money

    return money(x, signed=signed)  # the one presentation rule (cents below $100)


def test_overview_shows_the_stored_key_figures(render, users, health_run):
    run = health_run
    page = render("/overview", users[VIEWER])
    for cid, value in (
        ("kpi-equity", usd(run.equity_usd)),
        ("kpi-mm", usd(run.maintenance_margin_usd)),
        ("kpi-var", usd(run.var_usd)),
        ("kpi-es", usd(run.es_usd)),
        ("kpi-cover2", usd(run.cover2_usd)),
        ("kpi-fund", usd(run.insurance_fund_usd)),
        ("kpi-liquidatable", f"{run.liquidatable_accounts:,}"),
        ("kpi-bankrupt", f"{run.bankrupt_accounts:,}"),
        ("kpi-accounts", f"{run.n_accounts:,}"),
    ):
        assert find(page, cid).children == value, cid
    cov = find(page, "kpi-coverage-es").children
    assert cov == ("∞" if run.coverage_at_es is None else f"{run.coverage_at_es * 100:,.1f} %")
    fig = find(page, "overview-margin").figure
    assert list(fig.data[0].y) == [run.equity_usd]  # the history holds this one run
    assert fig.layout.yaxis.title.text == "USD" and fig.layout.title.text
    csv = find(page, {"type": "csv-data", "chart": "overview-margin"}).data["csv"]
    assert csv.splitlines()[0].startswith("id,published_at,n_accounts") and str(run.pk) in csv.splitlines()[1]
    with pytest.raises(LookupError):
        find(page, "propose-link")  # a viewer is not offered analyst actions
    assert find(render("/overview", users[ANALYST]), "propose-link").href == "/proposals/new/"


def test_stress_gap_tail_csv_is_served_from_the_run_not_shipped_with_the_page(render, users, health_run):
    import csv

    from dashboards.components import download_csv

    run = health_run
    page = render("/stress", users[VIEWER])
    store = find(page, {"type": "csv-data", "chart": "stress-tail"}).data
    assert store == {"filename": "stress-tail.csv", "source": "stress-gap-tail", "args": {"run": run.pk}}
    got = download_csv(1, store)
    assert got["filename"] == "stress-tail.csv"
    lines = got["content"].splitlines()
    assert lines[0].startswith("idx,name,kind,")
    tail = list(ScenarioResult.objects.filter(run=run, family="gap", in_tail=True).order_by("idx"))
    assert len(lines) == 1 + len(tail) == 1 + len(find(page, "stress-tail").figure.data[0].x)
    assert [row[1] for row in csv.reader(lines[1:])] == [s.name for s in tail]
    # another run's id gives that run's rows, an unpublished or unknown one none
    empty = download_csv(1, {**store, "args": {"run": run.pk + 10_000}})["content"].splitlines()
    assert empty == lines[:1]
    assert download_csv(1, {**store, "source": "no-such-source"}) is None
    small = find(page, {"type": "csv-data", "chart": "stress-scenarios"}).data  # small data stays in the page
    assert download_csv(1, small)["content"] == small["csv"]


def test_accounts_page_ratio_histogram_map_and_riskiest(render, users, health_run):
    run = health_run
    page = render("/accounts", users[VIEWER])
    fig = find(page, "accounts-ratio").figure
    counts = list(fig.data[0].y)
    assert sum(counts) == run.n_accounts
    assert counts[-1] == AccountResult.objects.filter(run=run, margin_ratio__isnull=True).count()
    table = find(page, "accounts-riskiest")
    riskiest = list(
        AccountResult.objects.filter(run=run).order_by(F("margin_ratio").desc(nulls_first=True), "account_idx")[:1]
    )
    assert table.data[0]["account_link"].startswith(f"[{riskiest[0].account_id}](/dash/account?run={run.pk}")
    assert len(table.data) == run.n_accounts  # 21 < 200


def test_liquidation_map_callback_returns_the_stored_map(users, health_run):
    show_map = page_module("/accounts").show_map
    fig, store, note = show_map("BTC-PERP", health_run.pk)
    stored = health_run.distributions["liquidation_map"]["markets"]["BTC-PERP"]
    assert list(fig.data[0].y) == stored["long"] and list(fig.data[1].y) == stored["short"]
    assert fig.layout.xaxis.title.text == "price (USD)"
    assert store["csv"].startswith("market,side,distance_from_mark_pct")
    assert note.startswith("Liquidatable already") and f"${stored['now_long']:,.0f}" in note
    assert show_map("NOPE", health_run.pk) == ({}, None, "")
    assert show_map("BTC-PERP", 10**9) == ({}, None, "")  # unknown run: nothing shown


def test_account_detail(render, users, health_run):
    acc = AccountResult.objects.filter(run=health_run, liquidatable=True).first()
    page = render("/account", users[VIEWER], run=str(health_run.pk), idx=str(acc.account_idx))
    assert find(page, "acct-equity").children == usd(acc.equity_usd)
    assert acc.stress_shortfall_usd is not None  # every run computes it (largest over the gap scenarios)
    assert find(page, "acct-stress-shortfall").children == usd(acc.stress_shortfall_usd)
    assert find(page, "acct-state").children in ("liquidatable", "bankrupt")
    positions = find(page, "account-positions").data
    assert positions and all(p["market_symbol"] in ("BTC-PERP", "ETH-PERP") for p in positions)
    assert "No account" in text(render("/account", users[VIEWER], run=str(health_run.pk), idx="x1"))


def test_stress_page_figures_equal_stored_scenarios(render, users, health_run):
    run = health_run
    page = render("/stress", users[VIEWER])
    assert find(page, "stress-var").children == usd(run.var_usd)
    assert find(page, "stress-es").children == usd(run.es_usd)
    standard = list(ScenarioResult.objects.filter(run=run, family="gap").exclude(kind="historical").order_by("idx"))
    bars = find(page, "stress-scenarios").figure
    assert list(bars.data[0].x) == [s.name for s in standard]
    assert list(bars.data[0].y) == [s.shortfall_usd for s in standard]
    shock = find(page, "stress-shock").figure
    xs = list(shock.data[0].x)
    assert xs == sorted(xs) and len(xs) == 11  # the 10 uniform shocks and the base state
    zero = xs.index(0.0)  # the 0 % point is the run's base state: its shortfall at no move
    assert shock.data[0].y[zero] == run.shortfall_usd
    assert shock.data[0].customdata[zero][0] == run.liquidatable_accounts
    tail = find(page, "stress-tail").figure
    gap_tail = next(t for t in run.tails if t["family"] == "gap")
    assert len(tail.data[0].x) == gap_tail["scenarios"]
    # by family (§10): 1-day and 3-day path distributions, VaR/ES named with the headline family
    one_day = find(page, "stress-tail-path-1d").figure
    assert (
        len(one_day.data[0].x) == run.tail_scenarios == ScenarioResult.objects.filter(run=run, family="path_1d").count()
    )
    assert "1-day paths" in one_day.layout.title.text
    assert (
        len(find(page, "stress-tail-path-3d").figure.data[0].x)
        == ScenarioResult.objects.filter(run=run, family="path_3d").count()
    )
    assert [r["label"] for r in find(page, "stress-tails").data] == [
        "1-day gaps",
        "1-day trends",
        "1-day paths",
        "3-day paths",
    ]
    # §10: every figure names its family; the gap tail is the 1-day windows, 3-day ones apart
    assert find(page, "stress-var-card").children[0].children == "VaR 99 %, 1-day paths"
    assert "1-day gaps" in tail.layout.title.text and gap_tail["label"] == "1-day gaps"
    one_day_gaps = ScenarioResult.objects.filter(run=run, family="gap", in_tail=True)
    assert len(tail.data[0].x) == one_day_gaps.count() and {g.step_minutes for g in one_day_gaps} == {1440}
    windows = find(page, "stress-gap-windows").data
    assert [w["label"] for w in windows] == ["1-day gaps", "3-day gaps"]
    assert windows[0]["tail"].startswith("yes") and windows[1]["tail"] == "no: scenarios only"
    dist = {r["label"]: r for r in find(page, "stress-distribution").data}
    assert set(dist) == {"1-day gaps", "1-day trends", "1-day paths", "3-day paths"}
    head = next(t for t in run.tails if t["family"] == "path_1d")
    assert dist["1-day paths"]["es"] == round(head["es_usd"], 2)
    assert {r["horizon"] for r in find(page, "stress-table").data} == {"instant"}  # uniform shocks
    replay = find(page, "stress-replay").figure
    assert len(replay.data[0].x) == 24 and list(replay.data[0].y) == run.replay["shortfall_by_step_usd"]
    assert "interpolated steps" in find(page, "replay-summary").children
    cascade = find(page, "stress-cascade").figure
    assert len(cascade.data[0].x) == run.cascade["n_rounds"]
    assert find(page, "stress-table").data[0]["name"] == standard[0].name


def test_model_health_page(render, users, health_run):
    """At the liquidation horizon: horizon, series, lookbacks, n, x, expected x, LR and the
    verdict in words; flagged exactly as §12 (engine.model_flags) says."""
    from riskgov.engine.model_flags import backtest_fails, mmf_check, recommended_mmfs

    run = health_run
    page = render("/model-health", users[VIEWER])
    rows = find(page, "model-table").data
    assert [r["market"] for r in rows] == [r["market"] for r in run.recommendations]
    for row, rec in zip(rows, run.recommendations, strict=True):
        assert rec["edition"] == 2
        assert ("backtest rejects" in row["status"]) == bool(backtest_fails(rec["backtest"]))
        check = mmf_check(rec["current_mmf"], recommended_mmfs(rec))
        assert ("MMF_1 below 75 %" in row["status"]) == bool(check and check.below)
        assert row["current_imf_pct"] == f"{rec['current_imf'] * 100:.3f} %"
        assert row["horizon_label"] == "5 min" and row["series"] == "1d yahoo"  # daily closes only here
        assert row["n"] == rec["backtest"]["n"] and row["exceedances"] == rec["backtest"]["exceedances"]
        assert row["expected_txt"] == f"{rec['backtest']['expected']:,.1f}"
        lb = rec["lookbacks"]  # §12: both lookbacks with their n
        assert row["lookbacks"].startswith(f"last 365 d (n = {lb['n_recent']:,}); full {lb['long_days']:,.0f} d")
    verdicts = text(find(page, "model-verdicts"))
    for rec in run.recommendations:
        assert rec["verdict"] in verdicts
    assert "liquidation horizon" in verdicts and "Kupiec LR" in verdicts and "expected" in verdicts
    summary = text(find(page, "model-health-summary"))
    flagged = [rec["market"] for rec in run.recommendations if rec["flagged"]]
    assert summary.startswith(f"{len(flagged)} of {len(rows)} markets flagged at their liquidation horizon")
    method = text(find(page, "model-health-method"))
    assert "√(h/Δ)" in method and "last 365 days" in method and "10 years" in method
    assert find(page, "model-brackets").data[0]["bracket"] == 1
    rec = find(page, "model-recommendation").figure
    assert list(rec.data[0].y) == [r["current_mmf"] * 100 for r in run.recommendations]
    assert list(rec.data[1].y) == [r["brackets"][0]["mmf_rec"] * 100 for r in run.recommendations]
    assert not [n for n in walk(page) if str(getattr(n, "id", "")).startswith("propose-")]


def test_model_health_page_of_a_first_edition_run(render, users, health_run):
    """A run stored before the liquidation horizon (h1/h3 JSON) still renders, labelled."""
    health_run.recommendations = [
        {
            "market": "BTC-PERP",
            "current_mmf": 0.004,
            "current_imf": 0.01,
            "h1": {
                "horizon_days": 1,
                "mmf_rec": 0.1068,
                "imf_rec": 0.2136,
                "backtest": {
                    "exceedances": 870,
                    "n": 1094,
                    "expected_rate": 0.005,
                    "kupiec_lr": 8112.0,
                    "critical": 3.841,
                    "reject": True,
                },
            },
            "h3": {"horizon_days": 3, "mmf_rec": 0.2, "imf_rec": 0.4},
        }
    ]
    health_run.save(update_fields=["recommendations"])
    page = render("/model-health", users[VIEWER])
    assert "first-edition 1-/3-day recommendation" in text(find(page, "model-health-edition"))
    (row,) = find(page, "model-table").data
    assert "backtest fails (1d)" in row["status"] and "MMF below recommendation (3d)" in row["status"]


def test_pages_without_a_run_say_so(render, users, db):
    for path in ("/overview", "/accounts", "/stress", "/model-health"):
        assert "No published health run yet" in text(render(path, users[VIEWER])), path
    assert find(render("/overview", users[VIEWER], run="abc"), "no-run")


def test_impact_page_current_vs_proposed(render, render_callback, users, people, impact_proposal):
    p = impact_proposal
    impact = p.impact
    page = render("/impact", users[VIEWER])
    assert find(page, "impact-proposal").value == p.pk
    show = page_module("/impact").show_proposal
    body = render_callback(show, users[VIEWER], p.pk)
    with pytest.raises(LookupError):
        find(body, "impact-vote-link")  # a viewer is offered no vote
    member = render_callback(show, people["m1"], p.pk)
    assert find(member, "impact-vote-link").href == f"/proposals/{p.pk}/#vote"
    with pytest.raises(LookupError):
        find(render_callback(show, people["analyst"], p.pk), "impact-vote-link")  # the author may not vote
    assert find(render_callback(show, people["analyst"], p.pk), "impact-edit-link")
    rows = {r["key"]: r for r in find(body, "impact-table").data}
    cur, new = impact["current"]["totals"], impact["proposed"]["totals"]
    assert rows["maintenance_margin_usd"]["current"] == usd(cur["maintenance_margin_usd"])
    assert rows["maintenance_margin_usd"]["proposed"] == usd(new["maintenance_margin_usd"])
    assert rows["es_usd"]["proposed"] == usd(impact["proposed"]["tail"]["es_usd"])
    assert find(body, "impact-newly").children == f"{impact['newly_liquidatable_accounts']:,}"
    assert find(body, "impact-delta-mm").children == usd(impact["delta_maintenance_margin_usd"], signed=True)
    curves = find(body, "impact-curve-BTC-PERP").figure
    assert [t.name for t in curves.data] == ["current v1", f"proposed (#{p.pk})"]
    # the proposed MM is above the current one at every notional (the brackets are stricter)
    assert all(b > a for a, b in zip(curves.data[0].y, curves.data[1].y, strict=True))
    scen = find(body, "impact-scenarios").figure
    assert list(scen.data[1].y) == [s["proposed_shortfall_usd"] for s in impact["scenarios"]]
    cov = find(body, "impact-coverage").data
    first = impact["scenarios"][0]
    assert cov[0]["proposed_coverage"] == (
        "∞" if first["proposed_coverage_ratio"] is None else f"{first['proposed_coverage_ratio'] * 100:,.1f} %"
    )
    # §15 both sides: cost, protection per family, the frontier with current and proposed marked
    assert impact["changed_markets"] == ["BTC-PERP"]
    assert find(body, "impact-cost-mm").children == usd(impact["cost"]["delta_maintenance_margin_usd"], signed=True)
    assert impact["cost"]["delta_maintenance_margin_usd"] > 0 and impact["cost"]["no_longer_liquidatable_accounts"] == 0
    prot = find(body, "impact-protection").data
    assert [r["family"] for r in prot] == ["1-day gaps", "1-day trends", "1-day paths", "3-day paths"]
    trend = next(q for q in impact["protection"] if q["family"] == "trend")
    assert prot[1]["d_es"] == usd(trend["delta_es_usd"], signed=True)
    assert prot[1]["es_now"] == usd(trend["current"]["es_usd"])
    assert {q["family"] for q in impact["protection"]} == {"gap", "trend", "path_1d", "path_3d"}
    (fr,) = impact["frontier"]
    assert fr["market"] == "BTC-PERP" and len(fr["points"]) == 7
    chart = find(body, "impact-frontier-BTC-PERP").figure
    assert [t.name for t in chart.data] == ["bracket table × multiplier", "current", "proposed"]
    assert list(chart.data[0].x) == [q["mm_usd"] for q in fr["points"]]
    assert (chart.data[2].x[0], chart.data[2].y[0]) == (fr["proposed"]["mm_usd"], fr["proposed"]["es_usd"])
    assert "No such proposal" in text(render_callback(show, users[VIEWER], 10**9))


def test_overview_shows_runs_in_progress_to_who_may_see_them(render, users, venue):
    from riskgov.health.services import health_run_create

    mine = health_run_create(snapshot=venue, by=users[ANALYST], enqueue=False, label="what-if")
    assert find(render("/overview", users[ANALYST]), f"progress-{mine.pk}").value == "0"
    with pytest.raises(LookupError):  # someone else's unpublished run is not shown to a viewer
        find(render("/overview", users[VIEWER]), f"progress-{mine.pk}")


def test_parameters_page_draws_the_versions_the_active_one_replaced(render_callback, users, people, venue):
    import datetime as dt

    from django.utils import timezone

    from riskgov.governance import services as gs
    from tests.governance_fixtures import later, submit_for_votes
    from tests.venue_fixtures import STRICTER_BTC

    p = gs.proposal_create(
        by=people["analyst"],
        title="Stricter BTC",
        rationale="r",
        effective_at=later(days=3),
        changes=[{"market": "BTC-PERP", "brackets": STRICTER_BTC}],
    )
    submit_for_votes(p, people["analyst"])
    for member in ("m1", "m2", "m3"):
        p.refresh_from_db()
        if p.status == "submitted":
            gs.proposal_vote(proposal=p, by=people[member], decision="approve", comment="ok")
    gs.proposals_activate_due(now=timezone.now() + dt.timedelta(days=30))
    mmf, _lev, _mm, rows = render_callback(page_module("/parameters").show_market, users[VIEWER], "BTC-PERP")
    names = [t.name for t in mmf.data]
    assert names[-1] == "riskgov v2 (active)" and names[-2].startswith("riskgov v1 (until ")
    assert list(mmf.data[-1].y)[0] == 0.8  # the new first-bracket MMF, percent
    assert [r["status"] for r in rows].count("active") == 1


# --- issue #16 item 12 ---------------------------------------------------------------------
def test_riskiest_accounts_have_notional_and_rank_by_stress_shortfall(render, render_callback, users, health_run):
    from django.db.models import Sum
    from django.db.models.functions import Abs

    from riskgov.health.models import PositionResult

    page = render("/accounts", users[VIEWER])
    table = find(page, "accounts-riskiest")
    assert "notional_usd" in [col["id"] for col in table.columns]
    row = table.data[0]
    idx = int(row["account_link"].split("idx=")[1].rstrip(")"))
    want = PositionResult.objects.filter(run=health_run, account_idx=idx).aggregate(t=Sum(Abs("notional_usd")))["t"]
    assert row["notional_usd"] == pytest.approx(want or 0.0, abs=0.01)
    assert row["notional_usd"] == pytest.approx(AccountResult.objects.get(run=health_run, account_idx=idx).notional_usd)
    ids = [col["id"] for col in table.columns]
    # the stress columns right after the margin ratio (on screen at 1280 px)
    assert ids[1:4] == ["margin_ratio_pct", "stress_shortfall_usd", "stress_scenario"]
    assert find(page, "accounts-rank").value == "margin_ratio"
    # rank by stress shortfall: descending, each with its scenario's name
    box = render_callback(page_module("/accounts").rank_accounts, users[VIEWER], "stress_shortfall", health_run.pk)
    ranked = find(box, "accounts-riskiest").data
    stored = AccountResult.objects.filter(run=health_run, stress_shortfall_usd__isnull=False)
    assert stored.filter(stress_shortfall_usd__gt=0).exists()  # the run's gap scenarios bankrupt someone
    values = [r["stress_shortfall_usd"] for r in ranked]
    assert values == sorted(values, reverse=True)
    best = stored.order_by("-stress_shortfall_usd", "account_idx").first()
    assert values[0] == pytest.approx(best.stress_shortfall_usd, abs=0.01)
    assert ranked[0]["stress_scenario"] == best.stress_scenario != ""
    assert "stress shortfall" in find(box, "accounts-riskiest-title").children
    # by notional: descending
    box = render_callback(page_module("/accounts").rank_accounts, users[VIEWER], "notional", health_run.pk)
    notionals = [r["notional_usd"] for r in find(box, "accounts-riskiest").data]
    assert notionals == sorted(notionals, reverse=True) and notionals[0] > 0
    # the histogram's count axis is logarithmic: the bins near 100 % are visible
    assert find(page, "accounts-ratio").figure.layout.yaxis.type == "log"


def test_account_detail_shows_cents_for_small_amounts_and_every_position(render, users, health_run):
    from riskgov.presentation import formats

    acc = AccountResult.objects.filter(run=health_run).first()
    page = render("/account", users[VIEWER], run=str(health_run.pk), idx=str(acc.account_idx))
    assert find(page, "acct-equity").children == usd(acc.equity_usd)
    assert formats.money(0.7412) == "$0.74" and formats.money(1.2) == "$1.20"  # not "$1" beside 116.8 %
    table = find(page, "account-positions")
    assert table.page_size >= len(table.data)  # never cut to a first page


def test_reference_curve_equal_to_ours_stays_visible_and_shock_curve_has_zero():
    from types import SimpleNamespace

    from riskgov.presentation.figures.brackets import bracket_curves_figure
    from riskgov.presentation.figures.health import shock_curve_figure

    table = {"floors": [0, 300000], "imf": [0.01, 0.02], "mmf": [0.005, 0.01], "maintenance_amounts": [0, 1500]}
    curves = [SimpleNamespace(label="Binance", **table), SimpleNamespace(label="ours", **table)]
    fig = bracket_curves_figure(curves, market="BTC-PERP")
    ref, ours = fig.data[0], fig.data[1]  # order unchanged: references first, ours last
    assert (ours.name, ref.name) == ("ours", "Binance")
    assert ref.line.dash == "dash" and ours.line.width > ref.line.width and ours.opacity < 1
    assert ref.zorder > ours.zorder  # the equal reference is drawn over ours, not hidden
    rows = [{"shock": s, "shortfall_usd": 10.0, "liquidatable_accounts": 1, "adl_usd": 0.0} for s in (-0.1, 0.1)]
    shock = shock_curve_figure(rows, base={"shortfall_usd": 0.0})
    assert list(shock.data[0].x) == [-10.0, 0.0, 10.0]
    assert shock.layout.yaxis.tickformat == "$,.0f"  # never "−0.95M"
