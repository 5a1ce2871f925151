"""Shared pieces of the venue importers: findings, conventions, defaults, document assembly.

Pure Python (no Django). Every importer returns an :class:`ImportResult`
``(document, findings)``: a valid ``riskgov.parameters/1`` dict (FORMATS.md) and the list of
:class:`Finding` s — venue values that disagree with what riskgov derives, rows and markets
that were skipped and why, values that were clamped.

Conventions (shared by all venues)
----------------------------------
- Market symbol ``{BASE}-PERP`` (Binance ``BTC/USDT:USDT``, Hyperliquid ``BTC`` and dYdX
  ``BTC-USD`` all become ``BTC-PERP``, base asset ``BTC``); base names keep the venue's case
  (Hyperliquid ``kPEPE``). A base that is not ASCII letters/digits cannot be a riskgov symbol
  (:data:`~riskgov.parameters.document.ASSET_SYMBOL_RE`); such markets are skipped with a
  finding.
- Fractions that come from a division (``IMF = 1/maxLeverage``, Hyperliquid
  ``MMF = 0.5/maxLeverage``) are rounded *up* (``ROUND_CEILING``) to
  :data:`FRACTION_PLACES` decimal places when they do not terminate, so an imported margin is
  never below the venue's (``1/150`` → ``0.0066666667``). Terminating values stay exact.
- Maintenance amounts are derived (RISK_MODEL §2), never taken from a venue file; where a
  venue file has its own they are compared, and every difference is a finding.

Defaults for fields no venue file carries (all keyword arguments of the importers)
-----------------------------------------------------------------------------------
- Assets: ``USDT`` and ``USDC`` are always present, haircut ``"0"``, ``stable: true``
  (:data:`STABLE_ASSETS`). A base asset gets the haircut in :data:`DEFAULT_HAIRCUTS`
  (BTC and ETH ``0.05``) or else ``default_haircut`` ``0.10`` — placeholders for a committee
  to set, in the spirit of venues' tiered collateral ratios, not venue facts.
- Liquidation penalty (fraction of notional, RISK_MODEL §8): the venue's own liquidation fee
  where the file gives one (dYdX), else ``MMF_1 × penalty_mmf_share`` (``0.5``); always
  clamped to ``≤ MMF_1`` (reported as a finding when clamping happens) so the document is
  valid.
- Depth ``depth_usd_per_1pct`` (USD notional that moves the price 1 %, RISK_MODEL §8): where a
  day notional volume ``V`` is known (Hyperliquid's ``dayNtlVlm``),
  ``max(min_depth_usd_per_1pct, V × depth_volume_fraction)`` with fraction ``0.005`` (0.5 %
  of a day's volume per 1 % of price) and floor ``100,000`` USD, rounded down to whole USD;
  otherwise the flat ``default_depth_usd_per_1pct`` ``1,000,000`` USD. A rough, documented
  heuristic — no venue publishes its book depth in these files.
- Open-interest caps ``"0"`` / ``"0"`` (RISK_MODEL §3 scaling disabled), except where the venue
  publishes them (dYdX v4 indexer ``openInterestLowerCap`` / ``openInterestUpperCap``, USD).
- ``max_position_notional_usd``: the last tier's finite ``maxNotional`` where the venue gives
  one (Binance), else ``null``.
- Liquidation horizon ``liquidation_horizon_minutes`` (RISK_MODEL §12): ``"5"``
  (:data:`DEFAULT_LIQUIDATION_HORIZON_MINUTES`) for every market. Binance, Hyperliquid and
  dYdX publish no liquidation horizon (the time their liquidation engine needs to detect and
  close a position) in any file read here, so the §12 default is used and stated; a
  committee sets its own per market through a proposal.
"""

from __future__ import annotations

import csv
import decimal
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NamedTuple

from riskgov.core import limits as input_limits
from riskgov.parameters.document import (
    ASSET_SYMBOL_RE,
    FORMAT,
    ParameterDocumentError,
    bracket_errors,
    decimal_str,
    derive_maintenance_amounts,
    dump_document,
    load_document,
    validate_document,
)
from riskgov.parameters.validation import bracket_table_errors

