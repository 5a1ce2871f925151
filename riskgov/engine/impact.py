"""Impact of a parameter change: cost to traders, protection of the venue, frontier (RISK_MODEL §15).

A proposal (or a what-if parameter document) is evaluated with the current and the proposed
``ParameterSet`` on the same ``VenueState`` and the same scenario families:

* **cost** (``impact_cost``): ΔIM and ΔMM (total and per market), accounts newly
  liquidatable now, accounts newly below IM and the top-up they need
  ``Σ max(0, IM − E)`` (proposed minus current), and the max leverage ``1/IMF_k`` per
  bracket of every changed market;
* **protection** (``family_protection``), per family (§10, never pooled): VaR, ES, mean and
  worst shortfall, coverage at ES, mean ADL amount and mean bankrupt accounts of each side
  and their differences (proposed − current); per scenario of the *standard* families
  (gaps and trends) the shortfall before and after;
* **frontier** (``market_frontier``), per changed market ``m``: the points (MM of ``m``'s
  positions, ES of the 1-day-path shortfall of the accounts holding ``m``) for ``m``'s
  current bracket table with every MMF and IMF scaled by each of ``MULTIPLIERS`` (capped at
  1), the current table (×1) and the proposed table marked; only the accounts holding ``m``
  are re-run (an account without ``m`` is unaffected by ``m``'s table), and of them only the
  shortfall, every multiplier in one pass (``path_stress.run_path_shortfall_multi``).

When the proposal changes only bracket tables, ``impact_comparison`` runs the accounts
holding no changed market once per family and adds them to both sides (``_merge``).

**Portfolio-margin accounts** (§14): given the venue's PM side under the current and the
proposed PM parameters (``pm_venue.with_pm_params``), both sides include them — their IM, MM
and liquidatable flags in the cost (``pm_venue.merge_health``, as a health run does; ΔIM/ΔMM
per underlying in ``per_underlying``), their path outcomes in every family's protection
(``pm_venue.pm_path_stress`` merged by ``merge_path_stress``). A side whose inputs are equal
on both (no bracket change, or no PM change) is run once.

Every money figure is float64 USD; ratios are ``inf`` when there is nothing to cover (the
storage layer writes them ``null``). Path stress runs without the cascade (§9), so a
tightening-only change (every MMF and IMF up or equal) gives cost ≥ 0 and shortfall ≤ 0
in every scenario — except where slippage exceeds the margin it buys (a bigger
liquidation at an earlier step can close at a worse slipped price; see
``tests/engine/test_paths.py::test_higher_mmf_can_cost_more_when_slippage_exceeds_the_margin``);
with infinite (or large) depth the property holds and is tested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from riskgov.engine import tail
from riskgov.engine.brackets import bracket_table, scale_bracket_table, with_bracket_table
from riskgov.engine.combine import merge_top2
from riskgov.engine.fund import adl_amount, insurance_fund_after
from riskgov.engine.health import evaluate_health
from riskgov.engine.path_stress import PathStressResult, run_path_shortfall, run_path_shortfall_multi, run_path_stress
from riskgov.engine.paths import PathSet
from riskgov.engine.pm_venue import PMVenue, merge_health, merge_path_stress, pm_path_stress
from riskgov.engine.portfolio_margin import PMResult, portfolio_margin
from riskgov.engine.positions import open_interest, position_metrics
from riskgov.engine.tail import coverage_ratios
from riskgov.engine.types import F64, Bool, EngineInputError, ParameterSet, Portfolio, VenueState

__all__ = [
    "MULTIPLIERS",
    "Family",
    "accounts_holding",
    "changed_markets",
    "changed_underlyings",
    "family_protection",
    "impact_comparison",
    "impact_cost",
    "market_frontier",
    "scale_market",
    "with_market_of",
]

#: the frontier's MMF/IMF multipliers (§15)
MULTIPLIERS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)
#: families whose every scenario is listed before/after (the standard, named scenarios)
STANDARD_FAMILIES = ("gap", "trend")


@dataclass(frozen=True)
class Family:
    """A scenario family of the comparison: its paths and the scenarios of its tail.

    Attributes:
        paths: the ``PathSet`` (a gap family is ``paths.gap_paths`` of the gap scenarios).
        in_tail: ``(S,)`` bool tail population (``None`` = every scenario).
        standard: ``(S,)`` bool scenarios listed before/after (``None``: all when the family
            is in ``STANDARD_FAMILIES``, else none).
    """

    paths: PathSet
    in_tail: Bool | None = None
    standard: Bool | None = None


def changed_markets(current: ParameterSet, proposed: ParameterSet) -> list[int]:
    """Indices of the markets whose bracket table (floors, IMF, MMF) differs.

    Raises:
        EngineInputError: the two sets cover different markets or assets.
    """
    if current.markets.symbols != proposed.markets.symbols or current.assets.symbols != proposed.assets.symbols:
        raise EngineInputError("current and proposed parameter sets must cover the same markets and assets")
    a, b = current.markets, proposed.markets
    out = []
    for m in range(len(a.symbols)):
        ka, kb = int(a.n_brackets[m]), int(b.n_brackets[m])
        same = ka == kb and all(
            np.array_equal(getattr(a, f)[m, :ka], getattr(b, f)[m, :kb]) for f in ("floors", "imf", "mmf")
        )
        if not same:
            out.append(m)
    return out


def changed_underlyings(current: PMVenue | None, proposed: PMVenue | None) -> list[str]:
    """Underlyings of the PM side whose PM parameters differ between the two sides (§14)."""
    if current is None or proposed is None:
        return []
    a, b = current.market, proposed.market
    if a.symbols != b.symbols:
        raise EngineInputError("current and proposed PM sides must cover the same underlyings")
    return [s for s, pa, pb in zip(a.symbols, a.params, b.params, strict=True) if pa != pb]


def scale_market(params: ParameterSet, market: int, multiplier: float) -> ParameterSet:
    """``params`` with every MMF and IMF of ``market`` multiplied by ``multiplier`` (capped at 1;
    ``brackets.scale_bracket_table``)."""
    return scale_bracket_table(params, market, multiplier)


def with_market_of(base: ParameterSet, donor: ParameterSet, market: int) -> ParameterSet:
    """``base`` with ``market``'s bracket table taken from ``donor`` (one market's change alone)."""
    return with_bracket_table(base, market, *bracket_table(donor, market))


def _sub_venue(params: ParameterSet, state: VenueState, keep: np.ndarray) -> VenueState:
    """The accounts ``keep`` (ascending) of ``state``, re-indexed 0..n−1, rows in their order;
    the venue's open interest and fund are kept (§3 OI scaling sees the whole venue)."""
    pf = state.portfolio
    new = np.full(pf.n_accounts, -1, dtype=np.int64)
    new[keep] = np.arange(keep.size)
    bsel = new[pf.balance_account] >= 0
    psel = new[pf.position_account] >= 0
    sub = Portfolio(
        n_accounts=int(keep.size),
        balance_account=new[pf.balance_account[bsel]],
        balance_asset=pf.balance_asset[bsel],
        balance_amount=pf.balance_amount[bsel],
        position_account=new[pf.position_account[psel]],
        position_market=pf.position_market[psel],
        size=pf.size[psel],
        entry_price=pf.entry_price[psel],
        isolated=pf.isolated[psel],
        isolated_margin=pf.isolated_margin[psel],
    )
    oi = state.open_interest if state.open_interest is not None else open_interest(params, pf, state.asset_prices)
    return VenueState(
        portfolio=sub, asset_prices=state.asset_prices, insurance_fund=state.insurance_fund, open_interest=oi
    )


