"""The one exact validator of margin parameters (RISK_MODEL §2, §3, §4, §8).

Pure Python (standard library only, no Django): the venue importers
(``riskgov.parameters.venues``, kept Django-free by an import-linter contract), the
``riskgov.parameters/1`` document checks (:mod:`riskgov.parameters.document`), the parameter
services, governance (proposal changes and lint), the API and the web forms all ask this
module whether a parameter set is valid. The engine keeps only its own float invariants
(shapes, finiteness, the ordering its bracket lookup relies on); the database keeps its
CHECK constraints and the deferred trigger on the stored maintenance amount as the last
guard.

Every check works on exact :class:`~decimal.Decimal` values (RISK_MODEL §1) and returns a
list of :class:`ParameterError` — ``{subject, bracket, field, rule, message}`` — empty when
valid; nothing here raises for an invalid *value* (only for misuse, e.g. sequences of
different lengths).

Rules (the ``rule`` of each error):

===========================  ===========================================================
``non_empty``                a market needs at least one bracket (§2)
``first_floor_zero``         ``F_1 = 0`` (§2)
``floors_increasing``        ``F_k > F_{k-1}`` (§2)
``mmf_positive``             ``MMF_k > 0`` (§2)
``mmf_below_imf``            ``MMF_k < IMF_k`` (§2)
``imf_at_most_one``          ``IMF_k ≤ 1`` (§2)
``imf_non_decreasing``       ``IMF_k ≥ IMF_{k-1}`` (§2)
``mmf_non_decreasing``       ``MMF_k ≥ MMF_{k-1}`` (§2)
``penalty_non_negative``     liquidation penalty ``≥ 0`` (§8)
``penalty_above_mmf1``       liquidation penalty ``≤ MMF_1`` (§8)
``depth_positive``           ``depth_usd_per_1pct > 0`` (§8)
``oi_cap_non_negative``      OI caps ``≥ 0`` (§3)
``oi_caps_ordered``          ``U_lo < U_hi`` unless ``U_hi = 0`` (disabled, §3)
``max_notional_positive``    max position notional ``> 0`` (§2)
``max_notional_above_floor`` max position notional ``> F_K`` (§2)
``horizon_positive``         liquidation horizon ``h_m > 0`` minutes (§12)
``horizon_at_most_one_day``  liquidation horizon ``h_m ≤ 1440`` minutes (§12: the time to
                             detect and close a position; a day or more is a scenario
                             horizon, §9, not a liquidation horizon)
``haircut_range``            ``0 ≤ h < 1`` (§4)
===========================  ===========================================================
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal

__all__ = [
    "DEFAULT_HORIZON_MINUTES",
    "MAX_HORIZON_MINUTES",
    "ParameterError",
    "asset_errors",
    "bracket_table_errors",
    "decimal_str",
    "derive_maintenance_amounts",
    "horizon_errors",
    "market_errors",
    "penalty_errors",
]

# Enough precision that sums of products of the values found in venue tables are exact.
EXACT = decimal.Context(prec=80, rounding=decimal.ROUND_HALF_EVEN)

MARKET = "market"
ASSET = "asset"

#: Default liquidation horizon ``h_m`` in minutes (RISK_MODEL §12), when a document or venue
#: gives none.
DEFAULT_HORIZON_MINUTES = Decimal(5)
#: Upper bound of a liquidation horizon (minutes): one day.
MAX_HORIZON_MINUTES = Decimal(1440)


@dataclass(frozen=True)
class ParameterError:
    """One broken rule of one parameter subject.

    Attributes:
        subject: the market or asset symbol (``""`` when the caller gave none).
        bracket: 1-based bracket index, or ``None`` when the rule is not about one bracket.
        field: the field the rule is about (``notional_floor``, ``initial_margin_fraction``,
            ``maintenance_margin_fraction``, a market field, ``haircut``, or ``brackets`` for
            the table as a whole).
        rule: machine name (see the module table).
        message: what is wrong, without the place (e.g. ``0.03 is not <
            initial_margin_fraction 0.025 (RISK_MODEL §2)``); :attr:`text` adds the place.
        kind: ``"market"`` or ``"asset"`` (the document section the subject lives in).
    """

    subject: str
    bracket: int | None
    field: str
    rule: str
    message: str
    kind: str = MARKET

    @property
    def path(self) -> str:
        """The place in ``riskgov.parameters/1`` terms, e.g.
        ``markets[BTC-PERP].brackets[2].maintenance_margin_fraction``."""
        section = "assets" if self.kind == ASSET else "markets"
        where = f"{section}[{self.subject}]"
        if self.bracket is not None:
            return f"{where}.brackets[{self.bracket}].{self.field}"
        return f"{where}.{self.field}"

    @property
    def text(self) -> str:
        """``path: message`` — the document validator's message."""
        return f"{self.path}: {self.message}"

    @property
    def where(self) -> str:
        """The place in governance terms: ``BTC-PERP bracket 2``, ``BTC-PERP liquidation_penalty``,
        ``BTC haircut`` (the ``where`` of a governance lint error)."""
        if self.bracket is not None:
            return f"{self.subject} bracket {self.bracket}"
        if self.field == "brackets":
            return self.subject
        return f"{self.subject} {self.field}"

    def as_dict(self) -> dict[str, object]:
        """JSON-safe ``{subject, bracket, field, rule, message, kind}``."""
        return asdict(self)


