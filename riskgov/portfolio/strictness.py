"""Stricter-than for PM parameters (emergencies, RISK_MODEL §13–§14): parameter-wise, exact.

An emergency change may only tighten: for **every** book, every scenario loss the old
parameters charge must be charged at least as much by the new ones, and the margin built on
them must not fall. The test compares parameters, not sample books, so it holds for every
book, not only for a reference grid.

**Claim.** ``new`` is at least as strict as ``old`` when

1. the vol-shock parameters are equal (``vol_range_up``, ``vol_range_down``, both vega
   powers, ``dte_floor_days``, ``min_vol_for_shock_up``);
2. every scenario ``(move, vol)`` of ``old`` (its grid ``R·i/n`` × down/none/up plus the
   extended table with vol up, or its explicit list) is a scenario of ``new`` with a weight
   at least as large;
3. ``short_option_contingency`` and ``perp_contingency`` do not fall;
4. ``mm_factor`` does not rise.

**Proof.** Fix any book. By (1) every option's shocked vols ``σ_down, σ_up`` are the same
functions of ``σ`` and DTE under both sets, so a scenario ``(m, v)`` revalues the book to the
same value change ``Δ(m, v)`` under both. Its weighted loss is ``−w·Δ``; with ``w' ≥ w > 0``,
``max(0, −w'Δ) ≥ max(0, −wΔ)`` whatever the sign of ``Δ``. By (2) the old scenarios are a
subset of the new ones, so ``L' = max(0, max over new) ≥ max(0, max over old) = L``. The
contingencies are ``c·S·(non-negative size)`` with ``c' ≥ c`` by (3), hence
``MM' = L' + c_so'·… + c_p'·… ≥ MM``, and ``IM' = MM'/mm' ≥ MM/mm = IM`` since
``0 < mm' ≤ mm`` by (4). ∎

Why not compare the vol shocks one way: a larger ``vol_range_up`` raises the loss of a
short-vega book in the ``up`` scenarios but lowers a long-vega book's loss there, so no
direction of a shock parameter is stricter for every book; changes to them go through the
normal quorum and timelock. Widening the grid stays possible in an emergency by keeping the
old moves — e.g. ``R 0.16, n 4`` → ``R 0.32, n 8`` — or by adding extended scenarios.

Each failure is a :class:`riskgov.portfolio.validation.PMError` (rule names below).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from riskgov.portfolio.validation import EXACT, PMError

__all__ = ["SHOCK_FIELDS", "scenario_set", "stricter_violations"]

SHOCK_FIELDS = (
    "vol_range_up",
    "vol_range_down",
    "short_term_vega_power",
    "long_term_vega_power",
    "dte_floor_days",
    "min_vol_for_shock_up",
)


def scenario_set(values: Mapping[str, Any]) -> dict[tuple[Decimal, str], Decimal]:
    """``{(move, vol): weight}`` of §14, exact (the grid's ``R·i/n`` computed in Decimal).

    When a ``(move, vol)`` appears twice (a grid move repeated in the extended table), the
    larger weight counts — what the worst-loss maximum sees.
    """
    out: dict[tuple[Decimal, str], Decimal] = {}

    def add(m: Decimal, vol: str, w: Decimal) -> None:
        key = (m.normalize(EXACT) if m else Decimal(0), vol)
        out[key] = max(out.get(key, w), w)

    if values.get("scenarios") is not None:
        for m, vol, w in values["scenarios"]:
            add(Decimal(str(m)), str(vol), Decimal(str(w)))
        return out
    r, n = Decimal(str(values["price_range"])), int(Decimal(str(values["buckets"])))
    for i in range(-n, n + 1):
        m = EXACT.divide(EXACT.multiply(r, Decimal(i)), Decimal(n))
        for vol in ("down", "none", "up"):
            add(m, vol, Decimal(1))
    for m, w in values.get("extended") or ():
        add(Decimal(str(m)), "up", Decimal(str(w)))
    return out


def stricter_violations(*, subject: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[PMError]:
    """Why ``new`` is not at least as strict as ``old`` for every book (empty: it is).

    Rules: ``vol_shock_changed``, ``scenario_dropped``, ``weight_lowered``,
    ``contingency_lowered``, ``mm_factor_raised`` (module docstring for the proof).
    """
    out: list[PMError] = []
    for f in SHOCK_FIELDS:
        a, b = Decimal(str(old[f])), Decimal(str(new[f]))
        if a != b:
            out.append(
                PMError(
                    subject,
                    f,
                    "vol_shock_changed",
                    f"{a} → {b}: a vol-shock change raises some books' losses and lowers others', "
                    "so it is not stricter for every book (use a normal proposal)",
                )
            )
    new_set = scenario_set(new)
    dropped: list[str] = []
    for (m, vol), w in sorted(scenario_set(old).items()):
        if (m, vol) not in new_set:
            dropped.append(f"({m}, {vol})")
        elif new_set[(m, vol)] < w:
            out.append(
                PMError(
                    subject,
                    "extended" if old.get("scenarios") is None else "scenarios",
                    "weight_lowered",
                    f"scenario ({m}, {vol}) weight {w} → {new_set[(m, vol)]}",
                )
            )
    if dropped:
        shown = ", ".join(dropped[:6]) + (f" and {len(dropped) - 6} more" if len(dropped) > 6 else "")
        out.append(
            PMError(
                subject,
                "price_range" if old.get("scenarios") is None else "scenarios",
                "scenario_dropped",
                f"the new scenarios drop {shown}: keep every current (move, vol), e.g. widen the grid "
                "by a whole multiple of its step or add extended moves",
            )
        )
    for f in ("short_option_contingency", "perp_contingency"):
        a, b = Decimal(str(old[f])), Decimal(str(new[f]))
        if b < a:
            out.append(PMError(subject, f, "contingency_lowered", f"{a} → {b} is lower"))
    a, b = Decimal(str(old["mm_factor"])), Decimal(str(new["mm_factor"]))
    if b > a:
        out.append(PMError(subject, "mm_factor", "mm_factor_raised", f"{a} → {b} lowers IM = MM/mm_factor"))
    return out
