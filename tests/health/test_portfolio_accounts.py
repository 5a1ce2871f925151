"""Portfolio-margin accounts in health runs (RISK_MODEL §14, §5, §9; FORMATS riskgov.health/2).

A snapshot mixing cross, isolated and portfolio accounts: the PM accounts' figures in the run
equal the engine's margin simulator on the same book (hand-built requests); gap scenarios
revalue the options; the output format is unchanged.
"""

import pandas as pd
import pytest

from riskgov.engine.margin_simulation import simulate_margin
from riskgov.engine.options import black76_greeks
from riskgov.engine.pm_venue import NOT_COVERED
from riskgov.health.export import health_document
from riskgov.health.models import RunStatus
from riskgov.health.services import health_run_create
from riskgov.markets.models import Asset
from riskgov.portfolio.adapters import active_pm_params
from riskgov.portfolio.services import pm_defaults_seed
from riskgov.snapshots.services import snapshot_import
from tests.venue_fixtures import write_snapshot

pytestmark = pytest.mark.django_db

AS_OF = "2020-04-16T00:00:00Z"
BTC_EXPIRY = "2020-05-29T08:00:00Z"
ETH_EXPIRY = "2020-04-24T08:00:00Z"


def add_pm_accounts(path):
    """Two PM accounts: a covered call on BTC (long 1 perp, short 1 call 6500) and a long
    ETH straddle with an ETH liability; and a PM account that is deep under water."""
    acc = (path / "accounts.csv").read_text().splitlines()
    rows = [f"{a},cross" for a in acc[1:]]
    (path / "accounts.csv").write_text(
        "account_id,margin_mode\n" + "\n".join(rows) + "\npm-cc,portfolio\npm-straddle,portfolio\npm-short,portfolio\n"
    )
    with (path / "balances.csv").open("a") as fh:
        fh.write("pm-cc,USDT,2000\npm-straddle,USDT,900\npm-straddle,BTC,0.01\npm-short,USDT,50\n")
    with (path / "positions.csv").open("a") as fh:
        fh.write("pm-cc,BTC-PERP,1,5900,cross,\n")
    (path / "options.csv").write_text(
        "account_id,underlying,expiry,strike,kind,size,entry_price\n"
        f"pm-cc,BTC,{BTC_EXPIRY},6500,call,-1,150\n"
        f"pm-straddle,ETH,{ETH_EXPIRY},150,call,10,6\n"
        f"pm-straddle,ETH,{ETH_EXPIRY},150,put,10,6\n"
        f"pm-short,BTC,{BTC_EXPIRY},5000,put,-2,100\n"
    )
    (path / "option_marks.csv").write_text(
        "underlying,expiry,strike,kind,mark_iv\n"
        f"BTC,{BTC_EXPIRY},6500,call,0.8\n"
        f"BTC,{BTC_EXPIRY},5000,put,0.9\n"
        f"ETH,{ETH_EXPIRY},150,call,0.95\n"
        f"ETH,{ETH_EXPIRY},150,put,0.95\n"
    )
    return path


def request(*, underlyings, collateral, perps=(), options=()):
    return {
        "format": "riskgov.margin_request/1",
        "as_of": AS_OF,
        "underlyings": [{"asset": a, "price": p, "pm": None} for a, p in underlyings],
        "collateral": [{"asset": a, "amount": q, "haircut": h} for a, q, h in collateral],
        "perps": list(perps),
        "options": list(options),
    }


@pytest.fixture
def pm_venue(venue, tmp_path):
    for sym in ("BTC", "ETH"):
        pm_defaults_seed(underlying=Asset.objects.get(symbol=sym))
    return snapshot_import(path=add_pm_accounts(write_snapshot(tmp_path / "pm")))


def run_eager(snapshot, callbacks, **kw):
    with callbacks(execute=True):
        run = health_run_create(snapshot=snapshot, **kw)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run


