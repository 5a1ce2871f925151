"""Engine benchmark: base health pass and scenario stress run on a seeded synthetic venue.

    python bench/engine.py [--accounts 1000000 --positions 3000000 --markets 50
                            --scenarios 2000 --seed 7] [--small]

Times, in one run on the same in-memory data:

(a) the engine's base health pass — ``margin.position_metrics`` + ``account_metrics`` +
    ``protocol_totals`` (RISK_MODEL §2–§6);
(b) the same pass written the straightforward pandas way (``merge_asof`` bracket lookup,
    ``groupby`` sums);
(c) the same pass in DuckDB SQL (bracket range join + ``GROUP BY``);
(d) the engine's stress run over all scenarios (``stress.run_scenarios``, §8, §9), including
    building its unit book;
(e) a naive dense numpy loop over scenarios (``stress.run_scenarios_dense``) on a subsample
    of accounts and scenarios, **extrapolated** linearly in positions × scenarios; (d)'s
    fast path is rerun on the same subsample and must agree with it exactly;
(f) the engine's liquidation-price pass (``liquidation.liquidation_prices`` on the metrics
    of (a), §7; engine only);
(g) the engine's liquidation cascade (``cascade.run_cascade``, §11) from the worst scenario
    of (d), including building its unit book.

Historical shocks come from the Yahoo daily closes: the shared full file when present, else
the repo's trimmed ``data/prices/yahoo_daily_closes.csv`` (``bench.venue.PRICE_FILES``).

All three base passes must agree on the totals (rtol 1e-9). Prints a table with seconds,
ratios and the process's peak RSS; for (d) also its CPU time summed over threads (user +
kernel) and the 1-minute load average when it started, since on a shared machine the wall
time depends on what else runs. ``--small`` (50k accounts, 500 scenarios) is the CI smoke.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import check_agree, peak_rss_gib, print_rows, take_scenarios, timed, venue_parser  # noqa: E402
from bench.venue import Venue, make_venue  # noqa: E402
from riskgov.engine import cascade, liquidation, margin, stress  # noqa: E402
from riskgov.engine.scenarios import ScenarioSet  # noqa: E402
from riskgov.engine.types import ParameterSet, Portfolio, VenueState  # noqa: E402

TOTAL_KEYS = ("liquidatable", "bankrupt", "shortfall", "equity", "maintenance_margin", "initial_margin")


def base_engine(params: ParameterSet, state: VenueState) -> dict[str, float]:
    """(a) The engine's base pass: ``margin`` position/account metrics + protocol totals."""
    pm = margin.position_metrics(params, state)
    am = margin.account_metrics(params, state, pm)
    t = margin.protocol_totals(params, state, pm, am)
    return {
        "liquidatable": t.liquidatable_accounts,
        "bankrupt": t.bankrupt_accounts,
        "shortfall": t.shortfall,
        "equity": t.equity,
        "maintenance_margin": t.maintenance_margin,
        "initial_margin": t.initial_margin,
    }


def _frames(params: ParameterSet, state: VenueState):  # noqa: ANN202 - pandas frames
    import pandas as pd

    pf = state.portfolio
    mk = params.markets
    pos = pd.DataFrame(
        {
            "account": pf.position_account,
            "market": pf.position_market,
            "size": pf.size,
            "entry": pf.entry_price,
            "isolated": pf.isolated,
            "iso_margin": pf.isolated_margin,
        }
    )
    bal = pd.DataFrame({"account": pf.balance_account, "asset": pf.balance_asset, "amount": pf.balance_amount})
    assets = pd.DataFrame(
        {
            "asset": np.arange(params.assets.n),
            "price": state.asset_prices,
            "haircut": params.assets.haircut,
        }
    )
    markets = pd.DataFrame({"market": np.arange(mk.n), "asset": mk.base_asset})
    rows = []
    for m in range(mk.n):
        k = int(mk.n_brackets[m])
        for j in range(k):
            nxt = mk.floors[m, j + 1] if j + 1 < k else np.inf
            rows.append((m, mk.floors[m, j], nxt, mk.mmf[m, j], mk.imf[m, j], mk.maintenance_amount[m, j]))
    brackets = pd.DataFrame(rows, columns=["market", "floor", "floor_next", "mmf", "imf", "cum"])
    return pos, bal, assets, markets, brackets


