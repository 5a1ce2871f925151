"""Number formats for people (presentation only; stored values are never rounded).

The one convention (RISK_MODEL §1: money in USD, fractions stored as fractions):

* **money** — US dollars, whole dollars with thousands separators, the sign **before** the
  dollar sign, a negative one the minus sign U+2212: ``$1,234,567``, ``−$1,234``; changes
  are signed: ``+$1,000`` / ``−$1,000`` (a change that rounds to zero: ``$0``, no sign).
* **fractions** are shown as **percent**, with a precision per kind of field
  (:mod:`riskgov.presentation.fields`):

  - margin parameters (IMF, MMF, liquidation penalty, haircut): 3 places,
    ``0.0133333334`` → ``1.333 %``;
  - shares of a whole (liquidatable accounts, open interest): 2 places, ``1.25 %``;
  - ratios that may pass 100 % (coverage = fund / ES, margin ratio = MM / E): 1 place,
    ``150.0 %``; ``None`` or ``inf`` means infinity (nothing to cover, no equity) → ``∞``.
* **prices** (USD per unit) — 6 significant digits with separators: ``$95,123.5``, ``$0.3512``.
* **counts** — integers with thousands separators: ``12,345``.
* **numbers** (test statistics such as Kupiec's LR) — 3 places: ``3.841``.
* **leverage** (``1/IMF``, RISK_MODEL §2) — up to 2 places and ``×``: ``40×``, ``13.33×``.
* a missing value (``None``, NaN, an empty string) is ``—``, except for ratios (``∞``).

Every function accepts ``None``, ``int``, ``float``, ``Decimal`` and numeric strings.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

MISSING = "—"
INFINITE = "∞"

#: percent places per kind of fraction (see the module docstring)
FRACTION_PLACES = 3
SHARE_PLACES = 2
RATIO_PLACES = 1
NUMBER_PLACES = 3


def to_float(value: Any) -> float | None:
    """A number as ``float``; ``None`` for ``None``, ``""``, NaN and anything not numeric."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


#: below this (in absolute value, not zero) money shows cents: "$1" beside a 116.8 % ratio
#: contradicts itself, "$0.74 / $0.63" does not
CENTS_BELOW = 100.0


#: the minus sign of negative money (U+2212, not the hyphen)
MINUS = "\u2212"


def _sign(x: float, shown: str, signed: bool) -> str:
    """The sign in front of a shown amount: ``−`` below zero, ``+`` above when ``signed``;
    none when the amount shown is zero (never ``−$0``)."""
    if not any(ch in "123456789" for ch in shown) and not math.isinf(x):
        return ""
    if x < 0:
        return MINUS
    return "+" if signed and x > 0 else ""


def money(value: Any, *, signed: bool = False) -> str:
    """USD, whole dollars: ``1234567.891`` → ``$1,234,568``, ``-3567.2`` → ``−$3,567`` (the
    minus sign U+2212 before the dollar sign); small amounts (|x| < ``CENTS_BELOW``) with
    cents: ``0.7412`` → ``$0.74``; ``signed`` adds ``+`` to gains (changes): ``+$1,000``,
    ``−$1,000``; ``—`` when missing. The one rule for money on every page and report."""
    x = to_float(value)
    if x is None:
        return MISSING
    if math.isinf(x):
        return f"{_sign(x, INFINITE, signed)}${INFINITE}"
    places = 2 if 0 < abs(x) < CENTS_BELOW and round(abs(x), 2) != 0 else 0
    shown = f"{abs(x):,.{places}f}"
    return f"{_sign(x, shown, signed)}${shown}"


#: significant digits of a price shown (``price``)
PRICE_DIGITS = 6


def price(value: Any) -> str:
    """A price in USD per unit of the base asset (a mark, a liquidation price): separators,
    ``PRICE_DIGITS`` significant digits, trailing zeros dropped, never an exponent:
    ``95123.456`` → ``$95,123.5``, ``0.35120`` → ``$0.3512``, ``-2`` → ``−$2``; ``—`` when
    missing. The tick format of a price axis is ``figures.style.PRICE_TICKS``."""
    x = to_float(value)
    if x is None:
        return MISSING
    if math.isinf(x):
        return f"{_sign(x, INFINITE, False)}${INFINITE}"
    places = 0 if x == 0 else min(12, max(0, PRICE_DIGITS - 1 - math.floor(math.log10(abs(x)))))
    shown = f"{abs(x):,.{places}f}"
    if "." in shown:
        shown = shown.rstrip("0").rstrip(".")
    return f"{_sign(x, shown, False)}${shown}"


def exact(value: Any) -> str:
    """A stored exact decimal (a parameter value: notional floor, maintenance amount, depth,
    OI cap, horizon) with thousands separators and every significant digit, never rounded:
    ``Decimal("50000")`` → ``50,000``, ``"1234.50"`` → ``1,234.5``; ``—`` when missing, the
    text itself when it is not a number."""
    if value is None or value == "":
        return MISSING
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not d.is_finite():
        return str(value)
    if d == d.to_integral_value():
        return f"{d:,.0f}"
    return f"{d.normalize():,f}"