def _holders(state: VenueState, markets: Sequence[int]) -> np.ndarray:
    """Ascending accounts with a position in one of ``markets`` (a flag per account, no sort)."""
    pf = state.portfolio
    held = np.zeros(pf.n_accounts, dtype=bool)
    held[pf.position_account[np.isin(pf.position_market, np.asarray(markets, dtype=np.int64))]] = True
    return np.flatnonzero(held)


def accounts_holding(params: ParameterSet, state: VenueState, market: int) -> tuple[VenueState, np.ndarray]:
    """The sub-venue of the accounts with a position in ``market`` (re-indexed 0..n−1).

    The open interest stays the whole venue's (§3 OI scaling sees the venue), the fund too.

    Returns:
        ``(state, accounts)``: the sub-venue and the ``(n,)`` original account indices.
    """
    keep = _holders(state, [market])
    return _sub_venue(params, state, keep), keep


def _per_market(n_m: int, market: np.ndarray, values: np.ndarray) -> F64:
    return np.bincount(market, weights=values, minlength=n_m).astype(np.float64)


def _pm_health(params: ParameterSet, state: VenueState, pm: PMVenue | None) -> tuple[Any, PMResult | None]:
    """The venue's health (bracket side, with the PM accounts' rows when ``pm``) and the PM result."""
    h = evaluate_health(params, state, with_prices=False)
    if pm is None:
        return h, None
    r = portfolio_margin(market=pm.market, book=pm.book)
    return merge_health(h, r, pm), r


