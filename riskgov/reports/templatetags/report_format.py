"""Template filters of reports: the one convention of :mod:`riskgov.presentation.formats`
(money ``$1,234,567``; fractions as percent; ratios ``None`` = ∞; counts with separators)."""

from __future__ import annotations

from typing import Any

from django import template

from riskgov.presentation import fields, formats

register = template.Library()

#: overview rows: (figure key, label, field kind), declared in ``presentation.fields``
OVERVIEW_ROWS = tuple((k, fields.label(k), fields.field(k).kind) for k in fields.OVERVIEW_KEYS)


@register.filter
def usd(value: Any) -> str:
    """Money: ``1234567.891`` → ``$1,234,568``; ``—`` for none."""
    return formats.money(value)


@register.filter
def ratio(value: Any) -> str:
    """A ratio (coverage, margin ratio) as percent; ``None`` = ∞ (nothing to cover)."""
    return formats.ratio(value)


@register.filter
def share(value: Any) -> str:
    """A share of a whole: ``0.0125`` → ``1.25 %``."""
    return formats.share(value)


@register.filter
def fraction(value: Any) -> str:
    """A margin fraction as percent with 3 places: ``0.004`` → ``0.400 %``."""
    return formats.fraction(value)


@register.filter
def number(value: Any) -> str:
    """A plain number (a test statistic), 3 places: ``3.8414`` → ``3.841``."""
    return formats.number(value)


@register.filter
def intcomma0(value: Any) -> str:
    """A count with thousands separators: ``12345`` → ``12,345``."""
    return formats.count(value)


def fmt(value: Any, kind: str, *, signed: bool = False) -> str:
    """``value`` as text for a field of ``kind`` (``presentation.fields`` kinds)."""
    return fields.format_value(kind, value, signed=signed)


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
