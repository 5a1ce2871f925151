"""Number formats of reports (presentation only): USD with thousands separators and cents,
ratios with ``None`` shown as ∞ (nothing to cover), shares as percent, signed changes."""

from __future__ import annotations

import math
from typing import Any

from django import template

register = template.Library()

#: overview rows: (figure key, label, format); the change column uses the same format
OVERVIEW_ROWS = (
    ("accounts", "Accounts", "int"),
    ("positions", "Positions", "int"),
    ("equity_usd", "Equity (USD)", "usd"),
    ("initial_margin_usd", "Initial margin (USD)", "usd"),
    ("maintenance_margin_usd", "Maintenance margin (USD)", "usd"),
    ("liquidatable_accounts", "Liquidatable accounts", "int"),
    ("liquidatable_accounts_share", "Liquidatable share of accounts", "share"),
    ("liquidatable_oi_share", "Liquidatable share of open interest", "share"),
    ("bankrupt_accounts", "Bankrupt accounts", "int"),
    ("shortfall_usd", "Shortfall now (USD)", "usd"),
    ("insurance_fund_usd", "Insurance fund (USD)", "usd"),
    ("var_usd", "VaR of shortfall (USD)", "usd"),
    ("es_usd", "ES of shortfall (USD)", "usd"),
    ("cover2_usd", "Cover-2 (USD)", "usd"),
    ("coverage_at_es", "Coverage at ES (fund / ES)", "ratio"),
)


def _num(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x


@register.filter
def usd(value: Any) -> str:
    """1234567.891 -> '1,234,567.89'; '—' for none."""
    x = _num(value)
    return "—" if x is None else f"{x:,.2f}"


@register.filter
def ratio(value: Any) -> str:
    """A coverage ratio; ``None`` = infinity (nothing to cover)."""
    x = _num(value)
    return "∞" if x is None or math.isinf(x) else f"{x:,.3f}"


@register.filter
def share(value: Any) -> str:
    """0.0125 -> '1.25 %'."""
    x = _num(value)
    return "—" if x is None else f"{x * 100:.2f} %"


@register.filter
def fraction(value: Any) -> str:
    """A margin fraction as percent with 3 places: 0.004 -> '0.400 %'."""
    x = _num(value)
    return "—" if x is None else f"{x * 100:.3f} %"


@register.filter
def intcomma0(value: Any) -> str:
    x = _num(value)
    return "—" if x is None else f"{x:,.0f}"


def fmt(value: Any, kind: str, *, signed: bool = False) -> str:
    x = _num(value)
    if x is None:
        return "∞" if kind == "ratio" and not signed else "—"
    sign = "+" if signed else ""
    if kind == "usd":
        return f"{x:{sign},.2f}"
    if kind == "int":
        return f"{x:{sign},.0f}"
    if kind == "share":
        return f"{x * 100:{sign}.2f} %"
    return f"{x:{sign},.3f}"


@register.simple_tag
def overview_rows(figures: dict[str, Any]) -> list[dict[str, str]]:
    """The overview table: label, value now, change since the previous report."""
    ov, ch = figures.get("overview") or {}, figures.get("changes") or {}
    rows = []
    for key, label, kind in OVERVIEW_ROWS:
        delta = (ch.get(key) or {}).get("delta")
        rows.append(
            {"key": key, "label": label, "value": fmt(ov.get(key), kind), "delta": fmt(delta, kind, signed=True)}
        )
    return rows