def _per_underlying(pc: PMResult | None, pp: PMResult | None, pm: PMVenue | None, changed: Sequence[str]) -> list:
    if pc is None or pp is None or pm is None:
        return []
    n_u = len(pm.market.symbols)

    def by_u(r: PMResult, field: str) -> np.ndarray:
        return np.bincount(r.unit_underlying, weights=getattr(r, field), minlength=n_u)

    d_im = by_u(pp, "initial_margin") - by_u(pc, "initial_margin")
    d_mm = by_u(pp, "maintenance_margin") - by_u(pc, "maintenance_margin")
    units = np.bincount(pc.unit_underlying, minlength=n_u)
    return [
        {
            "underlying": sym,
            "risk_units": int(units[u]),
            "delta_initial_margin_usd": float(d_im[u]),
            "delta_maintenance_margin_usd": float(d_mm[u]),
        }
        for u, sym in enumerate(pm.market.symbols)
        if d_im[u] != 0.0 or d_mm[u] != 0.0 or sym in changed
    ]


def impact_cost(
    current: ParameterSet,
    proposed: ParameterSet,
    state: VenueState,
    *,
    pm_current: PMVenue | None = None,
    pm_proposed: PMVenue | None = None,
) -> dict[str, Any]:
    """Cost to traders of moving from ``current`` to ``proposed`` on ``state`` (§15).

    ``pm_current``/``pm_proposed``: the venue's PM side under each side's PM parameters
    (``state`` is then its ``cross_state``); the PM accounts' figures join the totals and the
    account counts, their ΔIM/ΔMM per underlying are in ``per_underlying`` (§14).

    Returns:
        ``{"delta_initial_margin_usd", "delta_maintenance_margin_usd", "per_market": [{market,
        delta_initial_margin_usd, delta_maintenance_margin_usd}], "newly_liquidatable_accounts",
        "no_longer_liquidatable_accounts", "newly_below_im_accounts", "top_up_usd" (Σ max(0,
        IM − E) proposed − current), "top_up_current_usd", "top_up_proposed_usd",
        "max_leverage": [{market, brackets: [{floor_usd, current, proposed}]}] (changed markets),
        "per_underlying": [{underlying, risk_units, delta_initial_margin_usd,
        delta_maintenance_margin_usd}] (PM underlyings changed or whose margin moved)}``.

    Raises:
        EngineInputError: only one PM side given, or the sides differ in underlyings.
    """
    if (pm_current is None) != (pm_proposed is None):
        raise EngineInputError("give the PM side of both current and proposed, or of neither")
    hc, pmc = _pm_health(current, state, pm_current)
    hp, pmp = _pm_health(proposed, state, pm_proposed)
    pf = state.portfolio
    n_m = len(current.markets.symbols)
    d_im = _per_market(n_m, pf.position_market, hp.positions.initial_margin) - _per_market(
        n_m, pf.position_market, hc.positions.initial_margin
    )
    d_mm = _per_market(n_m, pf.position_market, hp.positions.maintenance_margin) - _per_market(
        n_m, pf.position_market, hc.positions.maintenance_margin
    )
    ac, ap = hc.accounts, hp.accounts
    below_c = ac.equity < ac.initial_margin
    below_p = ap.equity < ap.initial_margin
    top_c = float(np.maximum(0.0, ac.initial_margin - ac.equity).sum())
    top_p = float(np.maximum(0.0, ap.initial_margin - ap.equity).sum())
    changed = changed_markets(current, proposed)
    leverage = []
    for m in changed:
        fc, ic, _ = bracket_table(current, m)
        fp, ip, _ = bracket_table(proposed, m)
        floors = sorted(set(fc.tolist()) | set(fp.tolist()))
        rows = []
        for f in floors:
            kc = int(np.searchsorted(fc, f, side="right") - 1)
            kp = int(np.searchsorted(fp, f, side="right") - 1)
            rows.append({"floor_usd": f, "current": 1.0 / ic[kc], "proposed": 1.0 / ip[kp]})
        leverage.append({"market": current.markets.symbols[m], "brackets": rows})
    return {
        "delta_initial_margin_usd": float(hp.totals.initial_margin - hc.totals.initial_margin),
        "delta_maintenance_margin_usd": float(hp.totals.maintenance_margin - hc.totals.maintenance_margin),
        "per_market": [
            {
                "market": current.markets.symbols[m],
                "delta_initial_margin_usd": float(d_im[m]),
                "delta_maintenance_margin_usd": float(d_mm[m]),
            }
            for m in range(n_m)
            if d_im[m] != 0.0 or d_mm[m] != 0.0 or m in changed
        ],
        "newly_liquidatable_accounts": int((ap.liquidatable & ~ac.liquidatable).sum()),
        "no_longer_liquidatable_accounts": int((ac.liquidatable & ~ap.liquidatable).sum()),
        "newly_below_im_accounts": int((below_p & ~below_c).sum()),
        "top_up_usd": top_p - top_c,
        "top_up_current_usd": top_c,
        "top_up_proposed_usd": top_p,
        "max_leverage": leverage,
        "per_underlying": _per_underlying(pmc, pmp, pm_current, changed_underlyings(pm_current, pm_proposed)),
    }


