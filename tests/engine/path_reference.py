"""Plain-loop reference of the path stress (RISK_MODEL §8, §9), straight from the text.

Python loops over scenarios, steps, units and positions in float64; it reads only the
engine's input dataclasses (``riskgov.engine.types``) and reuses no engine code: brackets,
maintenance margin, collateral, the §8 closes and the per-scenario totals are recomputed
here. ``impact=True`` adds the §11 cascade inside each step (rounds until none is newly
liquidatable or 50), with the conventions of ``riskgov.engine.cascade`` (collateral of an
asset follows the pooled move of its markets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from riskgov.engine.types import ParameterSet, VenueState


@dataclass
class RefPathScenario:
    liquidated_accounts: set = field(default_factory=set)
    first_step: dict = field(default_factory=dict)  # account -> 0-based step first liquidated
    account_shortfall: dict = field(default_factory=dict)
    shortfall_by_step: list = field(default_factory=list)
    penalties: float = 0.0
    liquidated_notional: list = field(default_factory=list)

    @property
    def shortfall(self) -> float:
        return float(sum(self.shortfall_by_step))

    @property
    def n_bankrupt(self) -> int:
        return sum(1 for v in self.account_shortfall.values() if v > 0)

    def top2(self) -> list[tuple[float, int]]:
        items = sorted(((-v, a) for a, v in self.account_shortfall.items() if v > 0))
        return [(-v, a) for v, a in items[:2]]


def _mm(params: ParameterSet, m: int, n: float) -> float:
    mk = params.markets
    k = 0
    for j in range(1, int(mk.n_brackets[m])):
        if n >= mk.floors[m, j]:
            k = j
    return n * mk.mmf[m, k] - mk.maintenance_amount[m, k]


def _units(params: ParameterSet, state: VenueState) -> list[dict]:
    pf = state.portfolio
    units = [{"owner": a, "pos": [], "bal": [], "w": 0.0} for a in range(pf.n_accounts)]
    for i in range(pf.n_positions):
        if pf.isolated[i]:
            units.append(
                {"owner": int(pf.position_account[i]), "pos": [i], "bal": [], "w": float(pf.isolated_margin[i])}
            )
        else:
            units[int(pf.position_account[i])]["pos"].append(i)
    for b in range(pf.n_balances):
        units[int(pf.balance_account[b])]["bal"].append(b)
    return units


def reference_path(
    params: ParameterSet, state: VenueState, path: np.ndarray, *, impact: bool = False
) -> RefPathScenario:
    """One ``(T, A)`` path of shocks through the §9 step-by-step liquidation (and §11)."""
    pf, mk, assets = state.portfolio, params.markets, params.assets
    units = _units(params, state)
    alive = [True] * len(units)
    out = RefPathScenario(liquidated_notional=[0.0] * mk.n)
    m_imp = [1.0] * mk.n
    a_imp = [1.0] * assets.n
    n_t = path.shape[0]

    def prices(t: int) -> tuple[list, list]:
        ap = [state.asset_prices[a] * (1.0 + path[t, a]) * a_imp[a] for a in range(assets.n)]
        mp = [state.asset_prices[mk.base_asset[m]] * (1.0 + path[t, mk.base_asset[m]]) * m_imp[m] for m in range(mk.n)]
        return ap, mp

    def value(u: dict, ap: list, mp: list) -> tuple[float, float, float, float]:
        e = u["w"]
        for b in u["bal"]:
            amt, a = pf.balance_amount[b], pf.balance_asset[b]
            e += amt * ap[a] * ((1.0 - assets.haircut[a]) if amt > 0 else 1.0)
        mm = slip = pen = 0.0
        for i in u["pos"]:
            m = pf.position_market[i]
            p = mp[m]
            n = abs(pf.size[i]) * p
            e += pf.size[i] * (p - pf.entry_price[i])
            mm += _mm(params, m, n)
            slip += n * min(1.0, 0.01 * n / mk.depth_usd_per_1pct[m])
            pen += n * mk.liquidation_penalty[m]
        return e, mm, slip, pen

    ap, mp = prices(0) if n_t else ([], [])
    for t in range(n_t):
        ap, mp = prices(t)
        out.shortfall_by_step.append(0.0)
        for _ in range(50):
            new = []
            for k, u in enumerate(units):
                if not alive[k]:
                    continue
                e, mm, slip, pen_due = value(u, ap, mp)
                if mm > 0 and e < mm:
                    new.append((k, e, slip, pen_due))
            if not new:
                break
            net = [0.0] * mk.n
            for k, e, slip, pen_due in new:
                u = units[k]
                alive[k] = False
                after = e - slip
                out.penalties += min(pen_due, max(0.0, after))
                short = max(0.0, -after)
                out.shortfall_by_step[t] += short
                a = u["owner"]
                out.account_shortfall[a] = out.account_shortfall.get(a, 0.0) + short
                out.liquidated_accounts.add(a)
                out.first_step.setdefault(a, t)
                for i in u["pos"]:
                    m = pf.position_market[i]
                    out.liquidated_notional[m] += abs(pf.size[i]) * mp[m]
                    net[m] += pf.size[i] * mp[m]
            if not impact:
                break
            for m in range(mk.n):
                f = max(0.0, 1.0 - 0.01 * net[m] / mk.depth_usd_per_1pct[m])
                m_imp[m] *= f
                mp[m] *= f
            for a in range(assets.n):
                ms = [m for m in range(mk.n) if mk.base_asset[m] == a]
                if ms:
                    f = max(0.0, 1.0 - 0.01 * sum(net[m] for m in ms) / sum(mk.depth_usd_per_1pct[m] for m in ms))
                    a_imp[a] *= f
                    ap[a] *= f
    if n_t:
        for k, u in enumerate(units):
            if alive[k]:
                e, _, _, _ = value(u, ap, mp)
                if e < 0:
                    out.shortfall_by_step[-1] += -e
                    a = u["owner"]
                    out.account_shortfall[a] = out.account_shortfall.get(a, 0.0) - e
    return out


def close(a: float, b: float) -> bool:
    """Money agreement of RISK_MODEL §1: relative 1e-9, absolute 1e-6 USD."""
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
