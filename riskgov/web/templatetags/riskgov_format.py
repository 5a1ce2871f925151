"""Display filters of the committee UI: the one convention of
:mod:`riskgov.presentation.formats` (fractions stored as fractions, shown as percent,
RISK_MODEL §1; money ``$1,234,567``; max leverage ``1/IMF``, §2)."""

from __future__ import annotations

from typing import Any

from django import template

from riskgov.presentation import fields, formats

register = template.Library()


@register.filter
def pct(value: Any, places: int = formats.SHARE_PLACES) -> str:
    """A fraction as percent: ``0.0125`` → ``1.25 %`` (``places`` decimals); empty for None."""
    if value is None or value == "":
        return ""
    return formats.percent(value, int(places))


@register.filter
def fraction(value: Any) -> str:
    """A margin parameter (IMF, MMF, penalty, haircut) as percent, 3 places:
    ``0.0133333334`` → ``1.333 %``; empty for None."""
    if value is None or value == "":
        return ""
    return formats.fraction(value)


@register.filter
def usd(value: Any) -> str:
    """Money: ``1234567.4`` → ``$1,234,567``; ``—`` for none."""
    return formats.money(value)


@register.filter
def fmt_field(value: Any, name: str) -> str:
    """``value`` of the stored field ``name`` with its kind's format (``presentation.fields``)."""
    return fields.format_field(name, value)


@register.filter
def leverage(imf: Any) -> str:
    """Max leverage shown to people, ``1/IMF`` (RISK_MODEL §2): ``0.025`` → ``40×``."""
    return formats.leverage(imf)


@register.filter
def readable(value: Any) -> str:
    """A stored JSON value (an audit record's before/after) as text (``fields.readable``)."""
    return fields.readable(value)


@register.filter
def alert_value(value: Any, kind: str) -> str:
    """A firing's observed value or threshold in the unit of its rule's kind (``presentation.alerts``)."""
    from riskgov.presentation.alerts import alert_figure

    return alert_figure(value, kind)


@register.filter
def rule_threshold(value: Any, kind: str) -> str:
    """A rule's own threshold in the unit of its kind (``presentation.alerts``)."""
    from riskgov.presentation.alerts import alert_figure

    return alert_figure(value, kind, rule_threshold=True)