def base_pandas(params: ParameterSet, state: VenueState, frames) -> dict[str, float]:  # noqa: ANN001
    """(b) The base pass as a straightforward pandas program."""
    import pandas as pd

    pos, bal, assets, markets, brackets = frames
    n = state.portfolio.n_accounts
    p = pos.merge(markets, on="market").merge(assets[["asset", "price"]], on="asset")
    p["notional"] = p["size"].abs() * p["price"]
    p = p.sort_values("notional")
    p = pd.merge_asof(p, brackets.sort_values("floor"), left_on="notional", right_on="floor", by="market")
    p["mm"] = p["notional"] * p["mmf"] - p["cum"]
    p["im"] = p["notional"] * p["imf"]
    p["upnl"] = p["size"] * (p["price"] - p["entry"])
    p["iso_eq"] = (p["iso_margin"] + p["upnl"]).where(p["isolated"], 0.0)
    p["iso_liq"] = p["isolated"] & (p["mm"] > 0) & (p["iso_eq"] < p["mm"])
    p["iso_short"] = (-p["iso_eq"]).clip(lower=0).where(p["isolated"], 0.0)
    cross = p[~p["isolated"]].groupby("account")[["upnl", "mm"]].sum()
    allp = p.groupby("account").agg(
        mm=("mm", "sum"),
        im=("im", "sum"),
        iso_eq=("iso_eq", "sum"),
        iso_liq=("iso_liq", "any"),
        iso_short=("iso_short", "sum"),
    )
    b = bal.merge(assets, on="asset")
    b["value"] = np.where(b["amount"] > 0, b["amount"] * b["price"] * (1 - b["haircut"]), b["amount"] * b["price"])
    coll = b.groupby("account")["value"].sum()
    idx = pd.RangeIndex(n)
    acc = pd.DataFrame(
        {
            "coll": coll.reindex(idx, fill_value=0.0),
            "cu": cross["upnl"].reindex(idx, fill_value=0.0),
            "cmm": cross["mm"].reindex(idx, fill_value=0.0),
            "mm": allp["mm"].reindex(idx, fill_value=0.0),
            "im": allp["im"].reindex(idx, fill_value=0.0),
            "iso_eq": allp["iso_eq"].reindex(idx, fill_value=0.0),
            "iso_liq": allp["iso_liq"].reindex(idx, fill_value=False).astype(bool),
            "iso_short": allp["iso_short"].reindex(idx, fill_value=0.0),
        }
    )
    ce = acc["coll"] + acc["cu"]
    short = (-ce).clip(lower=0) + acc["iso_short"]
    liq = ((acc["cmm"] > 0) & (ce < acc["cmm"])) | acc["iso_liq"]
    return {
        "liquidatable": int(liq.sum()),
        "bankrupt": int((short > 0).sum()),
        "shortfall": float(short.sum()),
        "equity": float((ce + acc["iso_eq"]).sum()),
        "maintenance_margin": float(acc["mm"].sum()),
        "initial_margin": float(acc["im"].sum()),
    }


BASE_SQL = """
WITH p AS (
    SELECT pos.*, a.price, abs(pos.size) * a.price AS notional
    FROM pos JOIN markets m ON pos.market = m.market JOIN assets a ON m.asset = a.asset
), pm AS (
    SELECT p.account, p.isolated,
           p.size * (p.price - p.entry) AS upnl,
           p.notional * b.mmf - b.cum AS mm,
           p.notional * b.imf AS im,
           p.iso_margin + p.size * (p.price - p.entry) AS iso_eq
    FROM p JOIN brackets b
      ON p.market = b.market AND p.notional >= b.floor AND p.notional < b.floor_next
), pa AS (
    SELECT account,
           coalesce(sum(upnl) FILTER (WHERE NOT isolated), 0) AS cu,
           coalesce(sum(mm) FILTER (WHERE NOT isolated), 0) AS cmm,
           sum(mm) AS mm, sum(im) AS im,
           coalesce(sum(iso_eq) FILTER (WHERE isolated), 0) AS iso_eq,
           coalesce(bool_or(isolated AND mm > 0 AND iso_eq < mm), false) AS iso_liq,
           coalesce(sum(greatest(0, -iso_eq)) FILTER (WHERE isolated), 0) AS iso_short
    FROM pm GROUP BY account
), co AS (
    SELECT bal.account,
           sum(CASE WHEN bal.amount > 0 THEN bal.amount * a.price * (1 - a.haircut)
                    ELSE bal.amount * a.price END) AS coll
    FROM bal JOIN assets a ON bal.asset = a.asset GROUP BY bal.account
), acc AS (
    SELECT coalesce(co.coll, 0) + coalesce(pa.cu, 0) AS ce,
           coalesce(pa.cmm, 0) AS cmm, coalesce(pa.mm, 0) AS mm, coalesce(pa.im, 0) AS im,
           coalesce(pa.iso_eq, 0) AS iso_eq, coalesce(pa.iso_liq, false) AS iso_liq,
           coalesce(pa.iso_short, 0) AS iso_short
    FROM pa FULL OUTER JOIN co ON pa.account = co.account
)
SELECT count(*) FILTER (WHERE (cmm > 0 AND ce < cmm) OR iso_liq) AS liquidatable,
       count(*) FILTER (WHERE greatest(0, -ce) + iso_short > 0) AS bankrupt,
       sum(greatest(0, -ce) + iso_short) AS shortfall,
       sum(ce + iso_eq) AS equity,
       sum(mm) AS maintenance_margin,
       sum(im) AS initial_margin
FROM acc
"""