def decimal_str(value: Decimal | int | str) -> str:
    """Format a number as a plain decimal string without trailing zeros (``"0.004"``, ``"300000"``).

    Raises:
        ValueError: ``value`` is not finite.
    """
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    if not d.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    if d == 0:
        return "0"
    return format(d.normalize(EXACT), "f")


def _as_decimal(value: Decimal | int | str | float) -> Decimal:
    """Decimal as is; int/str exactly; float through its shortest repr (``0.004`` → ``0.004``)."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def derive_maintenance_amounts(
    floors: Sequence[Decimal | int | str | float], mmfs: Sequence[Decimal | int | str | float]
) -> list[Decimal]:
    """Maintenance amounts ``C_k`` (USD) of one bracket table, exact (RISK_MODEL §2).

    ``C_1 = 0``, ``C_k = C_{k-1} + F_k·(MMF_k − MMF_{k-1})`` — Binance's ``cum``,
    Hyperliquid's "deduction". Computed in :class:`~decimal.Decimal` with 80 significant
    digits, so the result is exact for any table a venue publishes. The only exact
    derivation of ``C_k`` in riskgov (services store it, the importers compare venue values
    with it, governance's stricter-only test uses it).

    Args:
        floors: notional floors ``F_k`` in USD, bracket order.
        mmfs: maintenance margin fractions ``MMF_k`` (fractions), same length. Values may be
            Decimal, int, str or float (floats through their shortest repr).

    Returns:
        ``[C_1, …, C_K]`` as Decimals (USD).

    Raises:
        ValueError: the sequences differ in length.
    """
    if len(floors) != len(mmfs):
        raise ValueError(f"{len(floors)} floors but {len(mmfs)} maintenance margin fractions")
    fs = [_as_decimal(f) for f in floors]
    ms = [_as_decimal(m) for m in mmfs]
    amounts: list[Decimal] = []
    cum = Decimal(0)
    for k in range(len(fs)):
        if k > 0:
            cum = EXACT.add(cum, EXACT.multiply(fs[k], EXACT.subtract(ms[k], ms[k - 1])))
        amounts.append(cum)
    return amounts


FL, IM, MM = "notional_floor", "initial_margin_fraction", "maintenance_margin_fraction"


def _bracket_rules(
    k: int, floors: Sequence[Decimal], imfs: Sequence[Decimal], mmfs: Sequence[Decimal]
) -> list[tuple[str, str, str]]:
    """``(field, rule, message)`` for every §2 rule bracket ``k`` (0-based) breaks."""
    s = decimal_str
    f, imf, mmf = floors[k], imfs[k], mmfs[k]
    out: list[tuple[str, str, str]] = []
    if k == 0 and f != 0:
        out.append((FL, "first_floor_zero", f"{s(f)} must be 0 for the first bracket (RISK_MODEL §2)"))
    if k > 0 and not f > floors[k - 1]:
        out.append(
            (FL, "floors_increasing", f"{s(f)} is not > previous notional_floor {s(floors[k - 1])} (RISK_MODEL §2)")
        )
    if not mmf > 0:
        out.append((MM, "mmf_positive", f"{s(mmf)} is not > 0 (RISK_MODEL §2)"))
    if not mmf < imf:
        out.append((MM, "mmf_below_imf", f"{s(mmf)} is not < initial_margin_fraction {s(imf)} (RISK_MODEL §2)"))
    if not imf <= 1:
        out.append((IM, "imf_at_most_one", f"{s(imf)} is not <= 1 (RISK_MODEL §2)"))
    if k > 0 and imf < imfs[k - 1]:
        out.append(
            (
                IM,
                "imf_non_decreasing",
                f"{s(imf)} is below previous initial_margin_fraction {s(imfs[k - 1])} "
                "(must be non-decreasing, RISK_MODEL §2)",
            )
        )
    if k > 0 and mmf < mmfs[k - 1]:
        out.append(
            (
                MM,
                "mmf_non_decreasing",
                f"{s(mmf)} is below previous maintenance_margin_fraction {s(mmfs[k - 1])} "
                "(must be non-decreasing, RISK_MODEL §2)",
            )
        )
    return out


def bracket_table_errors(
    floors: Sequence[Decimal], imfs: Sequence[Decimal], mmfs: Sequence[Decimal], *, subject: str = ""
) -> list[ParameterError]:
    """The RISK_MODEL §2 rules one bracket table breaks, exactly.

    Rules: ``non_empty``; ``first_floor_zero``; ``floors_increasing``; ``mmf_positive``;
    ``mmf_below_imf``; ``imf_at_most_one``; ``imf_non_decreasing``; ``mmf_non_decreasing``
    (in that order per bracket, brackets in order).

    Args:
        floors: notional floors (USD, Decimal); imfs, mmfs: fractions; all the same length.
        subject: the market symbol the errors name.

    Returns:
        One :class:`ParameterError` per broken rule (``bracket=None, field="brackets"`` for an
        empty table); empty when the table is valid.

    Raises:
        ValueError: the three sequences differ in length.
    """
    if not len(floors) == len(imfs) == len(mmfs):
        raise ValueError(f"lengths differ: {len(floors)} floors, {len(imfs)} IMFs, {len(mmfs)} MMFs")
    if not floors:
        return [
            ParameterError(subject, None, "brackets", "non_empty", "must have at least one bracket (RISK_MODEL §2)")
        ]
    return [
        ParameterError(subject, k + 1, field, rule, message)
        for k in range(len(floors))
        for field, rule, message in _bracket_rules(k, floors, imfs, mmfs)
    ]


def market_errors(
    *,
    subject: str,
    liquidation_penalty: Decimal | None,
    depth_usd_per_1pct: Decimal | None,
    oi_cap_lower_usd: Decimal | None = Decimal(0),
    oi_cap_upper_usd: Decimal | None = Decimal(0),
    max_position_notional_usd: Decimal | None = None,
    liquidation_horizon_minutes: Decimal | None = DEFAULT_HORIZON_MINUTES,
    brackets: Sequence[tuple[Decimal, Decimal, Decimal]] | None,
) -> list[ParameterError]:
    """Every rule one market's parameters break (RISK_MODEL §2, §3, §8), exactly.

    Args:
        subject: the market symbol.
        liquidation_penalty: fraction of notional (§8).
        depth_usd_per_1pct: USD of notional per 1 % price move (§8).
        oi_cap_lower_usd, oi_cap_upper_usd: USD (§3; upper 0 disables the scaling).
        max_position_notional_usd: USD, or None for unlimited (§2).
        liquidation_horizon_minutes: ``h_m`` in minutes, ``0 < h_m ≤ 1440`` (§12).
        brackets: ``(notional_floor, initial_margin_fraction, maintenance_margin_fraction)``
            rows in bracket order.

        A value passed as ``None`` (other than the max notional) is one the caller could not
        read; the rules that need it are skipped (the caller has reported it already).

    Returns:
        Bracket-table errors first (see :func:`bracket_table_errors`), then the market
        field rules; empty when valid.
    """
    s = decimal_str
    out: list[ParameterError] = []

    def err(field: str, rule: str, message: str) -> None:
        out.append(ParameterError(subject, None, field, rule, message))

    table_ok = brackets is not None
    if brackets is not None:
        out += bracket_table_errors(
            [b[0] for b in brackets], [b[1] for b in brackets], [b[2] for b in brackets], subject=subject
        )
    if liquidation_penalty is not None:
        mmf_1 = brackets[0][2] if table_ok and brackets else None
        out += penalty_errors(subject=subject, liquidation_penalty=liquidation_penalty, mmf_1=mmf_1)
    if depth_usd_per_1pct is not None and not depth_usd_per_1pct > 0:
        err("depth_usd_per_1pct", "depth_positive", f"{s(depth_usd_per_1pct)} is not > 0")
    lo, hi = oi_cap_lower_usd, oi_cap_upper_usd
    if lo is not None and lo < 0:
        err("oi_cap_lower_usd", "oi_cap_non_negative", f"{s(lo)} is not >= 0")
        lo = None
    if hi is not None and hi < 0:
        err("oi_cap_upper_usd", "oi_cap_non_negative", f"{s(hi)} is not >= 0")
        hi = None
    if lo is not None and hi is not None and hi != 0 and not lo < hi:
        err(
            "oi_cap_lower_usd",
            "oi_caps_ordered",
            f"{s(lo)} is not < oi_cap_upper_usd {s(hi)} (set oi_cap_upper_usd to 0 to disable, RISK_MODEL §3)",
        )
    cap = max_position_notional_usd
    if cap is not None:
        if not cap > 0:
            err("max_position_notional_usd", "max_notional_positive", f"{s(cap)} is not > 0")
        elif table_ok and brackets and not cap > brackets[-1][0]:
            err(
                "max_position_notional_usd",
                "max_notional_above_floor",
                f"{s(cap)} is not > last notional_floor {s(brackets[-1][0])} (RISK_MODEL §2)",
            )
    out += horizon_errors(subject=subject, liquidation_horizon_minutes=liquidation_horizon_minutes)
    return out


def horizon_errors(*, subject: str, liquidation_horizon_minutes: Decimal | None) -> list[ParameterError]:
    """RISK_MODEL §12: ``0 < h_m ≤ 1440`` minutes (nothing when the value is None, unread)."""
    h = liquidation_horizon_minutes
    field = "liquidation_horizon_minutes"
    if h is None:
        return []
    if not h > 0:
        return [ParameterError(subject, None, field, "horizon_positive", f"{decimal_str(h)} minutes is not > 0")]
    if h > MAX_HORIZON_MINUTES:
        return [
            ParameterError(
                subject,
                None,
                field,
                "horizon_at_most_one_day",
                f"{decimal_str(h)} minutes is more than {decimal_str(MAX_HORIZON_MINUTES)} (one day; "
                "a liquidation horizon is the time to detect and close a position, RISK_MODEL §12)",
            )
        ]
    return []


def penalty_errors(*, subject: str, liquidation_penalty: Decimal, mmf_1: Decimal | None) -> list[ParameterError]:
    """RISK_MODEL §8: ``0 ≤ liquidation_penalty ≤ MMF_1`` (the upper bound skipped when
    ``mmf_1`` is None, i.e. the brackets could not be read)."""
    pen = liquidation_penalty
    if pen < 0:
        return [
            ParameterError(
                subject, None, "liquidation_penalty", "penalty_non_negative", f"{decimal_str(pen)} is not >= 0"
            )
        ]
    if mmf_1 is not None and pen > mmf_1:
        return [
            ParameterError(
                subject,
                None,
                "liquidation_penalty",
                "penalty_above_mmf1",
                f"{decimal_str(pen)} is not <= brackets[1].maintenance_margin_fraction {decimal_str(mmf_1)} "
                "(RISK_MODEL §8)",
            )
        ]
    return []


def asset_errors(*, subject: str, haircut: Decimal) -> list[ParameterError]:
    """The RISK_MODEL §4 rule on an asset's collateral haircut: ``0 ≤ h < 1``.

    Returns:
        ``[]`` or one ``haircut_range`` error (``kind="asset"``).
    """
    if haircut < 0:
        return [ParameterError(subject, None, "haircut", "haircut_range", f"{decimal_str(haircut)} is not >= 0", ASSET)]
    if not haircut < 1:
        return [ParameterError(subject, None, "haircut", "haircut_range", f"{decimal_str(haircut)} is not < 1", ASSET)]
    return []