def test_pm_accounts_equal_the_simulator(pm_venue, django_capture_on_commit_callbacks):
    run = run_eager(pm_venue, django_capture_on_commit_callbacks)
    doc = health_document(run)
    rows = {a["account_id"]: a for a in doc["accounts"]}
    active = active_pm_params()
    cc = simulate_margin(cc_request(), active_pm=active)["account"]
    row = rows["pm-cc"]
    assert row["maintenance_margin_usd"] == pytest.approx(cc["maintenance_margin_usd"], rel=1e-12)
    assert row["initial_margin_usd"] == pytest.approx(cc["initial_margin_usd"], rel=1e-12)
    assert row["equity_usd"] == pytest.approx(cc["equity_usd"], rel=1e-12)
    assert row["liquidatable"] is cc["liquidatable"] is False
    # a covered call: MM well below the naked short call's (the perp hedges the upside)
    assert 0 < row["maintenance_margin_usd"] < 0.2 * 6000

    st = simulate_margin(straddle_request(), active_pm=active)["account"]
    assert rows["pm-straddle"]["maintenance_margin_usd"] == pytest.approx(st["maintenance_margin_usd"], rel=1e-12)
    assert rows["pm-straddle"]["equity_usd"] == pytest.approx(st["equity_usd"], rel=1e-12)
    assert rows["pm-short"]["liquidatable"] is True  # 50 USD against two short puts

    # the PM accounts are accounts of the run, beside cross and isolated ones; format unchanged
    assert doc["format"] == "riskgov.health/2" and doc["totals"]["accounts"] == 24
    assert set(doc["accounts"][0]) == {
        "account_id",
        "equity_usd",
        "initial_margin_usd",
        "maintenance_margin_usd",
        "margin_ratio",
        "liquidatable",
        "bankrupt",
        "shortfall_usd",
    }
    assert doc["totals"]["maintenance_margin_usd"] == pytest.approx(
        sum(a["maintenance_margin_usd"] for a in doc["accounts"]), rel=1e-9
    )
    assert {p["account_id"] for p in doc["positions"]}.isdisjoint({"pm-cc", "pm-straddle", "pm-short"})
    pm = run.tail["portfolio_margin"]
    assert (pm["accounts"], pm["options"], pm["liquidatable"]) == (3, 4, 1)
    # §8 closes, the cascade and the ADL attribution cover PM accounts now (RISK_MODEL §8, §11)
    assert pm["not_covered"] == list(NOT_COVERED) and not any("cascade" in s for s in pm["not_covered"])
    assert any("slippage" in s for s in pm["covered"]) and any("cascade" in s for s in pm["covered"])


def cc_request(btc="6000"):
    return request(
        underlyings=[("BTC", btc)],
        collateral=[("USDT", "2000", "0")],
        perps=[{"market": "BTC-PERP", "underlying": "BTC", "size": "1", "entry_price": "5900"}],
        options=[
            {
                "underlying": "BTC",
                "expiry": BTC_EXPIRY,
                "strike": "6500",
                "kind": "call",
                "size": "-1",
                "mark_iv": "0.8",
            }
        ],
    )


def straddle_request(eth="150", btc="6000"):
    r = request(
        underlyings=[("ETH", eth)],
        collateral=[("USDT", "900", "0"), ("BTC", "0.01", "0.05")],  # the venue's BTC haircut
        options=[
            {"underlying": "ETH", "expiry": ETH_EXPIRY, "strike": "150", "kind": k, "size": "10", "mark_iv": "0.95"}
            for k in ("call", "put")
        ],
    )
    r["collateral"][1]["price"] = btc
    return r


def short_request(btc="6000"):
    return request(
        underlyings=[("BTC", btc)],
        collateral=[("USDT", "50", "0")],
        options=[
            {"underlying": "BTC", "expiry": BTC_EXPIRY, "strike": "5000", "kind": "put", "size": "-2", "mark_iv": "0.9"}
        ],
    )


