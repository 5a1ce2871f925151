"""The one exact validator of portfolio-margin (PM) parameters per underlying (RISK_MODEL §14).

Pure Python (standard library only, no Django), like :mod:`riskgov.parameters.validation`:
the Deribit importer, the PM services, the governed kind (proposal lint) and the web forms
ask this module whether a PM parameter set is valid. The engine's ``PMParams`` keeps its own
float checks as the last guard; the database keeps CHECK constraints on the scalar columns.

Values (:data:`PMValues`) are exact :class:`~decimal.Decimal` numbers keyed by
:data:`SCALAR_FIELDS`, plus ``extended`` — a tuple of ``(move, weight)`` — and
``scenarios`` — ``None`` (the grid) or a tuple of ``(move, vol, weight)`` with vol
``"down" | "none" | "up"``.

Rules (the ``rule`` of each :class:`PMError`):

=========================  =============================================================
``missing_field``          every scalar field has a value
``price_range_range``      ``0 < price_range < 1``
``buckets_integer``        ``buckets`` is an integer, ``1 ≤ n ≤ 100`` (a grid of 603 rows at most)
``non_negative``           ``vol_range_up``, ``vol_range_down``, ``min_vol_for_shock_up``,
                           contingencies ``≥ 0``
``power_non_negative``     ``short_term_vega_power``, ``long_term_vega_power`` ``≥ 0``
``dte_floor_positive``     ``dte_floor_days > 0``
``mm_factor_range``        ``0 < mm_factor ≤ 1``
``vol_down_below_one``     ``vol_range_down · x < 1`` for the largest ``x`` (at the DTE floor)
``move_range``             an extended move is ``> −1`` and ``≠ 0``; a scenario move ``> −1``
``weight_range``           every weight in ``(0, 1]``
``vol_name``               a scenario's vol is ``down``, ``none`` or ``up``
``scenarios_empty``        an explicit scenario list is not empty (``null`` = the grid)
``duplicate_scenario``     no ``(move, vol)`` twice (extended moves: no move twice)
=========================  =============================================================
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

__all__ = [
    "DEFAULTS",
    "DEFAULT_EXTENDED",
    "EXACT",
    "SCALAR_FIELDS",
    "VOL_NAMES",
    "PMError",
    "default_values",
    "max_vol_shock_x",
    "pm_errors",
]

EXACT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN)

SCALAR_FIELDS = (
    "price_range",
    "buckets",
    "vol_range_up",
    "vol_range_down",
    "short_term_vega_power",
    "long_term_vega_power",
    "dte_floor_days",
    "min_vol_for_shock_up",
    "mm_factor",
    "short_option_contingency",
    "perp_contingency",
)
VOL_NAMES = ("down", "none", "up")
MAX_BUCKETS = 100
SHORT_TERM_DAYS = Decimal(30)
#: stored scale of extended-table weights (the FRACTION columns' 12 places)
WEIGHT_PLACES = Decimal("1e-12")

#: Deribit's published BTC set (RISK_MODEL §14), exact
DEFAULTS: dict[str, Decimal] = {
    "price_range": Decimal("0.16"),
    "buckets": Decimal(4),
    "vol_range_up": Decimal("0.5"),
    "vol_range_down": Decimal("0.25"),
    "short_term_vega_power": Decimal("0.3"),
    "long_term_vega_power": Decimal("0.13"),
    "dte_floor_days": Decimal(1),
    "min_vol_for_shock_up": Decimal("0.5"),
    "mm_factor": Decimal("0.8"),
    "short_option_contingency": Decimal("0.01"),
    "perp_contingency": Decimal("0.01"),
}
#: riskgov's extended table (§14): weight ``0.036/|move|``, quantized to 12 places
DEFAULT_EXTENDED: tuple[tuple[Decimal, Decimal], ...] = tuple(
    (Decimal(m), (Decimal("0.036") / abs(Decimal(m))).quantize(WEIGHT_PLACES, context=EXACT))
    for m in ("-0.66", "-0.33", "0.5", "1", "2", "3", "4", "5")
)

PMValues = Mapping[str, Any]


def default_values() -> dict[str, Any]:
    """The §14 defaults as values (a fresh dict)."""
    return {**DEFAULTS, "extended": DEFAULT_EXTENDED, "scenarios": None}


@dataclass(frozen=True)
class PMError:
    """One broken rule of one underlying's PM parameters.

    Attributes:
        subject: the underlying symbol (``""`` when the caller gave none).
        field: the field path (``price_range``, ``extended[2].weight``, ``scenarios[0].vol``).
        rule: machine name (module table).
        message: what is wrong, without the place; :attr:`text` adds it.
    """

    subject: str
    field: str
    rule: str
    message: str

    @property
    def top_field(self) -> str:
        """The form field the error belongs to (``extended`` for ``extended[2].weight``)."""
        return self.field.split("[", 1)[0].split(".", 1)[0]

    @property
    def where(self) -> str:
        """``BTC price_range`` — the governance ``where``."""
        return f"{self.subject} {self.field}".strip()

    @property
    def text(self) -> str:
        """``BTC price_range: 1.2 is not < 1``."""
        return f"{self.where}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _d(x: Any) -> Decimal | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        d = Decimal(str(x))
    except (decimal.InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def max_vol_shock_x(
    *, dte_floor_days: Decimal, short_term_vega_power: Decimal, long_term_vega_power: Decimal
) -> Decimal:
    """The largest ``x = (30/max(DTE, floor))^p`` of §14 over all days to expiry.

    ``x`` is non-increasing in DTE on each side of 30 days (``p ≥ 0``), so the largest value
    is at the floor (short-term power below 30 days) or at 30 days (long-term power, ``x = 1``).
    Exact to 60 digits (``Decimal`` power with the ``EXACT`` context).
    """
    floor = dte_floor_days
    x_long = EXACT.power(EXACT.divide(SHORT_TERM_DAYS, max(floor, SHORT_TERM_DAYS)), long_term_vega_power)
    if floor >= SHORT_TERM_DAYS:
        return x_long
    x_short = EXACT.power(EXACT.divide(SHORT_TERM_DAYS, floor), short_term_vega_power)
    return max(x_short, x_long)


def pm_errors(*, subject: str, values: PMValues) -> list[PMError]:
    """Every broken §14 rule of ``values`` (empty: valid); never raises for a bad value."""
    out: list[PMError] = []

    def err(field: str, rule: str, message: str) -> None:
        out.append(PMError(subject, field, rule, message))

    v: dict[str, Decimal] = {}
    for f in SCALAR_FIELDS:
        d = _d(values.get(f))
        if d is None:
            err(f, "missing_field", f"{values.get(f)!r} is not a finite number (RISK_MODEL §14)")
        else:
            v[f] = d
    if "price_range" in v and not 0 < v["price_range"] < 1:
        err("price_range", "price_range_range", f"{v['price_range']} is not in (0, 1)")
    if "buckets" in v:
        n = v["buckets"]
        if n != n.to_integral_value() or not 1 <= n <= MAX_BUCKETS:
            err("buckets", "buckets_integer", f"{n} is not an integer in [1, {MAX_BUCKETS}]")
    for f in ("vol_range_up", "vol_range_down", "min_vol_for_shock_up", "short_option_contingency", "perp_contingency"):
        if f in v and v[f] < 0:
            err(f, "non_negative", f"{v[f]} is not ≥ 0")
    for f in ("short_term_vega_power", "long_term_vega_power"):
        if f in v and v[f] < 0:
            err(f, "power_non_negative", f"{v[f]} is not ≥ 0")
    if "dte_floor_days" in v and v["dte_floor_days"] <= 0:
        err("dte_floor_days", "dte_floor_positive", f"{v['dte_floor_days']} is not > 0")
    if "mm_factor" in v and not 0 < v["mm_factor"] <= 1:
        err("mm_factor", "mm_factor_range", f"{v['mm_factor']} is not in (0, 1]")
    shock = ("vol_range_down", "dte_floor_days", "short_term_vega_power", "long_term_vega_power")
    if all(f in v for f in shock) and v["dte_floor_days"] > 0 and v["vol_range_down"] >= 0:
        if v["short_term_vega_power"] >= 0 and v["long_term_vega_power"] >= 0:
            x = max_vol_shock_x(
                dte_floor_days=v["dte_floor_days"],
                short_term_vega_power=v["short_term_vega_power"],
                long_term_vega_power=v["long_term_vega_power"],
            )
            dx = EXACT.multiply(v["vol_range_down"], x)
            if dx >= 1:
                err(
                    "vol_range_down",
                    "vol_down_below_one",
                    f"vol_range_down·x = {dx:.6g} is not < 1 (largest x = {x:.6g} at the DTE floor; "
                    "the shocked-down vol would be ≤ 0)",
                )
    _check_extended(values.get("extended", ()), err)
    _check_scenarios(values.get("scenarios"), err)
    return out


def _check_weight(w: Any, path: str, err: Any) -> None:
    d = _d(w)
    if d is None or not 0 < d <= 1:
        err(path, "weight_range", f"{w!r} is not in (0, 1]")


def _check_extended(rows: Any, err: Any) -> None:
    if rows is None:
        rows = ()
    if not isinstance(rows, list | tuple):
        err("extended", "missing_field", "must be a list of (move, weight)")
        return
    seen: set[Decimal] = set()
    for i, row in enumerate(rows):
        if not isinstance(row, list | tuple) or len(row) != 2:
            err(f"extended[{i}]", "missing_field", "must be (move, weight)")
            continue
        m = _d(row[0])
        if m is None or m <= -1 or m == 0:
            err(f"extended[{i}].move", "move_range", f"{row[0]!r} is not > −1 and ≠ 0")
        elif m in seen:
            err(f"extended[{i}].move", "duplicate_scenario", f"move {m} is listed twice")
        else:
            seen.add(m)
        _check_weight(row[1], f"extended[{i}].weight", err)


def _check_scenarios(rows: Any, err: Any) -> None:
    if rows is None:
        return
    if not isinstance(rows, list | tuple):
        err("scenarios", "missing_field", "must be a list of (move, vol, weight) or null")
        return
    if not rows:
        err("scenarios", "scenarios_empty", "must not be empty (null means the grid)")
        return
    seen: set[tuple[Decimal, str]] = set()
    for i, row in enumerate(rows):
        if not isinstance(row, list | tuple) or len(row) != 3:
            err(f"scenarios[{i}]", "missing_field", "must be (move, vol, weight)")
            continue
        m, vol = _d(row[0]), row[1]
        if m is None or m <= -1:
            err(f"scenarios[{i}].move", "move_range", f"{row[0]!r} is not > −1")
        if vol not in VOL_NAMES:
            err(f"scenarios[{i}].vol", "vol_name", f"{vol!r} is not 'down', 'none' or 'up'")
        if m is not None and vol in VOL_NAMES:
            if (m, vol) in seen:
                err(f"scenarios[{i}]", "duplicate_scenario", f"({m}, {vol}) is listed twice")
            seen.add((m, vol))
        _check_weight(row[2], f"scenarios[{i}].weight", err)
