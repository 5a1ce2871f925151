"""Display filters: fractions as percent for people (RISK_MODEL §1: stored as fractions)."""

from decimal import Decimal, InvalidOperation

from django import template

register = template.Library()


@register.filter
def pct(value, places: int = 2) -> str:
    """0.0125 -> '1.25 %'. Empty for None."""
    if value is None or value == "":
        return ""
    try:
        d = Decimal(str(value)) * 100
    except InvalidOperation:
        return str(value)
    return f"{d:.{int(places)}f} %"


@register.filter
def leverage(imf) -> str:
    """Max leverage shown to people, ``1/IMF`` (RISK_MODEL §2): 0.025 -> '40×'."""
    try:
        d = Decimal(str(imf))
    except InvalidOperation:
        return ""
    if d <= 0:
        return ""
    lev = (Decimal(1) / d).quantize(Decimal("0.01")).normalize()
    return f"{lev:f}×"