def duckdb_connect(frames):  # noqa: ANN001, ANN201
    """A DuckDB connection with the frames registered as views (zero copy, not timed)."""
    import duckdb

    con = duckdb.connect()
    for name, df in zip(("pos", "bal", "assets", "markets", "brackets"), frames, strict=True):
        con.register(name, df)
    return con


def base_duckdb(con) -> dict[str, float]:  # noqa: ANN001
    """(c) The base pass in DuckDB SQL over the registered pandas frames."""
    row = con.execute(BASE_SQL).fetchall()[0]
    return dict(zip(TOTAL_KEYS, (int(row[0]), int(row[1]), *map(float, row[2:])), strict=True))


def check_totals(name: str, ref: dict[str, float], got: dict[str, float]) -> None:
    """Raise AssertionError unless ``got`` equals ``ref`` (counts exact, money rtol 1e-9)."""
    for k in TOTAL_KEYS:
        a, b = ref[k], got[k]
        ok = a == b if k in ("liquidatable", "bankrupt") else np.isclose(a, b, rtol=1e-9, atol=1e-6)
        if not ok:
            raise AssertionError(f"{name}: {k} = {b} but engine says {a}")


def subsample(venue: Venue, n_accounts: int, scenario_step: int) -> tuple[VenueState, ScenarioSet]:
    """The first ``n_accounts`` accounts and every ``scenario_step``-th scenario."""
    pf = venue.state.portfolio
    kp = pf.position_account < n_accounts
    kb = pf.balance_account < n_accounts
    sub = Portfolio(
        n_accounts=n_accounts,
        balance_account=pf.balance_account[kb],
        balance_asset=pf.balance_asset[kb],
        balance_amount=pf.balance_amount[kb],
        position_account=pf.position_account[kp],
        position_market=pf.position_market[kp],
        size=pf.size[kp],
        entry_price=pf.entry_price[kp],
        isolated=pf.isolated[kp],
        isolated_margin=pf.isolated_margin[kp],
    )
    st = VenueState(portfolio=sub, asset_prices=venue.state.asset_prices, insurance_fund=venue.state.insurance_fund)
    return st, take_scenarios(venue.scenarios, np.arange(0, venue.scenarios.n, scenario_step))


def compare_stress(fast: stress.StressResult, dense: stress.StressResult) -> None:
    """Raise AssertionError unless the fast and dense stress results agree (§8, §9)."""
    money = ("shortfall", "penalties", "top2_shortfall", "adl_amount", "insurance_fund_after")
    check_agree(fast, dense, money, "stress {k} differs between fast path and dense loop")