def percent(value: Any, places: int = SHARE_PLACES, *, signed: bool = False) -> str:
    """A fraction as percent: ``0.0125`` → ``1.25 %`` (``places`` decimals; ``—`` if missing).

    Decimals are multiplied exactly (no binary rounding of stored parameters)."""
    if value is None or value == "":
        return MISSING
    sign = "+" if signed else ""
    if isinstance(value, Decimal | str) and not isinstance(value, bool):
        try:
            d = Decimal(str(value)) * 100
        except InvalidOperation:
            return MISSING
        if d.is_nan():
            return MISSING
        return f"{d:{sign},.{int(places)}f} %"
    x = to_float(value)
    return MISSING if x is None else f"{x * 100:{sign},.{int(places)}f} %"


def fraction(value: Any) -> str:
    """A margin parameter (IMF, MMF, penalty, haircut) as percent, 3 places: ``1.333 %``."""
    return percent(value, FRACTION_PLACES)


def share(value: Any, *, signed: bool = False) -> str:
    """A share of a whole as percent, 2 places: ``0.0125`` → ``1.25 %``."""
    return percent(value, SHARE_PLACES, signed=signed)


def ratio(value: Any, *, infinite: str = INFINITE, signed: bool = False) -> str:
    """A ratio that may pass 100 % as percent, 1 place: ``1.5`` → ``150.0 %``; ``None``/``inf``
    is infinity (RISK_MODEL §5/§10: nothing to cover, no equity) → ``infinite``."""
    x = to_float(value)
    if x is None or math.isinf(x):
        return MISSING if signed else infinite
    return percent(x, RATIO_PLACES, signed=signed)


def count(value: Any, *, signed: bool = False) -> str:
    """A count with thousands separators: ``12345`` → ``12,345`` (``—`` if missing)."""
    x = to_float(value)
    return MISSING if x is None else f"{x:{'+' if signed else ''},.0f}"


def number(value: Any, places: int = NUMBER_PLACES, *, infinite: str = INFINITE, signed: bool = False) -> str:
    """A plain number (a test statistic): ``3.8414`` → ``3.841``; ``inf`` → ``∞``;
    ``signed`` (a change) adds ``+``: ``+0.90``."""
    x = to_float(value)
    if x is None:
        return MISSING
    return infinite if math.isinf(x) else f"{x:{'+' if signed else ''},.{int(places)}f}"


def multiple(value: Any, places: int = 2) -> str:
    """A multiple (``×``) with trailing zeros dropped: ``40`` → ``40×``, ``13.3333`` → ``13.33×``."""
    try:
        d = Decimal(str(value)).quantize(Decimal(1).scaleb(-int(places)))
    except (InvalidOperation, ValueError):
        return ""
    return f"{d.normalize():f}×"


def leverage(imf: Any) -> str:
    """Max leverage ``1/IMF`` (RISK_MODEL §2): ``0.025`` → ``40×``; empty when IMF ≤ 0 or missing."""
    try:
        d = Decimal(str(imf))
    except (InvalidOperation, ValueError):
        return ""
    if not d.is_finite() or d <= 0:
        return ""
    return multiple(Decimal(1) / d)


def rounded_money(value: Any) -> float | None:
    """USD rounded to cents for a numeric table cell (``None`` stays ``None``)."""
    x = to_float(value)
    return None if x is None else round(x, 2)


def percent_value(value: Any, places: int = 2) -> float | None:
    """A fraction as a percent *number* for a sortable table cell (``None`` stays ``None``)."""
    x = to_float(value)
    return None if x is None or math.isinf(x) else round(x * 100, places)


def parse_fraction(text: Any) -> Decimal | None:
    """What a person types for a fraction: ``"0.5 %"`` / ``"0.5%"`` → ``Decimal("0.005")``,
    ``"0.005"`` → ``Decimal("0.005")`` (exact; spaces ignored, a comma refused: it is a
    decimal mark to some); ``None`` for an empty input.

    Raises:
        ValueError: not a number (the message names what was typed).
    """
    if text is None:
        return None
    raw = str(text).strip().replace("\u2009", "").replace(" ", "").replace("−", "-")
    if raw == "":
        return None
    if "," in raw:  # "1,5 %" is 1.5 % to some and 15 % to others: refuse, never guess
        raise ValueError(f"{text!r}: use a decimal point (0.5 % or 0.005)")
    pct = raw.endswith("%")
    try:
        d = Decimal(raw[:-1] if pct else raw)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number (type 0.5 % or 0.005)") from None
    if not d.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    return d / 100 if pct else d


def fraction_input(value: Any) -> str:
    """A stored fraction as the text of a percent input, exact (every significant digit, no
    binary rounding, no thousands separator): ``Decimal("0.0100000000")`` → ``"1 %"``,
    ``0.004`` → ``"0.4 %"``, ``"0.0035"`` → ``"0.35 %"``; ``""`` when missing. What
    :func:`parse_fraction` reads back to the same ``Decimal`` (a load → save round trip
    stores exactly the value loaded); text that is not a number is returned as it is."""
    if value is None or value == "" or isinstance(value, bool):
        return ""
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not d.is_finite():
        return str(value)
    pct = (d * 100).normalize()
    if pct == 0:
        pct = Decimal(0)
    return f"{pct:f} %"


def level(alpha: Any) -> str:
    """A confidence level as percent without trailing zeros: ``0.99`` → ``99 %``, ``0.975`` →
    ``97.5 %`` (``—`` if missing); used in "VaR 99 %, 1-day paths" (RISK_MODEL §10)."""
    x = to_float(alpha)
    return MISSING if x is None else f"{round(x * 100, 6):g} %"