def test_gap_scenarios_revalue_pm_accounts(pm_venue, venue, django_capture_on_commit_callbacks):
    """The uniform −50 % gap: every PM account revalued at half the prices (options at their
    mark vols, T unchanged, collateral moved): liquidated where E' < MM', shortfall max(0, −E')
    — exactly what the simulator says at the moved prices, added to the bracket side's."""
    with_pm = run_eager(pm_venue, django_capture_on_commit_callbacks, scenario_spec="uniform")
    plain = run_eager(venue, django_capture_on_commit_callbacks, scenario_spec="uniform")

    def row(run):
        return next(s for s in health_document(run)["scenarios"] if s["name"] == "uniform -50.0%")

    active = active_pm_params()
    moved = [
        simulate_margin(r, active_pm=active)["account"]
        for r in (cc_request("3000"), straddle_request("75", "3000"), short_request("3000"))
    ]
    liquidated = [a for a in moved if a["liquidatable"]]
    at_model_value = sum(max(0.0, -a["equity_usd"]) for a in liquidated)
    assert at_model_value > 3000  # the two short puts go 2000 in the money each
    assert [a["liquidatable"] for a in moved] == [True, False, True]  # the covered call and pm-short
    # §8 on their legs in BTC-PERP (depth 5 M USD per 1 %, the venue fixture): the perp at
    # S'·(1 − slip), the options at their value plus the slippage of their delta equivalent
    t = (pd.Timestamp(BTC_EXPIRY) - pd.Timestamp(AS_OF)).total_seconds() / (365 * 86400)

    def slip(n):
        return n * min(1.0, 0.01 * n / 5e6)

    def delta(k, call, vol):
        return float(
            black76_greeks(is_call=call, forward=3000.0, strike=k, vol=vol, t=t, discount=1.0, spot=3000.0).delta
        )

    cc_slip = slip(1 * 3000.0) + slip(abs(-1 * delta(6500.0, True, 0.8)) * 3000.0)
    short_slip = slip(abs(-2 * delta(5000.0, False, 0.9)) * 3000.0)
    expected = max(0.0, -(moved[0]["equity_usd"] - cc_slip)) + max(0.0, -(moved[2]["equity_usd"] - short_slip))
    assert expected > at_model_value
    s_pm, s_plain = row(with_pm), row(plain)
    assert s_pm["shortfall_usd"] - s_plain["shortfall_usd"] == pytest.approx(expected, rel=1e-9)
    assert s_pm["liquidatable_accounts"] - s_plain["liquidatable_accounts"] == len(liquidated)
    # the worst scenario's cascade (§11) and ADL attribution (§8) include the PM accounts
    assert with_pm.cascade["scenario"] == plain.cascade["scenario"] == "uniform -50.0%"
    assert with_pm.cascade["liquidated_accounts"] >= plain.cascade["liquidated_accounts"] + 2
    assert with_pm.adl["shortfall_usd"] == pytest.approx(s_pm["shortfall_usd"], rel=1e-9)
    assert with_pm.cascade["shortfall_usd"] > plain.cascade["shortfall_usd"]


def test_pm_underlying_without_parameters_fails_the_run_with_one_line(
    venue, tmp_path, django_capture_on_commit_callbacks
):
    from riskgov.core.exceptions import DomainError
    from riskgov.health.models import AccountResult, HealthRun

    snap = snapshot_import(path=add_pm_accounts(write_snapshot(tmp_path / "pm")))
    with pytest.raises(DomainError), django_capture_on_commit_callbacks(execute=True):  # eager: re-raised
        health_run_create(snapshot=snap)
    run = HealthRun.objects.get(snapshot=snap)
    assert run.status == RunStatus.FAILED and run.published_at is None
    assert "no active PM parameters for underlying BTC, ETH" in run.error and "\n" not in run.error
    assert not AccountResult.objects.filter(run=run).exists()