def run(args: argparse.Namespace) -> dict[str, float]:
    """Run the benchmark and print the table; returns the timings in seconds."""
    venue, t_gen, _ = timed(make_venue, args.accounts, args.positions, args.markets, args.scenarios, args.seed)
    params, state = venue.params, venue.state
    print(
        f"venue: {args.accounts:,} accounts, {state.portfolio.n_positions:,} positions "
        f"({int(state.portfolio.isolated.sum()):,} isolated), {params.markets.n} markets, "
        f"{params.assets.n} assets, {state.portfolio.n_balances:,} balances; "
        f"{venue.scenarios.n} scenarios: {venue.shock_source}; generated in {t_gen:.1f} s"
    )
    ref, t_engine, _ = timed(base_engine, params, state)
    pm = margin.position_metrics(params, state)
    am = margin.account_metrics(params, state, pm)
    liq_px, t_liq, _ = timed(liquidation.liquidation_prices, params, state, pm, am)
    del pm, am
    frames = _frames(params, state)
    pd_tot, t_pandas, _ = timed(base_pandas, params, state, frames)
    check_totals("pandas", ref, pd_tot)
    con = duckdb_connect(frames)
    db_tot, t_duck, _ = timed(base_duckdb, con)
    check_totals("duckdb", ref, db_tot)
    con.close()
    del frames

    load = os.getloadavg()[0]
    cpu0 = os.times()
    res, t_stress, _ = timed(stress.run_scenarios, params, state, venue.scenarios)
    cpu1 = os.times()
    cpu_stress = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    sys_stress = cpu1.system - cpu0.system
    worst = res.worst_scenario
    casc, t_casc, _ = timed(cascade.run_cascade, params, state, venue.scenarios, scenario=max(worst, 0))
    # zero-shock consistency is covered by the tests; here: naive loop on a subsample
    n_sub = max(1, args.accounts // 20)
    step = max(1, venue.scenarios.n // 100)
    sub_state, sub_scen = subsample(venue, n_sub, step)
    dense, t_dense_sub, _ = timed(stress.run_scenarios_dense, params, sub_state, sub_scen)
    fast_sub = stress.run_scenarios(params, sub_state, sub_scen)
    compare_stress(fast_sub, dense)
    scale = (state.portfolio.n_positions / sub_state.portfolio.n_positions) * (venue.scenarios.n / sub_scen.n)
    t_naive = t_dense_sub * scale
    rss_gib = peak_rss_gib()

    rows = [
        ("(a) base pass, engine (margin.py)", t_engine, ""),
        ("(b) base pass, pandas groupby", t_pandas, f"pandas/engine = {t_pandas / t_engine:.1f}x"),
        ("(c) base pass, DuckDB SQL", t_duck, f"duckdb/engine = {t_duck / t_engine:.1f}x"),
        (
            f"(d) stress, engine, {venue.scenarios.n} scenarios",
            t_stress,
            f"CPU {cpu_stress:.2f} s on all threads ({sys_stress:.2f} s kernel), load {load:.1f} / {os.cpu_count()} cores",
        ),
        (
            f"(e) stress, naive dense loop (extrapolated from {n_sub:,} accts x {sub_scen.n} scen, "
            f"measured {t_dense_sub:.2f} s)",
            t_naive,
            f"naive/engine = {t_naive / t_stress:.1f}x",
        ),
        ("(f) liquidation prices, engine (liquidation.py)", t_liq, ""),
        (f"(g) cascade, engine, worst scenario ({venue.scenarios.names[max(worst, 0)]})", t_casc, ""),
    ]
    print_rows(rows, col=9, places=3, note="ratio")
    print(
        f"base totals agree (engine = pandas = duckdb): liquidatable {ref['liquidatable']:,}, "
        f"bankrupt {ref['bankrupt']:,}, shortfall {ref['shortfall']:,.2f} USD, "
        f"MM {ref['maintenance_margin']:,.0f} USD"
    )
    print(
        f"stress fast path = dense loop on the subsample ({sub_scen.n} scenarios, counts exact, "
        f"money rtol 1e-9); full run: liquidated/scenario mean {res.n_liquidated.mean():,.0f} "
        f"max {res.n_liquidated.max():,}, worst S {res.shortfall.max():,.0f} USD, "
        f"Cover-2 {res.cover2:,.0f} USD, exactly evaluated unit-scenario pairs "
        f"{int(res.evaluated_pairs.sum()):,} of {venue.scenarios.n * (state.portfolio.n_accounts + int(state.portfolio.isolated.sum())):,}"
    )
    print(
        f"liquidation prices: {int(np.isfinite(liq_px).sum()):,} of {liq_px.size:,} positions have one; "
        f"cascade from the worst scenario: {casc.n_rounds} rounds "
        f"({'converged' if casc.converged else 'hit the round limit'}), "
        f"{casc.total_liquidated_accounts:,} accounts liquidated, shortfall {casc.total_shortfall:,.0f} USD, "
        f"ADL {casc.adl_amount:,.0f} USD"
    )
    print(f"peak RSS {rss_gib:.2f} GiB")
    if load >= (os.cpu_count() or 1) - 0.5:
        print(
            f"note: the 1-minute load average was {load:.1f} on {os.cpu_count()} cores when (d) started: "
            "other processes shared the CPUs, so the wall times above are inflated; (d)'s CPU time is the "
            "steadier figure"
        )
    return {
        "engine": t_engine,
        "pandas": t_pandas,
        "duckdb": t_duck,
        "stress": t_stress,
        "stress_cpu": cpu_stress,
        "load": load,
        "naive": t_naive,
        "liquidation_prices": t_liq,
        "cascade": t_casc,
        "rss_gib": rss_gib,
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments (``--small`` overrides sizes with 50k accounts, 500 scenarios)."""
    ap = venue_parser(__doc__.split("\n\n")[0])
    ap.add_argument("--scenarios", type=int, default=2000)
    ap.add_argument("--small", action="store_true", help="quick run: 50k accounts, 500 scenarios")
    args = ap.parse_args(argv)
    if args.small:
        args.accounts, args.positions, args.scenarios = 50_000, 150_000, 500
    return args


if __name__ == "__main__":
    run(parse())
