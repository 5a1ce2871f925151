"""Binance USDⓈ-M leverage brackets → ``riskgov.parameters/1``.

Reads either
- the ccxt / freqtrade leverage-tiers JSON (``{"BTC/USDT:USDT": [{"tier", "minNotional",
  "maxNotional", "maintenanceMarginRate", "maxLeverage", "info": {"cum", ...}}, ...]}``,
  e.g. ``binance_usdm_leverage_tiers_freqtrade-2026.9.json``, a snapshot of Binance's public
  ``GET /fapi/v1/leverageBracket``), or
- its flat CSV (``snapshot,symbol,tier,min_notional,max_notional,maint_margin_rate,
  max_leverage,maint_amount_cum,currency``), chosen by the ``.csv`` extension.

Rules (Binance "Leverage and Margin of USDⓈ-M Futures"):
- only USDT-margined linear perpetuals (ccxt symbol ``BASE/USDT:USDT``) are imported; USDC/
  USD1/U-margined, coin-margined and dated (``…:USDT-260925``) contracts are reported as
  ``out_of_scope`` findings;
- bracket ``k``: ``F_k = minNotional``, ``IMF_k = 1 / maxLeverage`` (rounded up to 10 places
  when it does not terminate, see :mod:`.common`), ``MMF_k = maintenanceMarginRate``;
- ``max_position_notional_usd`` = the last tier's ``maxNotional``;
- ``liquidation_horizon_minutes`` = ``"5"`` (RISK_MODEL §12 default): Binance publishes no
  liquidation horizon, so the default is used and said so (:mod:`.common`);
- the venue's maintenance amount (``info.cum`` / ``maint_amount_cum``) is compared with the
  derived ``C_k`` (RISK_MODEL §2); each difference is a ``maintenance_amount_mismatch``
  finding and the venue's value is never used;
- a market whose table breaks RISK_MODEL §2 is skipped with one ``market_skipped`` finding
  per broken rule; so is a market whose base is not an ASCII symbol (e.g. ``币安人生``).

Binance publishes no liquidation fee or depth in this file: the defaults of :mod:`.common`
apply (penalty ``MMF_1/2``, flat depth unless ``depth_by_base`` is given).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path

from riskgov.parameters.venues.common import (
    DEFAULT_DEPTH_USD_PER_1PCT,
    DEFAULT_HAIRCUT,
    PENALTY_MMF_SHARE,
    Finding,
    ImportResult,
    MarketDraft,
    VenueFileError,
    build_document,
    check_brackets,
    decimal_str,
    derive_maintenance_amounts,
    file_label,
    fraction_of,
    is_requested,
    open_venue_csv,
    read_venue_json,
    report_not_found,
    skip_reason_for_base,
    venue_decimal,
    wanted_symbols,
)

#: ccxt symbol of a USDT-margined linear perpetual (no expiry suffix).
USDT_PERP_RE = re.compile(r"(?P<base>[^/:]+)/USDT:USDT")

_CSV_COLUMNS = (
    "symbol",
    "tier",
    "min_notional",
    "max_notional",
    "maint_margin_rate",
    "max_leverage",
    "maint_amount_cum",
)


def _tiers_from_json(path: Path) -> dict[str, list[dict[str, Decimal]]]:
    raw = read_venue_json(path, "leverage tiers JSON")
    if not isinstance(raw, dict):
        raise VenueFileError(f"{path.name}: expected an object of symbol -> tiers")
    out: dict[str, list[dict[str, Decimal]]] = {}
    for symbol, tiers in raw.items():
        if not isinstance(tiers, list):
            raise VenueFileError(f"{path.name}: {symbol}: expected a list of tiers")
        rows = []
        for i, t in enumerate(tiers):
            where = f"{path.name}: {symbol} tier #{i + 1}"
            try:
                rows.append(
                    {
                        "tier": venue_decimal(t["tier"], f"{where} tier"),
                        "min": venue_decimal(t["minNotional"], f"{where} minNotional"),
                        "max": venue_decimal(t["maxNotional"], f"{where} maxNotional"),
                        "mmr": venue_decimal(t["maintenanceMarginRate"], f"{where} maintenanceMarginRate"),
                        "lev": venue_decimal(t["maxLeverage"], f"{where} maxLeverage"),
                        "cum": venue_decimal(t["info"]["cum"], f"{where} info.cum"),
                    }
                )
            except (KeyError, TypeError) as exc:
                raise VenueFileError(f"{where}: missing field {exc}") from exc
        out[symbol] = rows
    return out


def _tiers_from_csv(path: Path) -> dict[str, list[dict[str, Decimal]]]:
    out: dict[str, list[dict[str, Decimal]]] = {}
    try:
        with open_venue_csv(path) as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in _CSV_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise VenueFileError(f"{path.name}: missing columns {missing}")
            for line, row in enumerate(reader, start=2):
                where = f"{path.name} row {line}"
                out.setdefault(row["symbol"], []).append(
                    {
                        "tier": venue_decimal(row["tier"], f"{where} column tier"),
                        "min": venue_decimal(row["min_notional"], f"{where} column min_notional"),
                        "max": venue_decimal(row["max_notional"], f"{where} column max_notional"),
                        "mmr": venue_decimal(row["maint_margin_rate"], f"{where} column maint_margin_rate"),
                        "lev": venue_decimal(row["max_leverage"], f"{where} column max_leverage"),
                        "cum": venue_decimal(row["maint_amount_cum"], f"{where} column maint_amount_cum"),
                    }
                )
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise VenueFileError(f"{path.name}: cannot read: {exc}") from None
    for rows in out.values():
        rows.sort(key=lambda r: r["tier"])
    return out


def read_binance_tiers(path: str | Path) -> dict[str, list[dict[str, Decimal]]]:
    """Raw tiers per ccxt symbol, as Decimals: keys ``tier, min, max, mmr, lev, cum``.

    ``.csv`` files are read as the flat CSV, anything else as the ccxt JSON.

    Raises:
        VenueFileError: unreadable file, missing field/column, or a non-numeric value
            (the message names file, symbol/row and field/column).
    """
    p = Path(path)
    return _tiers_from_csv(p) if p.suffix.lower() == ".csv" else _tiers_from_json(p)


def _symbol_draft(
    venue_symbol: str, base: str | None, tiers: list[dict[str, Decimal]], findings: list[Finding]
) -> MarketDraft | None:
    """One symbol's brackets (IMF = 1/maxLeverage, MMF = maintenanceMarginRate), or None with
    the finding saying why not (out of scope, bad base, no tiers, leverage 0, RISK_MODEL §2)."""
    if base is None:
        findings.append(
            Finding("out_of_scope", venue_symbol, "not a USDT-margined linear perpetual (BASE/USDT:USDT); not imported")
        )
        return None
    reason = skip_reason_for_base(base)
    if reason:
        findings.append(Finding("market_skipped", venue_symbol, reason))
        return None
    if not tiers:
        findings.append(Finding("market_skipped", venue_symbol, "no tiers; market skipped", broken=True))
        return None
    try:
        imfs = [fraction_of(Decimal(1), t["lev"]) for t in tiers]
    except ArithmeticError:
        findings.append(Finding("market_skipped", venue_symbol, "maxLeverage 0 in a tier; market skipped", broken=True))
        return None
    draft = MarketDraft(
        venue_symbol=venue_symbol,
        base=base,
        floors=[t["min"] for t in tiers],
        imfs=imfs,
        mmfs=[t["mmr"] for t in tiers],
        max_position_notional_usd=tiers[-1]["max"],
    )
    return draft if check_brackets(draft, findings) else None


def _compare_cum(draft: MarketDraft, tiers: list[dict[str, Decimal]], findings: list[Finding]) -> None:
    """A ``maintenance_amount_mismatch`` finding per tier whose ``cum`` differs from the derived ``C_k``."""
    for k, (t, derived) in enumerate(
        zip(tiers, derive_maintenance_amounts(draft.floors, draft.mmfs), strict=True), start=1
    ):
        if t["cum"] != derived:
            findings.append(
                Finding(
                    "maintenance_amount_mismatch",
                    draft.venue_symbol,
                    f"venue maintenance amount (cum) {decimal_str(t['cum'])} USD != derived "
                    f"{decimal_str(derived)} USD (RISK_MODEL §2); derived value used",
                    tier=k,
                    venue_value=decimal_str(t["cum"]),
                    derived_value=decimal_str(derived),
                )
            )


def parse_binance(
    path: str | Path,
    *,
    symbols: Iterable[str] | None = None,
    name: str | None = None,
    default_haircut: Decimal = DEFAULT_HAIRCUT,
    haircuts: Mapping[str, Decimal] | None = None,
    liquidation_penalty: Decimal | None = None,
    penalty_mmf_share: Decimal = PENALTY_MMF_SHARE,
    depth_by_base: Mapping[str, Decimal] | None = None,
    default_depth_usd_per_1pct: Decimal = DEFAULT_DEPTH_USD_PER_1PCT,
) -> ImportResult:
    """Import Binance USDⓈ-M leverage brackets (JSON or flat CSV) as a parameter document.

    Args:
        path: the ccxt/freqtrade leverage-tiers JSON or its flat CSV.
        symbols: import only these markets, given as riskgov (``BTC-PERP``) or ccxt
            (``BTC/USDT:USDT``) symbols; requested symbols not found are ``not_found``
            findings. None imports every USDT-margined perpetual.
        name: document name; default derived from the file name.
        default_haircut, haircuts, liquidation_penalty, penalty_mmf_share, depth_by_base,
        default_depth_usd_per_1pct: see :func:`.common.build_document` and the defaults in
            :mod:`.common` (penalty ``MMF_1 × 0.5``; depth 1,000,000 USD per 1 %).

    Returns:
        :class:`ImportResult` ``(document, findings)``; fractions are fractions, money USD.

    Raises:
        VenueFileError: the file cannot be read as leverage tiers.
        ParameterDocumentError: a keyword default makes the document invalid.
    """
    p = Path(path)
    tiers_by_symbol = read_binance_tiers(p)
    wanted = wanted_symbols(symbols)
    seen: set[str] = set()
    findings: list[Finding] = []
    drafts: list[MarketDraft] = []
    for venue_symbol in sorted(tiers_by_symbol):
        m = USDT_PERP_RE.fullmatch(venue_symbol)
        base = m.group("base") if m else None
        if not is_requested(venue_symbol, base, wanted, seen):
            continue
        draft = _symbol_draft(venue_symbol, base, tiers_by_symbol[venue_symbol], findings)
        if draft is not None:
            _compare_cum(draft, tiers_by_symbol[venue_symbol], findings)
            drafts.append(draft)
    report_not_found(wanted, seen, findings)
    label = file_label(p)
    doc = build_document(
        drafts,
        findings,
        name=name or f"Binance USDⓈ-M ({label})",
        source=(
            f"{label}: Binance USDⓈ-M leverage brackets (ccxt leverage-tiers format); "
            "IMF = 1/maxLeverage (rounded up to 10 places), MMF = maintenanceMarginRate, "
            "max position = last tier maxNotional; penalty, depth and haircuts are riskgov "
            "defaults (riskgov.parameters.venues.common)"
        ),
        default_haircut=default_haircut,
        haircuts=haircuts,
        liquidation_penalty=liquidation_penalty,
        penalty_mmf_share=penalty_mmf_share,
        depth_by_base=depth_by_base,
        default_depth_usd_per_1pct=default_depth_usd_per_1pct,
    )
    return ImportResult(doc, findings)
