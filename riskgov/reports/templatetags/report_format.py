"""Template filters of reports: the one convention of :mod:`riskgov.presentation.formats`
(money ``$1,234,567``; fractions as percent; ratios ``None`` = ∞; counts with separators)."""

from __future__ import annotations

from typing import Any

from django import template

from riskgov.presentation import fields, formats

register = template.Library()

#: overview rows: (figure key, label, field kind), declared in ``presentation.fields``
OVERVIEW_ROWS = tuple((k, fields.label(k), fields.field(k).kind) for k in fields.OVERVIEW_KEYS)


# The filters are the presentation functions themselves (one formatting package), under
# the names the templates use: usd ``$1,234,568``; ratio ``150.0 %`` (``None`` = ∞); share
# ``1.25 %``; fraction ``0.400 %``; number ``3.841``; intcomma0 ``12,345``.
usd = register.filter("usd", formats.money)
ratio = register.filter("ratio", formats.ratio)
share = register.filter("share", formats.share)
fraction = register.filter("fraction", formats.fraction)
number = register.filter("number", formats.number)
intcomma0 = register.filter("intcomma0", formats.count)
level = register.filter("level", formats.level)


@register.simple_tag
def headline_family(figures: dict[str, Any]) -> dict[str, Any]:
    """The headline family's tail of a report (§10: the 1-day historical paths), ``{}`` if none."""
    fams = figures.get("families") or []
    return next((t for t in fams if t.get("headline")), fams[0] if fams else {})


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