__all__ = [
    "DEFAULT_DEPTH_USD_PER_1PCT",
    "DEFAULT_HAIRCUT",
    "DEFAULT_HAIRCUTS",
    "DEFAULT_LIQUIDATION_HORIZON_MINUTES",
    "DEPTH_VOLUME_FRACTION",
    "FORMAT",
    "FRACTION_PLACES",
    "Finding",
    "ImportResult",
    "MIN_DEPTH_USD_PER_1PCT",
    "PENALTY_MMF_SHARE",
    "ParameterDocumentError",
    "STABLE_ASSETS",
    "VenueFileError",
    "bracket_errors",
    "build_document",
    "choose_penalty",
    "decimal_str",
    "depth_from_day_volume",
    "derive_maintenance_amounts",
    "dump_document",
    "fraction_of",
    "load_document",
    "market_symbol",
    "validate_document",
]

#: Decimal places kept for fractions from non-terminating divisions (rounded up).
FRACTION_PLACES = 10
#: Stable settlement assets always present: symbol -> haircut.
STABLE_ASSETS: dict[str, Decimal] = {"USDT": Decimal("0"), "USDC": Decimal("0")}
#: Base-asset haircuts that differ from :data:`DEFAULT_HAIRCUT` (fractions).
DEFAULT_HAIRCUTS: dict[str, Decimal] = {"BTC": Decimal("0.05"), "ETH": Decimal("0.05")}
#: Haircut of any other base asset (fraction).
DEFAULT_HAIRCUT = Decimal("0.10")
#: Liquidation penalty as a share of ``MMF_1`` when the venue file gives no fee.
PENALTY_MMF_SHARE = Decimal("0.5")
#: Depth per 1 % of price as a fraction of a day's notional volume (USD per USD).
DEPTH_VOLUME_FRACTION = Decimal("0.005")
#: Floor of the volume-derived depth (USD per 1 % of price).
MIN_DEPTH_USD_PER_1PCT = Decimal("100000")
#: Depth when no volume is known (USD per 1 % of price).
DEFAULT_DEPTH_USD_PER_1PCT = Decimal("1000000")
#: Liquidation horizon of every imported market (minutes, RISK_MODEL §12): no venue publishes one.
DEFAULT_LIQUIDATION_HORIZON_MINUTES = Decimal("5")


class VenueFileError(ValueError):
    """A venue file cannot be read as the format its importer expects (names file and place)."""


def venue_decimal(value: Any, where: str, *, integer: bool = False) -> Decimal:
    """A number from a venue file (Decimal from JSON, int, or CSV text) as an exact Decimal.

    Raises:
        VenueFileError: naming ``where`` — not a number, not finite, a boolean, or (with
            ``integer=True``) not an integer (ppm values, quantums).
    """
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool):
        raise VenueFileError(f"{where}: expected {kind}, got {value!r}")
    try:
        d = Decimal(value) if isinstance(value, (int, Decimal)) else Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise VenueFileError(f"{where}: {value!r} is not a number") from exc
    if not d.is_finite():
        raise VenueFileError(f"{where}: {value!r} is not a finite number")
    if integer and d != d.to_integral_value():
        raise VenueFileError(f"{where}: {value!r} is not an integer")
    return d


@dataclass(frozen=True)
class Finding:
    """One thing an importer noticed about a venue file.

    Attributes:
        kind: ``"maintenance_amount_mismatch"`` (venue's maintenance amount ≠ derived),
            ``"value_mismatch"`` (a venue-file column disagrees with what riskgov derives),
            ``"market_skipped"`` (breaks RISK_MODEL §2 or has no valid riskgov symbol),
            ``"out_of_scope"`` (not a USD-margined linear perpetual of the venue),
            ``"delisted"``, ``"row_skipped"``, ``"penalty_clamped"``, ``"not_found"``
            (a requested symbol is not in the file), ``"note"`` (an approximation made).
        market: the venue's own market symbol (e.g. ``BTC/USDT:USDT``), or None.
        message: human-readable explanation.
        tier: 1-based venue tier/bracket index, where one applies.
        venue_value: the venue's value as a decimal string, where one applies.
        derived_value: riskgov's derived value as a decimal string, where one applies.
        broken: the market is in scope but its row is broken (breaks RISK_MODEL §2, no tiers,
            a non-positive leverage): an import refuses the whole file unless asked to skip
            broken rows (:func:`riskgov.parameters.importing.read_parameter_file`).
    """

    kind: str
    market: str | None
    message: str
    tier: int | None = None
    venue_value: str | None = None
    derived_value: str | None = None
    broken: bool = False

    def __str__(self) -> str:
        where = self.market or "-"
        if self.tier is not None:
            where += f" tier {self.tier}"
        return f"[{self.kind}] {where}: {self.message}"


