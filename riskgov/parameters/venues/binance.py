"""Binance USDⓈ-M leverage brackets → ``riskgov.parameters/1``.

Reads either
- the ccxt / freqtrade leverage-tiers JSON (``{"BTC/USDT:USDT": [{"tier", "minNotional",
  "maxNotional", "maintenanceMarginRate", "maxLeverage", "info": {"cum", ...}}, ...]}``,
  e.g. ``binance_usdm_leverage_tiers_freqtrade-2026.9.json``, a snapshot of Binance's public
  ``GET /fapi/v1/leverageBracket``), or
- Binance's own ``GET /fapi/v1/leverageBracket`` response (``[{"symbol": "BTCUSDT", "brackets":
  [{"bracket", "initialLeverage", "notionalCap", "notionalFloor", "maintMarginRatio", "cum"},
  ...]}, ...]``; numbers or, through ccxt's implicit API, strings), or
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

#: ccxt symbol of a USDT-margined linear perpetual (no expiry suffix): ``BTC/USDT:USDT``, or
#: ``BTC/USDT`` as ccxt and freqtrade named USDⓈ-M perpetuals before unified settle suffixes
#: (freqtrade ≤ 2022.10 files).
USDT_PERP_RE = re.compile(r"(?P<base>[^/:]+)/USDT(:USDT)?")
#: Binance's own id of a USDT-margined perpetual (``BTCUSDT``; dated ones end ``_YYMMDD``).
RAW_USDT_PERP_RE = re.compile(r"(?P<base>[A-Za-z0-9]+)USDT")


def classify_symbol(symbol: str, *, raw_ids: bool) -> tuple[str | None, str]:
    """``(base, why_not)``: the base asset of a USDT-margined linear perpetual, or None and the
    reason it is out of scope.

    In ccxt/freqtrade files a bare Binance id (``BTCSTUSDT``, ``BTCUSDT_210326``) is a
    contract ccxt no longer listed when the file was written (delisted or settled); in the raw
    ``leverageBracket`` response every symbol is such an id and ``BASEUSDT`` is a perpetual.
    """
    if raw_ids:
        m = RAW_USDT_PERP_RE.fullmatch(symbol)
        return (m.group("base"), "") if m else (None, "not a USDT-margined perpetual id (BASEUSDT); not imported")
    m = USDT_PERP_RE.fullmatch(symbol)
    if m:
        return m.group("base"), ""
    if "/" not in symbol:
        return (
            None,
            "a bare Binance id: ccxt did not list the contract when the file was written (delisted or settled); not imported",
        )
    return None, "not a USDT-margined linear perpetual (BASE/USDT:USDT); not imported"


_CSV_COLUMNS = (
    "symbol",
    "tier",
    "min_notional",
    "max_notional",
    "maint_margin_rate",
    "max_leverage",
    "maint_amount_cum",
)


#: Binance's "no upper bound" sentinel for a top bracket's ``maxNotional`` / ``notionalCap``:
#: ``2**63 - 1`` (Java ``Long.MAX_VALUE``), published as that integer, as the float
#: ``9.223372036854776e+18`` or as the integer ``9223372036854776000``; any value at or above it,
#: ``"Infinity"``/``Infinity`` and ``null`` mean the same thing.
UNBOUNDED_NOTIONAL = Decimal(2**63 - 1)
#: The largest finite max-position notional riskgov stores (NUMERIC(28,10): 18 integer digits).
MAX_STORABLE_NOTIONAL = Decimal(10) ** 18
_INFINITY_TEXT = {"infinity", "+infinity", "inf", "+inf"}


def _max_notional(value: object, where: str) -> Decimal | None:
    """A tier's upper notional bound (USD), or None when the file says "unbounded".

    Raises:
        VenueFileError: not a number, negative, or finite but too large to store
            (:data:`MAX_STORABLE_NOTIONAL`) without being the unbounded sentinel.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in _INFINITY_TEXT):
        return None
    if isinstance(value, float) and value == float("inf"):
        return None
    d = venue_decimal(value, where)
    if d >= UNBOUNDED_NOTIONAL:
        return None
    if d >= MAX_STORABLE_NOTIONAL or d < 0:
        raise VenueFileError(
            f"{where}: {value!r} is neither a notional riskgov can store (0 to 1e18 USD) nor Binance's "
            f"unbounded sentinel 2^63-1"
        )
    return d