def _side(res: PathStressResult, mask: np.ndarray, alpha: float) -> dict[str, float]:
    s = res.shortfall[mask]
    var, es, _ = tail.var_es(s, alpha)
    fund = float(res.insurance_fund)
    return {
        "var_usd": var,
        "es_usd": es,
        "mean_shortfall_usd": float(s.mean()),
        "worst_shortfall_usd": float(s.max()),
        "coverage_at_es": tail.coverage(fund, es),
        "mean_adl_usd": float(res.adl_amount[mask].mean()),
        "mean_bankrupt_accounts": float(res.n_bankrupt[mask].mean()),
    }


def family_protection(
    family: Family, current: PathStressResult, proposed: PathStressResult, *, alpha: float
) -> dict[str, Any]:
    """Protection of the venue over one family (§10, §15): each side's tail figures and the
    differences ``delta_*`` = proposed − current (``delta_coverage_at_es`` is ``nan`` when a
    side is infinite and the other is not; both infinite → 0)."""
    n = family.paths.n
    if n == 0:
        raise EngineInputError(f"family {family.paths.family!r} has no scenario")
    mask = np.ones(n, dtype=bool) if family.in_tail is None else np.asarray(family.in_tail, dtype=bool)
    if not mask.any():
        mask = np.ones(n, dtype=bool)
    cur, prop = _side(current, mask, alpha), _side(proposed, mask, alpha)
    deltas = {}
    for key in cur:
        a, b = cur[key], prop[key]
        if np.isinf(a) and np.isinf(b):
            deltas[f"delta_{key}"] = 0.0
        else:
            deltas[f"delta_{key}"] = float(b - a) if np.isfinite(a) and np.isfinite(b) else float("nan")
    std = family.standard
    if std is None:
        std = np.full(n, family.paths.family in STANDARD_FAMILIES)
    scen = [
        {
            "name": family.paths.names[i],
            "shortfall_before_usd": float(current.shortfall[i]),
            "shortfall_after_usd": float(proposed.shortfall[i]),
        }
        for i in np.flatnonzero(np.asarray(std, dtype=bool))
    ]
    return {
        "family": family.paths.family,
        "alpha": float(alpha),
        "scenarios": int(mask.sum()),
        "current": cur,
        "proposed": prop,
        **deltas,
        "standard_scenarios": scen,
    }