class ImportResult(NamedTuple):
    """What an importer returns; unpacks as ``document, findings = parse_x(path)``."""

    document: dict[str, Any]
    findings: list[Finding]


@dataclass
class MarketDraft:
    """One venue market on its way into a document (fractions/USD as Decimal)."""

    venue_symbol: str
    base: str
    floors: list[Decimal]
    imfs: list[Decimal]
    mmfs: list[Decimal]
    max_position_notional_usd: Decimal | None = None
    venue_fee: Decimal | None = None
    oi_cap_lower_usd: Decimal = Decimal(0)
    oi_cap_upper_usd: Decimal = Decimal(0)


def market_symbol(base: str) -> str:
    """riskgov market symbol of a base asset: ``"BTC"`` → ``"BTC-PERP"``."""
    return f"{base}-PERP"


def fraction_of(numerator: Decimal, denominator: Decimal) -> Decimal:
    """``numerator / denominator`` exactly when it terminates within :data:`FRACTION_PLACES`
    decimal places, else rounded up (``ROUND_CEILING``) to that many places.

    Raises:
        ZeroDivisionError / decimal.InvalidOperation: ``denominator`` is 0.
    """
    ctx = decimal.Context(prec=60)
    exact = ctx.divide(Decimal(numerator), Decimal(denominator))
    quantum = Decimal(1).scaleb(-FRACTION_PLACES)
    return exact.quantize(quantum, rounding=decimal.ROUND_CEILING)


def choose_penalty(
    mmf_1: Decimal,
    *,
    venue_fee: Decimal | None = None,
    override: Decimal | None = None,
    mmf_share: Decimal = PENALTY_MMF_SHARE,
) -> tuple[Decimal, bool]:
    """Liquidation penalty (fraction of notional) for a market whose first MMF is ``mmf_1``.

    ``override`` if given, else ``venue_fee`` if known, else ``mmf_1 × mmf_share``; then
    clamped to ``≤ mmf_1`` (RISK_MODEL §8).

    Returns:
        ``(penalty, clamped)`` — ``clamped`` is True when the candidate exceeded ``mmf_1``.
    """
    if override is not None:
        candidate = Decimal(override)
    elif venue_fee is not None:
        candidate = Decimal(venue_fee)
    else:
        candidate = mmf_1 * Decimal(mmf_share)
    if candidate > mmf_1:
        return mmf_1, True
    return candidate, False


def depth_from_day_volume(
    day_notional_volume_usd: Decimal,
    *,
    volume_fraction: Decimal = DEPTH_VOLUME_FRACTION,
    min_depth: Decimal = MIN_DEPTH_USD_PER_1PCT,
) -> Decimal:
    """Depth heuristic: ``max(min_depth, V × volume_fraction)`` rounded down to whole USD.

    Args:
        day_notional_volume_usd: a day's traded notional ``V`` (USD).
        volume_fraction: depth per 1 % of price as a fraction of ``V``.
        min_depth: floor (USD per 1 % of price), must be > 0.
    """
    depth = (Decimal(day_notional_volume_usd) * Decimal(volume_fraction)).to_integral_value(
        rounding=decimal.ROUND_FLOOR
    )
    return max(Decimal(min_depth), depth)


def skip_reason_for_base(base: str) -> str | None:
    """Why ``base`` cannot be a riskgov asset symbol, or None when it can."""
    if ASSET_SYMBOL_RE.fullmatch(base):
        return None
    return (
        f"base asset {base!r} is not ASCII letters/digits "
        f"(riskgov symbols must match {ASSET_SYMBOL_RE.pattern}); market skipped"
    )