def _field(t: dict, info: dict, where: str, names: tuple[str, ...], info_names: tuple[str, ...]) -> object:
    """The first present (non-null) of ``t[names…]`` then ``t["info"][info_names…]``.

    ccxt's unified fields (``minNotional``…) are preferred; the raw Binance fields under
    ``info`` (``notionalFloor``/``minNotional``, ``notionalCap``/``maxNotional``,
    ``maintMarginRatio``, ``initialLeverage``) are the fallback — older and newer files
    carry one or the other spelling.

    Raises:
        VenueFileError: none of them is present, naming ``where`` and the unified field.
    """
    for n in names:
        if t.get(n) is not None:
            return t[n]
    for n in info_names:
        if info.get(n) is not None:
            return info[n]
    raise VenueFileError(f"{where}: missing field {names[0]!r}")


def _tier_row(t: object, i: int, where: str) -> dict[str, Decimal | None]:
    """One tier (ccxt leverage-tiers or raw ``leverageBracket`` entry) as Decimals.

    Keys ``tier, min, max, mmr, lev, cum``; ``max`` None = unbounded, ``cum`` None = the file
    has no maintenance amount for the tier (nothing to compare).
    """
    if not isinstance(t, dict):
        raise VenueFileError(f"{where}: expected a tier object, got {type(t).__name__}")
    info = t.get("info") if isinstance(t.get("info"), dict) else t
    tier = next((x for x in (t.get("tier"), t.get("bracket"), info.get("bracket")) if x is not None), i)
    max_raw = next(
        (x for x in (t.get("maxNotional"), info.get("notionalCap"), info.get("maxNotional")) if x is not None), None
    )
    cum = info.get("cum", t.get("cum"))
    return {
        "tier": venue_decimal(tier, f"{where} tier"),
        "min": venue_decimal(
            _field(t, info, where, ("minNotional", "notionalFloor"), ("notionalFloor", "minNotional")),
            f"{where} minNotional",
        ),
        "max": _max_notional(max_raw, f"{where} maxNotional"),
        "mmr": venue_decimal(
            _field(t, info, where, ("maintenanceMarginRate", "maintMarginRatio"), ("maintMarginRatio",)),
            f"{where} maintenanceMarginRate",
        ),
        "lev": venue_decimal(
            _field(t, info, where, ("maxLeverage", "initialLeverage"), ("initialLeverage",)), f"{where} maxLeverage"
        ),
        "cum": None if cum is None else venue_decimal(cum, f"{where} info.cum"),
    }


def _is_bracket_pairs(tiers: list) -> bool:
    """freqtrade's 2021 ``binance_leverage_brackets.json``: ``[[notional floor, maintenance rate], ...]``."""
    return bool(tiers) and all(isinstance(t, list) and len(t) == 2 for t in tiers)


