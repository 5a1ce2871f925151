"""Field metadata, declared once: what each stored field *is* (money in USD, a margin
fraction, a share, a ratio, a count, a plain number) and its label for people.

Tables, templates (the ``fmt_field`` filter), report rows, CSV headers and the Dash pages
ask this module rather than guessing from names; :func:`format_value` turns a value into
text with the one convention of :mod:`riskgov.presentation.formats`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from riskgov.presentation import formats

MONEY = "money"  #: USD
FRACTION = "fraction"  #: a margin parameter: IMF, MMF, penalty, haircut (percent, 3 places)
SHARE = "share"  #: a share of a whole (percent, 2 places)
RATIO = "ratio"  #: a ratio that may pass 100 %, ``None`` = ∞ (percent, 1 place)
COUNT = "count"  #: an integer count
NUMBER = "number"  #: a plain number (test statistic), 3 places
TEXT = "text"

_FORMATTERS: dict[str, Callable[..., str]] = {
    MONEY: formats.money,
    FRACTION: formats.fraction,
    SHARE: formats.share,
    RATIO: formats.ratio,
    COUNT: formats.count,
    NUMBER: formats.number,
}
#: kinds whose changes are formatted with a sign
_SIGNED = {MONEY, SHARE, RATIO, COUNT}


@dataclass(frozen=True)
class Field:
    """One stored field: its kind (module constants) and its label (with the unit)."""

    kind: str
    label: str


def _f(kind: str, label: str) -> Field:
    return Field(kind, label)


FIELDS: dict[str, Field] = {
    # run totals and tail (FORMATS.md ``totals``/``tail``; HealthRun columns)
    "accounts": _f(COUNT, "Accounts"),
    "n_accounts": _f(COUNT, "Accounts"),
    "positions": _f(COUNT, "Positions"),
    "n_positions": _f(COUNT, "Positions"),
    "equity_usd": _f(MONEY, "Equity (USD)"),
    "initial_margin_usd": _f(MONEY, "Initial margin (USD)"),
    "maintenance_margin_usd": _f(MONEY, "Maintenance margin (USD)"),
    "liquidatable_accounts": _f(COUNT, "Liquidatable accounts"),
    "liquidatable_accounts_share": _f(SHARE, "Liquidatable share of accounts"),
    "liquidatable_oi_share": _f(SHARE, "Liquidatable share of open interest"),
    "bankrupt_accounts": _f(COUNT, "Bankrupt accounts"),
    "shortfall_usd": _f(MONEY, "Shortfall now (USD)"),
    "insurance_fund_usd": _f(MONEY, "Insurance fund (USD)"),
    "coverage_ratio": _f(RATIO, "Coverage (fund / shortfall)"),
    "var_usd": _f(MONEY, "VaR of shortfall (USD)"),
    "es_usd": _f(MONEY, "ES of shortfall (USD)"),
    "cover2_usd": _f(MONEY, "Cover-2 (USD)"),
    "coverage_at_es": _f(RATIO, "Coverage at ES (fund / ES)"),
    "cover2_coverage": _f(RATIO, "Coverage of Cover-2 (fund / Cover-2)"),
    "open_interest_usd": _f(MONEY, "Open interest (USD)"),
    "liquidatable_oi_usd": _f(MONEY, "Liquidatable open interest (USD)"),
    "worst_scenario_shortfall_usd": _f(MONEY, "Worst-scenario shortfall (USD)"),
    # accounts and positions
    "margin_ratio": _f(RATIO, "Margin ratio (MM / E)"),
    "notional_usd": _f(MONEY, "Notional (USD)"),
    "liquidation_price": _f(NUMBER, "Liquidation price (USD)"),
    "bankruptcy_price": _f(NUMBER, "Bankruptcy price (USD)"),
    # scenarios
    "insurance_fund_after_usd": _f(MONEY, "Insurance fund after (USD)"),
    "adl_usd": _f(MONEY, "ADL (USD)"),
    "shock": _f(SHARE, "Shock"),
    # parameters (RISK_MODEL §2–§4)
    "notional_floor": _f(MONEY, "Notional floor (USD)"),
    "initial_margin_fraction": _f(FRACTION, "IMF"),
    "maintenance_margin_fraction": _f(FRACTION, "MMF"),
    "maintenance_amount": _f(MONEY, "Maintenance amount (USD)"),
    "liquidation_penalty": _f(FRACTION, "Liquidation penalty"),
    "haircut": _f(FRACTION, "Haircut"),
    "depth_usd_per_1pct": _f(MONEY, "Depth (USD / 1 %)"),
    "oi_cap_lower_usd": _f(MONEY, "OI cap lower (USD)"),
    "oi_cap_upper_usd": _f(MONEY, "OI cap upper (USD)"),
    "max_position_notional_usd": _f(MONEY, "Max position notional (USD)"),
    "liquidation_horizon_minutes": _f(NUMBER, "Liquidation horizon (min)"),
    # model health (§12)
    "current_mmf": _f(FRACTION, "Current MMF"),
    "current_imf": _f(FRACTION, "Current IMF"),
    "mmf_rec": _f(FRACTION, "Recommended MMF"),
    "imf_rec": _f(FRACTION, "Recommended IMF"),
    "kupiec_lr": _f(NUMBER, "Kupiec LR"),
    "critical": _f(NUMBER, "Critical value"),
    "exceedances": _f(COUNT, "Exceedances"),
    # governance policy
    "fast_track_max_relative_change": _f(SHARE, "Fast-track max relative change"),
}

#: the report's overview table, in order (keys of ``reports.selectors.RunOverview``)
OVERVIEW_KEYS = (
    "accounts",
    "positions",
    "equity_usd",
    "initial_margin_usd",
    "maintenance_margin_usd",
    "liquidatable_accounts",
    "liquidatable_accounts_share",
    "liquidatable_oi_share",
    "bankrupt_accounts",
    "shortfall_usd",
    "insurance_fund_usd",
    "var_usd",
    "es_usd",
    "cover2_usd",
    "coverage_at_es",
)

#: the margin-parameter fields shown as fractions (percent, 3 places)
FRACTION_FIELDS = frozenset(k for k, f in FIELDS.items() if f.kind == FRACTION)
#: the money fields (USD)
MONEY_FIELDS = frozenset(k for k, f in FIELDS.items() if f.kind == MONEY)


def field(name: str) -> Field:
    """The metadata of ``name``; unknown names are guessed from their suffix (``_usd`` money,
    ``_fraction`` fraction, ``_share`` share, ``_ratio`` ratio), else plain text."""
    if name in FIELDS:
        return FIELDS[name]
    label = name.replace("_", " ")
    for suffix, kind in (("_usd", MONEY), ("_fraction", FRACTION), ("_share", SHARE), ("_ratio", RATIO)):
        if name.endswith(suffix):
            return Field(kind, label)
    return Field(TEXT, label)


def format_value(kind: str, value: Any, *, signed: bool = False) -> str:
    """``value`` as text for a field of ``kind`` (``signed``: a change, with ``+``/``-``)."""
    fn = _FORMATTERS.get(kind)
    if fn is None:
        return formats.MISSING if value is None else str(value)
    if signed and kind in _SIGNED:
        return fn(value, signed=True)
    return fn(value)


def format_field(name: str, value: Any, *, signed: bool = False) -> str:
    """``value`` of the stored field ``name`` as text (:func:`field` gives its kind)."""
    return format_value(field(name).kind, value, signed=signed)


def label(name: str) -> str:
    """The label of the stored field ``name`` (with its unit)."""
    return field(name).label


def readable(value: Any, name: str = "") -> str:
    """A stored JSON value (an audit record's before/after) as text for people: a dict one
    ``key: value`` per line (nested ones inline in braces), each number by the kind of its
    key (:func:`field`: money, fraction, share…), other numbers with separators and at most
    2 decimals (6 below 1), never in scientific notation. The exact values stay in the
    stored record (and its CSV export)."""
    if isinstance(value, dict):
        items = [f"{k}: {_inline(v, str(k))}" for k, v in value.items()]
        return "\n".join(items) if not name else "{" + ", ".join(items) + "}"
    return _inline(value, name)


def _inline(value: Any, name: str) -> str:
    if isinstance(value, dict):
        return readable(value, name or "_")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_inline(v, name) for v in value) + "]"
    if value is None or isinstance(value, bool):
        return formats.MISSING if value is None else str(value).lower()
    x = formats.to_float(value)
    if x is None:
        return str(value)
    if field(name).kind != TEXT:
        return format_field(name, value)
    if isinstance(value, int):
        return formats.count(value)
    if math.isinf(x):
        return formats.INFINITE if x > 0 else f"-{formats.INFINITE}"
    return formats.exact(round(x, 2 if abs(x) >= 1 else 6))