def check_brackets(draft: MarketDraft, findings: list[Finding]) -> bool:
    """Report every RISK_MODEL §2 rule ``draft`` breaks as a ``market_skipped`` finding
    (asked of the one validator, :func:`riskgov.parameters.validation.bracket_table_errors`).

    Returns:
        True when the table is valid (the market can be imported).
    """
    errors = bracket_table_errors(draft.floors, draft.imfs, draft.mmfs, subject=draft.venue_symbol)
    for e in errors:
        findings.append(
            Finding(
                kind="market_skipped",
                market=draft.venue_symbol,
                message=f"{e.field}: {e.message}; market skipped",
                tier=e.bracket,
                broken=True,
            )
        )
    return not errors


def _draft_penalty(d: MarketDraft, findings: list[Finding], *, override: Decimal | None, mmf_share: Decimal) -> Decimal:
    """The market's liquidation penalty (:func:`choose_penalty`); a ``penalty_clamped`` finding
    when the wanted value had to be clamped to ``MMF_1`` (RISK_MODEL §8)."""
    penalty, clamped = choose_penalty(d.mmfs[0], venue_fee=d.venue_fee, override=override, mmf_share=mmf_share)
    if clamped:
        if override is not None:
            wanted = override
        elif d.venue_fee is not None:
            wanted = d.venue_fee
        else:
            wanted = d.mmfs[0] * Decimal(mmf_share)
        findings.append(
            Finding(
                kind="penalty_clamped",
                market=d.venue_symbol,
                message=(
                    f"liquidation penalty {decimal_str(wanted)} exceeds MMF_1 "
                    f"{decimal_str(d.mmfs[0])}; clamped to MMF_1 (RISK_MODEL §8)"
                ),
                venue_value=decimal_str(wanted),
                derived_value=decimal_str(penalty),
            )
        )
    return penalty


def _market_entry(d: MarketDraft, penalty: Decimal, depth: Decimal) -> dict[str, Any]:
    """One ``markets[]`` entry of the document (decimal strings; horizon 5 min)."""
    cap = d.max_position_notional_usd
    return {
        "symbol": market_symbol(d.base),
        "base_asset": d.base,
        "liquidation_penalty": decimal_str(penalty),
        "depth_usd_per_1pct": decimal_str(depth),
        "oi_cap_lower_usd": decimal_str(d.oi_cap_lower_usd),
        "oi_cap_upper_usd": decimal_str(d.oi_cap_upper_usd),
        "max_position_notional_usd": None if cap is None else decimal_str(cap),
        "liquidation_horizon_minutes": decimal_str(DEFAULT_LIQUIDATION_HORIZON_MINUTES),
        "brackets": [
            {
                "notional_floor": decimal_str(f),
                "initial_margin_fraction": decimal_str(imf),
                "maintenance_margin_fraction": decimal_str(mmf),
            }
            for f, imf, mmf in zip(d.floors, d.imfs, d.mmfs, strict=True)
        ],
    }