def _positions_of(state: VenueState, market: int) -> VenueState:
    """``state`` with only ``market``'s positions (in their order) and no balances: their MM."""
    pf = state.portfolio
    sel = np.flatnonzero(pf.position_market == market)
    z = np.zeros(0, dtype=np.int64)
    sub = Portfolio(
        n_accounts=pf.n_accounts,
        balance_account=z,
        balance_asset=z,
        balance_amount=np.zeros(0),
        position_account=pf.position_account[sel],
        position_market=pf.position_market[sel],
        size=pf.size[sel],
        entry_price=pf.entry_price[sel],
        isolated=pf.isolated[sel],
        isolated_margin=pf.isolated_margin[sel],
    )
    return replace(state, portfolio=sub)


def _mm_of(params: ParameterSet, positions: VenueState) -> float:
    """``Σ MM`` of the positions of ``_positions_of`` (§2; per position, so the other rows of
    the venue do not enter)."""
    return float(position_metrics(params, positions).maintenance_margin.sum())


def _table_key(params: ParameterSet, market: int) -> bytes:
    """What of ``market``'s table a path stress sees (floors, MMF, maintenance amounts)."""
    k = int(params.markets.n_brackets[market])
    mk = params.markets
    return b"".join(np.ascontiguousarray(a[market, :k]).tobytes() for a in (mk.floors, mk.mmf, mk.maintenance_amount))


def _only_tables_differ(current: ParameterSet, proposed: ParameterSet, changed: Sequence[int]) -> bool:
    """Whether ``proposed`` is ``current`` with the bracket tables of ``changed`` replaced (and
    nothing else: assets, penalties, depths, OI caps, limits and the other tables equal)."""
    a, b = current.assets, proposed.assets
    if not (np.array_equal(a.haircut, b.haircut) and np.array_equal(a.stable, b.stable)):
        return False
    ma, mb = current.markets, proposed.markets
    for f in ("base_asset", "liquidation_penalty", "depth_usd_per_1pct", "oi_cap_lower", "oi_cap_upper"):
        if not np.array_equal(getattr(ma, f), getattr(mb, f)):
            return False
    if not np.array_equal(ma.max_position_notional, mb.max_position_notional):
        return False
    for j in set(range(ma.n)) - set(changed):
        k = int(ma.n_brackets[j])
        if k != int(mb.n_brackets[j]):
            return False
        for f in ("floors", "imf", "mmf", "maintenance_amount"):
            if not np.array_equal(getattr(ma, f)[j, :k], getattr(mb, f)[j, :k]):
                return False
    return True


def _merge(parts: Sequence[tuple[PathStressResult, np.ndarray]], fund: float) -> PathStressResult:
    """One venue's path stress from the results of disjoint account sets (§9, §10).

    ``parts``: ``(result, accounts)`` with ``accounts`` the venue indices of the result's
    accounts. Counts and money add per scenario (in the order of ``parts``; money equals the
    one-run result to float rounding, §1), fund after / ADL / coverage are recomputed, the
    top 2 merge exactly (``combine.merge_top2``).
    """
    first = parts[0][0]

    def add(field: str) -> np.ndarray:
        out = getattr(first, field).copy()
        for r, _ in parts[1:]:
            out += getattr(r, field)
        return out

    short, pen, by_step = add("shortfall"), add("penalties"), add("shortfall_by_step")
    accts = [
        np.where(r.top2_account >= 0, idx[np.maximum(r.top2_account, 0)] if idx.size else -1, -1) for r, idx in parts
    ]
    top2, top2_acc = merge_top2(np.stack([r.top2_shortfall for r, _ in parts]), np.stack(accts))
    n_s = short.size
    return replace(
        first,
        n_liquidated=add("n_liquidated"),
        n_bankrupt=add("n_bankrupt"),
        shortfall=short,
        penalties=pen,
        insurance_fund=fund,
        insurance_fund_after=insurance_fund_after(fund, pen, short),
        adl_amount=adl_amount(fund, pen, short),
        coverage=coverage_ratios(fund, short),
        worst_step=np.where(short > 0, np.argmax(by_step, axis=1) + 1, 0).astype(np.int64)
        if by_step.shape[1]
        else np.zeros(n_s, dtype=np.int64),
        shortfall_by_step=by_step,
        liquidated_by_step=add("liquidated_by_step"),
        liquidated_notional=add("liquidated_notional"),
        top2_shortfall=top2,
        top2_account=top2_acc,
        evaluated_steps=add("evaluated_steps"),
        candidate_units=add("candidate_units"),
        worst_scenario=int(np.argmax(short)) if n_s else -1,
        account_shortfall=None,
    )