def _tiers_from_json(path: Path) -> tuple[dict[str, list[dict[str, Decimal | None]]], bool]:
    """(raw tiers per symbol, symbols are raw Binance ids) from either JSON shape.

    Shapes: the ccxt/freqtrade object ``{symbol: [tier, ...]}`` (ccxt symbols), or Binance's
    own ``GET /fapi/v1/leverageBracket`` list ``[{"symbol": "BTCUSDT", "brackets": [...]}]``
    (raw ids). freqtrade's 2021 bracket pairs (no leverage) are refused.
    """
    raw = read_venue_json(path, "leverage tiers JSON")
    raw_ids = isinstance(raw, list)
    if raw_ids:
        entries = []
        for i, e in enumerate(raw):
            if not (isinstance(e, dict) and isinstance(e.get("symbol"), str) and isinstance(e.get("brackets"), list)):
                raise VenueFileError(f'{path.name}: [{i}]: expected {{"symbol", "brackets"}} (Binance leverageBracket)')
            entries.append((e["symbol"], e["brackets"]))
    elif isinstance(raw, dict):
        entries = list(raw.items())
    else:
        raise VenueFileError(f"{path.name}: expected an object of symbol -> tiers")
    out: dict[str, list[dict[str, Decimal | None]]] = {}
    for symbol, tiers in entries:
        if not isinstance(tiers, list):
            raise VenueFileError(f"{path.name}: {symbol}: expected a list of tiers")
        if _is_bracket_pairs(tiers):
            raise VenueFileError(
                f"{path.name}: {symbol}: this is freqtrade's 2021 leverage-brackets format "
                "([notional floor, maintenance rate] pairs); it has no max leverage, so no initial "
                "margin can be derived — use a leverage-tiers file (ccxt fetch_leverage_tiers)"
            )
        out[symbol] = [_tier_row(t, i + 1, f"{path.name}: {symbol} tier #{i + 1}") for i, t in enumerate(tiers)]
    return out, raw_ids


def _tiers_from_csv(path: Path) -> dict[str, list[dict[str, Decimal]]]:
    out: dict[str, list[dict[str, Decimal]]] = {}
    try:
        with open_venue_csv(path, dict_reader=True) as reader:
            missing = [c for c in _CSV_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise VenueFileError(f"{path.name}: missing columns {missing}")
            for line, row in enumerate(reader, start=2):
                where = f"{path.name} row {line}"
                out.setdefault(row["symbol"], []).append(
                    {
                        "tier": venue_decimal(row["tier"], f"{where} column tier"),
                        "min": venue_decimal(row["min_notional"], f"{where} column min_notional"),
                        "max": _max_notional(row["max_notional"], f"{where} column max_notional"),
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


def read_binance_tiers(path: str | Path) -> tuple[dict[str, list[dict[str, Decimal | None]]], bool]:
    """``(tiers per symbol, raw_ids)``: Decimals with keys ``tier, min, max, mmr, lev, cum``
    (``max`` None = unbounded top bracket, ``cum`` None = not in the file); ``raw_ids`` is True
    when the symbols are Binance's own ids (``BTCUSDT``, the ``leverageBracket`` response).

    ``.csv`` files are read as the flat CSV, anything else as JSON (ccxt/freqtrade
    leverage tiers of any year, or the raw ``leverageBracket`` list).

    Raises:
        VenueFileError: unreadable file, missing field/column, or a non-numeric value
            (the message names file, symbol/row and field/column).
    """
    p = Path(path)
    return (_tiers_from_csv(p), False) if p.suffix.lower() == ".csv" else _tiers_from_json(p)


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
        if t["cum"] is not None and t["cum"] != derived:
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
    tiers_by_symbol, raw_ids = read_binance_tiers(p)
    wanted = wanted_symbols(symbols)
    seen: set[str] = set()
    findings: list[Finding] = []
    drafts: list[MarketDraft] = []
    by_base: dict[str, str] = {}
    for venue_symbol in sorted(tiers_by_symbol):
        tiers = tiers_by_symbol[venue_symbol]
        base, why_not = classify_symbol(venue_symbol, raw_ids=raw_ids)
        if not is_requested(venue_symbol, base, wanted, seen):
            continue
        if base is None:
            findings.append(Finding("out_of_scope", venue_symbol, why_not))
            continue
        if base in by_base:
            raise VenueFileError(
                f"{p.name}: {venue_symbol} and {by_base[base]} are both the {base} USDT perpetual; "
                "the file is ambiguous, nothing imported"
            )
        by_base[base] = venue_symbol
        draft = _symbol_draft(venue_symbol, base, tiers, findings)
        if draft is not None:
            _compare_cum(draft, tiers, findings)
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
