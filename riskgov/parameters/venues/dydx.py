"""dYdX margin parameters → ``riskgov.parameters/1``.

Reads either
- a ``markets`` response: dYdX v3 ``GET /v3/markets`` or the v4 indexer
  ``GET /v4/perpetualMarkets`` (``{"markets": {"BTC-USD": {"initialMarginFraction",
  "maintenanceMarginFraction", ...}}}``); one bracket per market with the published IMF and
  MMF, v4 ``openInterestLowerCap``/``UpperCap`` as the RISK_MODEL §3 caps, markets not
  ``ONLINE``/``ACTIVE`` skipped as ``delisted``, v3's coin-sized incremental IMF a ``note``; or
- a dYdX Chain genesis (``app_state.perpetuals.{perpetuals, liquidity_tiers}`` and
  ``app_state.clob.liquidations_config``), e.g. the real mainnet genesis
  ``dydx_v4_mainnet_genesis_2023-10-26.json`` or riskgov's trimmed copy of it, or
- the derived per-market CSV (``ticker, liquidity_tier_id, initial_margin_ppm,
  maintenance_fraction_ppm, imf, mmf, ...``), chosen by the ``.csv`` extension.

Rules (dYdX v4 ``x/perpetuals`` liquidity tiers, ``x/clob`` liquidations config):
- ticker ``BTC-USD`` → market ``BTC-PERP``, base ``BTC``;
- one bracket per market: ``F_1 = 0``, ``IMF = initial_margin_ppm / 1e6``,
  ``MMF = IMF × maintenance_fraction_ppm / 1e6`` (exact: ppm values divide by 1e6);
- the genesis-era protocol also raised a position's margin by ``sqrt(N / base_position_notional)``
  above the tier's ``base_position_notional`` (quote quantums, 1e6 = 1 USDC); a one-bracket
  table cannot express that, so one ``note`` finding per liquidity tier in use says so;
- liquidation penalty = ``max_liquidation_fee_ppm / 1e6`` (0.015 at genesis) when it is
  ``≤ MMF_1``, else clamped to ``MMF_1`` with a ``penalty_clamped`` finding. The CSV has no
  liquidations config, so there the :mod:`.common` default ``MMF_1/2`` applies;
- the CSV's ``imf``/``mmf`` columns are compared with the ppm-derived values
  (``value_mismatch`` findings);
- ``max_position_notional_usd`` null; OI caps "0" (genesis tiers have no OI caps); depth the
  flat default unless ``depth_by_base`` is given;
- ``liquidation_horizon_minutes`` ``"5"`` (RISK_MODEL §12 default): dYdX publishes no
  liquidation horizon, so the default is used and said so (:mod:`.common`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

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
    file_label,
    is_requested,
    open_venue_csv,
    read_venue_json,
    report_not_found,
    skip_reason_for_base,
    venue_decimal,
    wanted_symbols,
)

PPM = Decimal(1_000_000)
#: USDC quote quantums per USD (USDC atomic resolution −6).
QUANTUMS_PER_USD = Decimal(1_000_000)
TICKER_RE = re.compile(r"(?P<base>[^-]+)-USD")


def _read_genesis(path: Path, genesis: Any) -> tuple[list[dict[str, Any]], Decimal | None]:
    """(markets: ticker, tier id/name, ppm values, base notional; max liquidation fee)."""
    try:
        state = genesis["app_state"]
        perps = state["perpetuals"]["perpetuals"]
        tiers = {int(t["id"]): t for t in state["perpetuals"]["liquidity_tiers"]}
        if not isinstance(perps, list):
            raise TypeError(f"perpetuals is {type(perps).__name__}, not a list")
        fee_ppm = state.get("clob", {}).get("liquidations_config", {}).get("max_liquidation_fee_ppm")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise VenueFileError(f"{path.name}: not a dYdX genesis (app_state.perpetuals missing: {exc!r})") from None
    fee = (
        None if fee_ppm is None else venue_decimal(fee_ppm, f"{path.name}: max_liquidation_fee_ppm", integer=True) / PPM
    )
    markets = []
    for i, perp in enumerate(perps):
        where = f"{path.name}: perpetuals[{i}]"
        try:
            params = perp["params"]
            tier = tiers[int(params["liquidity_tier"])]
            markets.append(
                {
                    "ticker": params["ticker"],
                    "tier_id": int(params["liquidity_tier"]),
                    "tier_name": tier.get("name", ""),
                    "im_ppm": venue_decimal(tier["initial_margin_ppm"], f"{where} initial_margin_ppm", integer=True),
                    "mf_ppm": venue_decimal(
                        tier["maintenance_fraction_ppm"], f"{where} maintenance_fraction_ppm", integer=True
                    ),
                    "base_notional": venue_decimal(
                        tier.get("base_position_notional", 0), f"{where} base_position_notional", integer=True
                    ),
                    "published": None,
                }
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise VenueFileError(f"{where}: missing or unknown liquidity tier: {exc!r}") from None
    return markets, fee


#: Market status values of a tradable market: v3 ``ONLINE``, v4 indexer ``ACTIVE``.
TRADABLE_STATUS = {"ONLINE", "ACTIVE"}


def _is_markets_response(raw: object) -> bool:
    return isinstance(raw, dict) and "markets" in raw and "app_state" not in raw


def _read_markets_response(path: Path, raw: dict) -> list[dict[str, Any]]:
    """Markets from a dYdX ``markets`` response: v3 ``GET /v3/markets`` (2021–2023: ``market``,
    ``status`` ONLINE, ``type`` PERPETUAL, ``baselinePositionSize`` / ``incremental…``) or the v4
    indexer ``GET /v4/perpetualMarkets`` (``ticker``, ``status`` ACTIVE, ``marketType``,
    ``openInterestLowerCap`` / ``openInterestUpperCap``). Fractions are decimal strings.

    Raises:
        VenueFileError: the markets object or a field is malformed (names file, market, field).
    """
    markets_raw = raw["markets"]
    if not isinstance(markets_raw, dict):
        raise VenueFileError(f"{path.name}: markets is {type(markets_raw).__name__}, not an object")
    markets = []
    for key, m in markets_raw.items():
        where = f"{path.name}: market {key}"
        if not isinstance(m, dict):
            raise VenueFileError(f"{where}: expected an object")

        def num(field: str, *, optional: bool = False, m: dict = m, where: str = where) -> Decimal | None:
            value = m.get(field)
            if value is None or value == "":
                if optional:
                    return None
                raise VenueFileError(f"{where}: missing field {field!r}")
            return venue_decimal(value, f"{where} {field}")

        ticker = m.get("ticker") or m.get("market") or key
        kind = m.get("type", "PERPETUAL")
        markets.append(
            {
                "ticker": ticker,
                "imf": num("initialMarginFraction"),
                "mmf": num("maintenanceMarginFraction"),
                "status": str(m.get("status", "")),
                "perpetual": kind == "PERPETUAL",
                "oi_lower": num("openInterestLowerCap", optional=True),
                "oi_upper": num("openInterestUpperCap", optional=True),
                "baseline_size": num("baselinePositionSize", optional=True),
                "incremental_imf": num("incrementalInitialMarginFraction", optional=True),
                "incremental_size": num("incrementalPositionSize", optional=True),
            }
        )
    return markets


def _response_draft(m: dict[str, Any], base: str | None, findings: list[Finding]) -> MarketDraft | None:
    """One market of a ``markets`` response as one bracket (IMF and MMF as published; v4 OI
    caps as RISK_MODEL §3 caps), or None with the finding saying why not."""
    ticker = m["ticker"]
    if base is None or not m["perpetual"]:
        findings.append(Finding("out_of_scope", ticker, "not a BASE-USD perpetual; not imported"))
        return None
    if m["status"] not in TRADABLE_STATUS:
        findings.append(Finding("delisted", ticker, f"status {m['status'] or 'missing'}; not imported"))
        return None
    reason = skip_reason_for_base(base)
    if reason:
        findings.append(Finding("market_skipped", ticker, reason))
        return None
    lower, upper = m["oi_lower"] or Decimal(0), m["oi_upper"] or Decimal(0)
    draft = MarketDraft(
        venue_symbol=ticker,
        base=base,
        floors=[Decimal(0)],
        imfs=[m["imf"]],
        mmfs=[m["mmf"]],
        oi_cap_lower_usd=lower,
        oi_cap_upper_usd=upper,
    )
    if not check_brackets(draft, findings):
        return None
    if m["incremental_imf"] and m["baseline_size"] is not None:
        findings.append(
            Finding(
                "note",
                ticker,
                f"dYdX v3 raised IMF by {decimal_str(m['incremental_imf'])} per "
                f"{decimal_str(m['incremental_size'] or Decimal(0))} {base} above "
                f"{decimal_str(m['baseline_size'])} {base} (sizes in coin, not USD); imported as one bracket without it",
            )
        )
    return draft


_CSV_COLUMNS = ("ticker", "liquidity_tier_id", "initial_margin_ppm", "maintenance_fraction_ppm")


def _read_csv(path: Path) -> list[dict[str, Any]]:
    markets = []
    try:
        with open_venue_csv(path, dict_reader=True) as reader:
            fields = reader.fieldnames or []
            missing = [c for c in _CSV_COLUMNS if c not in fields]
            if missing:
                raise VenueFileError(f"{path.name}: missing columns {missing}")
            for line, row in enumerate(reader, start=2):
                where = f"{path.name} row {line} column"
                published = None
                if "imf" in fields and "mmf" in fields:
                    try:
                        published = (Decimal(row["imf"].strip()), Decimal(row["mmf"].strip()))
                    except InvalidOperation as exc:
                        raise VenueFileError(f"{where} imf/mmf: not a number") from exc
                base_notional = row.get("base_position_notional_quantums") or "0"
                markets.append(
                    {
                        "ticker": row["ticker"],
                        "tier_id": int(
                            venue_decimal(row["liquidity_tier_id"], f"{where} liquidity_tier_id", integer=True)
                        ),
                        "tier_name": row.get("liquidity_tier", ""),
                        "im_ppm": venue_decimal(row["initial_margin_ppm"], f"{where} initial_margin_ppm", integer=True),
                        "mf_ppm": venue_decimal(
                            row["maintenance_fraction_ppm"], f"{where} maintenance_fraction_ppm", integer=True
                        ),
                        "base_notional": venue_decimal(base_notional, f"{where} base_position_notional", integer=True),
                        "published": published,
                    }
                )
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise VenueFileError(f"{path.name}: cannot read: {exc}") from None
    return markets


def _market_draft(
    m: dict[str, Any], base: str | None, fee: Decimal | None, findings: list[Finding]
) -> MarketDraft | None:
    """One market as one bracket (IMF = im_ppm/1e6, MMF = IMF × mf_ppm/1e6), or None with the
    finding saying why not; CSV-published IMF/MMF that differ are ``value_mismatch`` findings."""
    ticker = m["ticker"]
    if base is None:
        findings.append(Finding("out_of_scope", ticker, "ticker is not BASE-USD; not imported"))
        return None
    reason = skip_reason_for_base(base)
    if reason:
        findings.append(Finding("market_skipped", ticker, reason))
        return None
    imf = m["im_ppm"] / PPM
    mmf = imf * m["mf_ppm"] / PPM
    draft = MarketDraft(venue_symbol=ticker, base=base, floors=[Decimal(0)], imfs=[imf], mmfs=[mmf], venue_fee=fee)
    if not check_brackets(draft, findings):
        return None
    if m["published"] is not None:
        for label, venue_value, derived in (("imf", m["published"][0], imf), ("mmf", m["published"][1], mmf)):
            if venue_value != derived:
                findings.append(
                    Finding(
                        "value_mismatch",
                        ticker,
                        f"CSV {label} {decimal_str(venue_value)} != derived "
                        f"{decimal_str(derived)} from ppm columns; derived value used",
                        tier=1,
                        venue_value=decimal_str(venue_value),
                        derived_value=decimal_str(derived),
                    )
                )
    return draft


def _note_tier_scaling(m: dict[str, Any], noted_tiers: set[int], findings: list[Finding]) -> None:
    """One ``note`` per liquidity tier whose sqrt position scaling is not imported."""
    if m["base_notional"] > 0 and m["tier_id"] not in noted_tiers:
        noted_tiers.add(m["tier_id"])
        usd = decimal_str(m["base_notional"] / QUANTUMS_PER_USD)
        findings.append(
            Finding(
                "note",
                f"liquidity tier {m['tier_id']} ({m['tier_name']})",
                f"dYdX scaled a position's margin by sqrt(N / {usd} USD) above "
                f"base_position_notional {usd} USD; imported as one bracket without it",
            )
        )


def parse_dydx(
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
    """Import dYdX v4 liquidity tiers (genesis JSON or derived CSV) as a parameter document.

    Args:
        path: a dYdX Chain genesis JSON (full or trimmed) or the per-market CSV.
        symbols: only these markets (riskgov ``BTC-PERP`` or dYdX ``BTC-USD``); None = all.
        liquidation_penalty: overrides the genesis' max liquidation fee for every market
            (still clamped to ``MMF_1``).
        Other keywords: defaults of :mod:`.common`.

    Returns:
        :class:`ImportResult`; fractions are fractions, money USD.

    Raises:
        VenueFileError: the file is not a readable genesis / CSV.
        ParameterDocumentError: a keyword default makes the document invalid.
    """
    p = Path(path)
    response = None
    if p.suffix.lower() == ".csv":
        markets, fee = _read_csv(p), None
    else:
        raw = read_venue_json(p, "dYdX JSON")
        if _is_markets_response(raw):
            response = _read_markets_response(p, raw)
            markets, fee = response, None
        else:
            markets, fee = _read_genesis(p, raw)
    wanted = wanted_symbols(symbols)
    seen: set[str] = set()
    findings: list[Finding] = []
    drafts: list[MarketDraft] = []
    noted_tiers: set[int] = set()
    for m in sorted(markets, key=lambda m: m["ticker"]):
        ticker = m["ticker"]
        match = TICKER_RE.fullmatch(ticker)
        base = match.group("base") if match else None
        if not is_requested(ticker, base, wanted, seen):
            continue
        if response is not None:
            draft = _response_draft(m, base, findings)
        else:
            draft = _market_draft(m, base, fee, findings)
            if draft is not None:
                _note_tier_scaling(m, noted_tiers, findings)
        if draft is not None:
            drafts.append(draft)
    report_not_found(wanted, seen, findings)
    label = file_label(p)
    fee_text = f"penalty = max_liquidation_fee {decimal_str(fee)}" if fee is not None else ("penalty default MMF_1/2")
    what = (
        "dYdX markets response; IMF = initialMarginFraction, MMF = maintenanceMarginFraction, OI caps = "
        "openInterestLowerCap/UpperCap where given"
        if response is not None
        else "dYdX v4 liquidity tiers; IMF = initial_margin_ppm/1e6, MMF = IMF × maintenance_fraction_ppm/1e6"
    )
    doc = build_document(
        drafts,
        findings,
        name=name or f"dYdX v4 ({label})",
        source=(
            f"{label}: {what}, one bracket per market; {fee_text}; "
            "depth and haircuts are riskgov defaults (riskgov.parameters.venues.common)"
        ),
        default_haircut=default_haircut,
        haircuts=haircuts,
        liquidation_penalty=liquidation_penalty,
        penalty_mmf_share=penalty_mmf_share,
        depth_by_base=depth_by_base,
        default_depth_usd_per_1pct=default_depth_usd_per_1pct,
    )
    return ImportResult(doc, findings)