def _shortfall_of(params: ParameterSet, state: VenueState, paths: PathSet) -> F64 | None:
    return run_path_shortfall(params, state, paths) if state.portfolio.n_accounts else None


def market_frontier(
    current: ParameterSet,
    proposed: ParameterSet,
    state: VenueState,
    market: int,
    paths: PathSet,
    *,
    alpha: float,
    multipliers: Sequence[float] = MULTIPLIERS,
    known: dict[bytes, F64 | None] | None = None,
    holders: VenueState | None = None,
) -> dict[str, Any]:
    """The (MM, ES) frontier of one changed market (§15), over ``paths`` (1-day paths).

    Only the accounts holding ``market`` are evaluated; the other markets keep the current
    tables, so the points show ``market``'s table alone. ``points`` are the current table
    scaled by each multiplier (``current: True`` on ×1); ``proposed`` is the proposed table's
    point. A table met twice (the proposed table equal to a scaled one) is run once, and only
    the shortfall is computed: the scaled tables not in ``known`` in one pass
    (``path_stress.run_path_shortfall_multi``), a proposed table that is no scaled one alone
    (``path_stress.run_path_shortfall``); both give the floats of separate runs.

    ``known``: ``(S,)`` path shortfalls of ``paths`` on exactly these holders with ``current``
    except ``market``'s table, keyed by ``_table_key`` (``impact_comparison`` passes the runs
    its protection section already made); filled with the runs made here. ``holders``: the
    sub-venue ``accounts_holding(current, state, market)[0]`` when already built.
    """
    sub = accounts_holding(current, state, market)[0] if holders is None else holders
    pos = _positions_of(sub, market)
    runs = {} if known is None else known
    scaled = [scale_market(current, market, k) for k in multipliers]
    todo: dict[bytes, float] = {}
    for k, p in zip(multipliers, scaled, strict=True):
        todo.setdefault(_table_key(p, market), float(k))
    todo = {key: k for key, k in todo.items() if key not in runs}
    if todo:  # every missing multiplier in one pass
        multi = (
            run_path_shortfall_multi(current, sub, paths, market, list(todo.values()))
            if sub.portfolio.n_accounts
            else None
        )
        for i, key in enumerate(todo):
            runs[key] = multi[i] if multi is not None else None

    def point(p: ParameterSet) -> dict[str, float]:
        key = _table_key(p, market)
        if key not in runs:
            runs[key] = _shortfall_of(p, sub, paths)
        s = runs[key]
        return {"mm_usd": _mm_of(p, pos), "es_usd": tail.var_es(s, alpha)[1] if s is not None else 0.0}

    points = [
        {"multiplier": float(k), **point(p), "current": float(k) == 1.0}
        for k, p in zip(multipliers, scaled, strict=True)
    ]
    cur_pt = next((pt for pt in points if pt["current"]), None)
    if cur_pt is None:
        cur_pt = point(current)
    return {
        "market": current.markets.symbols[market],
        "family": paths.family,
        "alpha": float(alpha),
        "accounts": int(sub.portfolio.n_accounts),
        "points": points,
        "current": {"mm_usd": cur_pt["mm_usd"], "es_usd": cur_pt["es_usd"]},
        "proposed": point(with_market_of(current, proposed, market)),
    }


def _family_runs(
    current: ParameterSet,
    proposed: ParameterSet,
    state: VenueState,
    paths: PathSet,
    split: tuple | None,
    same: bool = False,
) -> tuple[PathStressResult, PathStressResult, PathStressResult | None, PathStressResult | None]:
    """Both sides of one family, and the holders' runs when ``split`` (see ``impact_comparison``);
    ``same``: the bracket side is equal on both (one run serves both)."""
    if split is None:
        rc = run_path_stress(current, state, paths)
        return rc, (rc if same else run_path_stress(proposed, state, paths)), None, None
    held, keep, rest, rest_idx = split
    fund = float(state.insurance_fund)
    hc, hp = run_path_stress(current, held, paths), run_path_stress(proposed, held, paths)
    if rest is None:
        return _merge([(hc, keep)], fund), _merge([(hp, keep)], fund), hc, hp
    rr = run_path_stress(current, rest, paths)
    return _merge([(rr, rest_idx), (hc, keep)], fund), _merge([(rr, rest_idx), (hp, keep)], fund), hc, hp