def test_path_families_include_pm_accounts(pm_venue, venue, django_capture_on_commit_callbacks):
    """1-day paths: ``pm-short`` is already under water, so every path liquidates it at step 1
    and adds its shortfall there (≈ its base shortfall, whatever comes later); the path
    through the −40 % day adds the most (the covered call is liquidated on the way down, at
    a smaller move than the gap, with a small shortfall)."""
    with_pm = run_eager(pm_venue, django_capture_on_commit_callbacks, scenario_spec="path1")
    plain = run_eager(venue, django_capture_on_commit_callbacks, scenario_spec="path1")

    def paths(run):
        return {s["name"]: s for s in health_document(run)["scenarios"] if s["family"] == "path_1d"}

    a, b = paths(with_pm), paths(plain)
    assert a.keys() == b.keys() and len(a) > 10
    base = next(x for x in health_document(with_pm)["accounts"] if x["account_id"] == "pm-short")["shortfall_usd"]
    added = {k: a[k]["shortfall_usd"] - b[k]["shortfall_usd"] for k in a}
    assert base > 300 and all(x == pytest.approx(base, rel=0.1) or x > base for x in added.values())
    crash = max(added, key=added.get)
    assert crash == "path 1d 2020-03-12" and added[crash] > base
    # the replay of the worst 1-day path carries the PM accounts' shortfall too
    worst = max(a.values(), key=lambda x: x["shortfall_usd"])
    assert with_pm.replay["scenario"] == worst["name"]
    assert with_pm.replay["shortfall_usd"] == pytest.approx(worst["shortfall_usd"], rel=1e-9)
    assert sum(with_pm.replay["shortfall_by_step_usd"]) == pytest.approx(worst["shortfall_usd"], rel=1e-9)
    assert a[crash]["liquidatable_accounts"] > b[crash]["liquidatable_accounts"]
    tails = {t["family"]: t for t in health_document(with_pm)["tails"]}
    assert tails["path_1d"]["es_usd"] >= {t["family"]: t for t in health_document(plain)["tails"]}["path_1d"]["es_usd"]


def _activate(underlying, **values):
    """A new PM version of ``underlying`` made active (the old one superseded), as governance does."""
    from riskgov.parameters.models import VersionStatus
    from riskgov.portfolio.selectors import active_pm_versions
    from riskgov.portfolio.services import pm_version_create, pm_version_set_status

    old = active_pm_versions(symbols=[underlying]).get()
    new = pm_version_create(underlying=old.underlying, values=values)
    pm_version_set_status(version=new, status=VersionStatus.APPROVED)
    pm_version_set_status(version=old, status=VersionStatus.SUPERSEDED)
    pm_version_set_status(version=new, status=VersionStatus.ACTIVE)
    return old, new


def test_pm_parameters_are_frozen_at_run_creation(pm_venue, django_capture_on_commit_callbacks):
    """A run records the PM versions active at its creation; an activation while it is
    pending changes none of its numbers (chunks and finalize read the frozen versions); a
    run created after the activation uses the new ones and has another input hash."""
    from riskgov.health.services import health_chunk_compute, health_run_finalize, health_run_start
    from riskgov.portfolio.selectors import active_pm_versions

    before = {v.underlying.symbol: v.pk for v in active_pm_versions()}
    reference = run_eager(pm_venue, django_capture_on_commit_callbacks, scenario_spec="uniform")
    run = health_run_create(snapshot=pm_venue, scenario_spec="uniform", enqueue=False)
    assert run.pm_versions == before == reference.pm_versions
    old, new = _activate("BTC", mm_factor="0.5", price_range="0.3")  # much stricter BTC
    assert run.pm_versions["BTC"] == old.pk != new.pk
    for a, b in health_run_start(run_id=run.pk):
        health_chunk_compute(run_id=run.pk, first_account=a, last_account=b)
    health_run_finalize(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error

    def figures(r):
        doc = health_document(r)
        rows = {a["account_id"]: a for a in doc["accounts"]}
        return (
            [rows[k]["maintenance_margin_usd"] for k in ("pm-cc", "pm-short")],
            [s["shortfall_usd"] for s in doc["scenarios"]],
        )

    assert figures(run) == figures(reference)
    assert run.input_hash == reference.input_hash

    after = run_eager(pm_venue, django_capture_on_commit_callbacks, scenario_spec="uniform")
    assert after.pm_versions == {**before, "BTC": new.pk} and after.input_hash != run.input_hash
    (mm_after, _), (mm_before, _) = figures(after), figures(run)
    assert mm_after[0] > mm_before[0] and mm_after[1] > mm_before[1]  # the stricter set, in the new run only


def test_run_with_a_missing_frozen_pm_version_fails_with_one_line(pm_venue):
    from riskgov.core.exceptions import Conflict
    from riskgov.health.services._base import _run_pm_params

    run = health_run_create(snapshot=pm_venue, enqueue=False)
    run.pm_versions = {**run.pm_versions, "BTC": 10**9}
    with pytest.raises(Conflict, match=r"^PM parameter versions of BTC not found; start a new run$"):
        _run_pm_params(run)
    run.pm_versions = None  # a run from before PM versions were recorded: the active ones
    assert _run_pm_params(run) == active_pm_params()