def build_document(
    drafts: Sequence[MarketDraft],
    findings: list[Finding],
    *,
    name: str,
    source: str,
    default_haircut: Decimal = DEFAULT_HAIRCUT,
    haircuts: Mapping[str, Decimal] | None = None,
    liquidation_penalty: Decimal | None = None,
    penalty_mmf_share: Decimal = PENALTY_MMF_SHARE,
    depth_by_base: Mapping[str, Decimal] | None = None,
    default_depth_usd_per_1pct: Decimal = DEFAULT_DEPTH_USD_PER_1PCT,
) -> dict[str, Any]:
    """Assemble a valid ``riskgov.parameters/1`` document from checked market drafts.

    Drafts must already satisfy RISK_MODEL §2 (see :func:`check_brackets`). Applies the
    module's defaults (haircuts, penalty, depth, OI caps "0"), appends ``penalty_clamped``
    findings, and validates the result.

    Args:
        haircuts: per-asset haircut overrides (fractions), merged over :data:`DEFAULT_HAIRCUTS`.
        liquidation_penalty: one penalty for every market (clamped to each ``MMF_1``).
        depth_by_base: known depth (USD per 1 % of price) per base asset.

    Raises:
        ParameterDocumentError: the assembled document is invalid (a bug, or a bad keyword
            value such as a haircut ≥ 1).
    """
    cuts = {**DEFAULT_HAIRCUTS, **{k: Decimal(v) for k, v in (haircuts or {}).items()}}
    depths = {k: Decimal(v) for k, v in (depth_by_base or {}).items()}
    assets: dict[str, dict[str, Any]] = {
        sym: {"symbol": sym, "haircut": decimal_str(cut), "stable": True} for sym, cut in STABLE_ASSETS.items()
    }
    markets: list[dict[str, Any]] = []
    for d in drafts:
        if d.base not in assets:
            assets[d.base] = {
                "symbol": d.base,
                "haircut": decimal_str(cuts.get(d.base, Decimal(default_haircut))),
            }
        penalty = _draft_penalty(d, findings, override=liquidation_penalty, mmf_share=penalty_mmf_share)
        markets.append(_market_entry(d, penalty, depths.get(d.base, Decimal(default_depth_usd_per_1pct))))
    doc = {
        "format": FORMAT,
        "name": name,
        "source": source,
        "assets": sorted(assets.values(), key=lambda a: a["symbol"]),
        "markets": sorted(markets, key=lambda m: m["symbol"]),
    }
    errors = validate_document(doc)
    if errors:
        raise ParameterDocumentError(errors, name)
    return doc


def wanted_symbols(symbols: Iterable[str] | None) -> set[str] | None:
    """Normalise a ``symbols=`` filter (riskgov or venue symbols) to a set, None = all."""
    if symbols is None:
        return None
    if isinstance(symbols, str):
        return {symbols}
    return set(symbols)


def is_requested(venue_symbol: str, base: str | None, wanted: set[str] | None, seen: set[str]) -> bool:
    """Whether a venue market passes the ``symbols=`` filter (given as the venue's symbol or
    as riskgov's ``BASE-PERP``); the requested symbols it matches are added to ``seen``."""
    if wanted is None:
        return True
    keys = ({venue_symbol} | ({market_symbol(base)} if base else set())) & wanted
    seen |= keys
    return bool(keys)


def report_not_found(wanted: set[str] | None, seen: set[str], findings: list[Finding]) -> None:
    """Add a ``not_found`` finding for every requested symbol the file did not contain."""
    for sym in sorted((wanted or set()) - seen):
        findings.append(Finding("not_found", sym, "requested symbol is not in the file"))


def file_label(path: str | Path) -> str:
    """The file name shown in a document's ``source`` and in errors."""
    return Path(path).name


def read_venue_json(path: Path, what: str) -> Any:
    """A venue JSON file within the input limits (:mod:`riskgov.core.limits`), numbers as Decimal.

    Raises:
        VenueFileError: one line naming the file: too big or too deep, unreadable, not JSON.
    """
    try:
        return input_limits.load_json(path, parse_float=Decimal)
    except input_limits.InputTooLarge as exc:
        raise VenueFileError(str(exc)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VenueFileError(f"{path.name}: cannot read {what}: {exc}") from None


@contextmanager
def open_venue_csv(path: Path, *, dict_reader: bool = False) -> Iterator[input_limits.CsvRows]:
    """Rows of a venue CSV within the input limits (:func:`riskgov.core.limits.open_text`:
    file size, each row within ``RISKGOV_MAX_CSV_ROW_BYTES``, ``csv.field_size_limit``);
    ``dict_reader``: as ``csv.DictReader``. Use as a context manager.

    Raises:
        VenueFileError: the file, a row or a line breaks a limit (one line naming the file,
            the line and the setting), or the CSV is malformed. OSError: it cannot be
            opened. UnicodeDecodeError: while reading.
    """
    try:
        fh = input_limits.open_text(path)
    except input_limits.InputTooLarge as exc:
        raise VenueFileError(str(exc)) from None
    with fh:
        try:
            yield input_limits.csv_reader(fh, dict_reader=dict_reader)
        except input_limits.InputTooLarge as exc:
            raise VenueFileError(str(exc)) from None
        except csv.Error as exc:
            raise VenueFileError(
                f"{path.name} line {fh.line}: malformed CSV: {input_limits.csv_error_text(exc)}"
            ) from None