def impact_comparison(
    current: ParameterSet,
    proposed: ParameterSet,
    state: VenueState,
    families: Sequence[Family],
    *,
    alpha: float = 0.99,
    frontier_family: str = "path_1d",
    multipliers: Sequence[float] = MULTIPLIERS,
    pm_current: PMVenue | None = None,
    pm_proposed: PMVenue | None = None,
) -> dict[str, Any]:
    """The whole §15 comparison: ``{"cost", "protection": [per family], "frontier": [per changed
    market], "changed_markets", "changed_underlyings"}`` (proposed − current).

    ``pm_current``/``pm_proposed``: the venue's PM side (``pm_venue.PMVenue``, ``state`` its
    ``cross_state``) under the current and the proposed PM parameters; the PM accounts are
    then on both sides of the cost and of every family's protection (module docstring). The
    frontier stays per changed bracket table (PM accounts hold no bracket margin). The frontier uses the family labelled
    ``frontier_family`` (else the first family, named in each frontier's ``family``).

    When ``proposed`` differs from ``current`` only in the bracket tables of the changed
    markets (``_only_tables_differ``), an account holding none of them has the same outcome
    on both sides: each family then runs the other accounts once and the holders twice, and
    the two sides add them up (``_merge``: counts exact, money to float rounding, §1). With one
    changed market the holders' runs are the frontier's ×1 point and, when its table is a
    scaled one, the proposed point too (``market_frontier(known=...)``).
    """
    if (pm_current is None) != (pm_proposed is None):
        raise EngineInputError("give the PM side of both current and proposed, or of neither")
    changed = changed_markets(current, proposed)
    tables_only = _only_tables_differ(current, proposed, changed)
    pm_changed = changed_underlyings(pm_current, pm_proposed)
    # the PM side reads the markets' depths and penalties, never the bracket tables
    pm_same = pm_current is not None and not pm_changed and tables_only
    split = None
    if changed and tables_only:
        keep = _holders(state, changed)
        rest_idx = np.setdiff1d(np.arange(state.portfolio.n_accounts), keep, assume_unique=True)
        if keep.size:
            rest = _sub_venue(current, state, rest_idx) if rest_idx.size else None
            split = (_sub_venue(current, state, keep), keep, rest, rest_idx)
    protection = []
    frontier_paths = None
    known: dict[bytes, F64 | None] = {}
    for fam in families:
        if fam.paths.n == 0:
            continue
        rc, rp, hc, hp = _family_runs(current, proposed, state, fam.paths, split, same=not changed and tables_only)
        if pm_current is not None and pm_proposed is not None:
            px = state.asset_prices
            pc = pm_path_stress(params=current, venue=pm_current, asset_prices=px, paths=fam.paths.shocks)
            pp = (
                pc
                if pm_same
                else pm_path_stress(params=proposed, venue=pm_proposed, asset_prices=px, paths=fam.paths.shocks)
            )
            rc, rp = merge_path_stress(rc, pc), merge_path_stress(rp, pp)
        protection.append(family_protection(fam, rc, rp, alpha=alpha))
        if fam.paths.family == frontier_family and frontier_paths is None:
            frontier_paths = fam.paths
            if hc is not None and len(changed) == 1:
                known = {_table_key(current, changed[0]): hc.shortfall, _table_key(proposed, changed[0]): hp.shortfall}
    if frontier_paths is None:
        frontier_paths = next((f.paths for f in families if f.paths.n), None)
        known = {}
    frontier = (
        [
            market_frontier(
                current,
                proposed,
                state,
                m,
                frontier_paths,
                alpha=alpha,
                multipliers=multipliers,
                known=dict(known),
                holders=split[0] if split is not None and len(changed) == 1 else None,
            )
            for m in changed
        ]
        if frontier_paths is not None
        else []
    )
    return {
        "changed_markets": [current.markets.symbols[m] for m in changed],
        "changed_underlyings": pm_changed,
        "cost": impact_cost(current, proposed, state, pm_current=pm_current, pm_proposed=pm_proposed),
        "protection": protection,
        "frontier": frontier,
    }
