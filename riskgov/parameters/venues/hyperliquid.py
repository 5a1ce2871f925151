"""Hyperliquid margin tables → ``riskgov.parameters/1``; open interest and volume per market.

Reads either
- the raw ``meta`` info response (or ``metaAndAssetCtxs``, ``[meta, [assetCtx...]]``; without
  ``marginTables`` in pre-2025 responses, where a coin's ``maxLeverage`` is its one tier) (``{"universe": [{"name", "maxLeverage", "marginTableId",
  "isDelisted"?...}], "marginTables": [[id, {"marginTiers": [{"lowerBound",
  "maxLeverage"}]}], ...]}``, e.g. ``hyperliquid_meta_universe_marginTables.json``), or
- the derived per-coin CSV (``coin,margin_table_id,tier,lower_bound_usd,max_leverage,
  initial_margin_fraction,maintenance_margin_fraction``), chosen by the ``.csv`` extension.

Rules (Hyperliquid docs, "Trading → Margin tiers" and "Liquidations"):
- a ``marginTableId`` below 50 is an implicit single-tier table whose max leverage is the id;
  larger ids refer to ``marginTables``;
- tier ``k``: ``F_k = lowerBound`` (USD), ``IMF_k = 1 / maxLeverage_k``,
  ``MMF_k = 0.5 / maxLeverage_k`` ("maintenance margin is half of the initial margin at max
  leverage"), rounded up to 10 places when not terminating (see :mod:`.common`);
- Hyperliquid computes maintenance margin above a tier boundary with a "deduction" chosen so
  the margin is continuous — exactly riskgov's derived maintenance amount (RISK_MODEL §2);
  the venue publishes no amounts, so there is nothing to compare;
- delisted coins (``isDelisted``) are skipped with a ``delisted`` finding. The CSV does not
  carry delisting; pass ``snapshot=`` (the perp meta snapshot CSV) to apply it, otherwise a
  ``note`` finding says it was not checked.
- ``max_position_notional_usd`` is null (Hyperliquid tiers have no upper bound); the
  penalty is the :mod:`.common` default ``MMF_1/2``; depth comes from the snapshot's
  ``dayNtlVlm`` where given (:func:`.common.depth_from_day_volume`), else the flat default;
- ``liquidation_horizon_minutes`` ``"5"`` (RISK_MODEL §12 default): Hyperliquid publishes no
  liquidation horizon, so the default is used and said so (:mod:`.common`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from riskgov.parameters.venues.common import (
    DEFAULT_DEPTH_USD_PER_1PCT,
    DEFAULT_HAIRCUT,
    DEPTH_VOLUME_FRACTION,
    FRACTION_PLACES,
    MIN_DEPTH_USD_PER_1PCT,
    PENALTY_MMF_SHARE,
    Finding,
    ImportResult,
    MarketDraft,
    VenueFileError,
    build_document,
    check_brackets,
    decimal_str,
    depth_from_day_volume,
    file_label,
    fraction_of,
    is_requested,
    market_symbol,
    open_venue_csv,
    read_venue_json,
    report_not_found,
    skip_reason_for_base,
    venue_decimal,
    wanted_symbols,
)

#: Margin table ids below this are implicit single tiers with max leverage = id.
IMPLICIT_TABLE_LIMIT = 50
#: Hyperliquid's maintenance margin as a share of the initial margin at max leverage.
MAINTENANCE_SHARE = Decimal("0.5")


@dataclass(frozen=True)
class HyperliquidPerpStats:
    """One perp's market context from the meta snapshot CSV (USD unless noted).

    Attributes:
        coin: Hyperliquid coin name (``BTC``).
        delisted: the universe's ``isDelisted`` flag.
        open_interest_usd: open interest × mark price (``open_interest_usd_at_mark``), or None
            where the snapshot has no context for the market.
        day_notional_volume_usd: ``dayNtlVlm``, or None.
        mark_price: ``markPx`` (USD per coin), or None.
    """

    coin: str
    delisted: bool
    open_interest_usd: Decimal | None
    day_notional_volume_usd: Decimal | None
    mark_price: Decimal | None


def read_hyperliquid_snapshot(path: str | Path) -> dict[str, HyperliquidPerpStats]:
    """Per-coin stats from ``hyperliquid_perp_meta_snapshot.csv`` (all 227 rows, keyed by coin).

    Empty context fields (markets the response had no context for) become None.

    Raises:
        VenueFileError: unreadable file, missing column, or a non-numeric value (names the
            file, row and column).
    """
    p = Path(path)
    out: dict[str, HyperliquidPerpStats] = {}
    try:
        with open_venue_csv(p) as reader:
            header = next(reader, [])
            # The real file repeats the last column name; the first occurrence wins.
            col = {}
            for i, c in enumerate(header):
                col.setdefault(c, i)
            needed = ("coin", "is_delisted", "open_interest_usd_at_mark", "dayNtlVlm", "markPx")
            missing = [c for c in needed if c not in col]
            if missing:
                raise VenueFileError(f"{p.name}: missing columns {missing}")
            for line, row in enumerate(reader, start=2):

                def opt(c: str, row: list[str] = row, line: int = line) -> Decimal | None:
                    text = row[col[c]].strip() if col[c] < len(row) else ""
                    return venue_decimal(text, f"{p.name} row {line} column {c}") if text else None

                coin = row[col["coin"]]
                out[coin] = HyperliquidPerpStats(
                    coin=coin,
                    delisted=row[col["is_delisted"]].strip().lower() == "true",
                    open_interest_usd=opt("open_interest_usd_at_mark"),
                    day_notional_volume_usd=opt("dayNtlVlm"),
                    mark_price=opt("markPx"),
                )
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise VenueFileError(f"{p.name}: cannot read: {exc}") from None
    return out


def hyperliquid_open_interest(path: str | Path, *, include_delisted: bool = False) -> dict[str, Decimal]:
    """Open interest in USD at mark price per riskgov market (``{"BTC-PERP": Decimal(...)}``).

    Reads the perp meta snapshot CSV; markets without a context are left out, and delisted
    ones unless ``include_delisted``. (Real file: 65 markets have a context, BTC ≈ 3.02e9 USD.)

    Raises:
        VenueFileError: see :func:`read_hyperliquid_snapshot`.
    """
    return {
        market_symbol(s.coin): s.open_interest_usd
        for s in read_hyperliquid_snapshot(path).values()
        if s.open_interest_usd is not None and (include_delisted or not s.delisted)
    }


def hyperliquid_day_volume(path: str | Path, *, include_delisted: bool = False) -> dict[str, Decimal]:
    """A day's notional volume in USD per riskgov market (``dayNtlVlm``), like
    :func:`hyperliquid_open_interest`.

    Raises:
        VenueFileError: see :func:`read_hyperliquid_snapshot`.
    """
    return {
        market_symbol(s.coin): s.day_notional_volume_usd
        for s in read_hyperliquid_snapshot(path).values()
        if s.day_notional_volume_usd is not None and (include_delisted or not s.delisted)
    }


def hyperliquid_depth_by_base(
    path: str | Path,
    *,
    volume_fraction: Decimal = DEPTH_VOLUME_FRACTION,
    min_depth: Decimal = MIN_DEPTH_USD_PER_1PCT,
) -> dict[str, Decimal]:
    """Depth (USD per 1 % of price) per coin from the snapshot's day volume, by
    :func:`.common.depth_from_day_volume`; usable as ``depth_by_base=`` for any venue.

    Raises:
        VenueFileError: see :func:`read_hyperliquid_snapshot`.
    """
    return {
        s.coin: depth_from_day_volume(s.day_notional_volume_usd, volume_fraction=volume_fraction, min_depth=min_depth)
        for s in read_hyperliquid_snapshot(path).values()
        if s.day_notional_volume_usd is not None
    }


def _meta_object(raw: object, path: Path) -> dict:
    """The ``meta`` object of a ``meta`` response, or of a ``metaAndAssetCtxs`` response
    (``[meta, [assetCtx, ...]]``).

    Raises:
        VenueFileError: neither shape.
    """
    if isinstance(raw, list) and len(raw) == 2 and isinstance(raw[0], dict) and isinstance(raw[1], list):
        raw = raw[0]
    if not isinstance(raw, dict):
        raise VenueFileError(f"{path.name}: not a Hyperliquid meta response: expected an object with a universe")
    return raw


def _margin_tables(meta: dict, path: Path) -> dict[int, list[tuple[Decimal, Decimal]]]:
    """``marginTables`` (``[[id, {"marginTiers": [{"lowerBound", "maxLeverage"}]}], ...]``) as
    id -> [(lower bound USD, max leverage)]; absent in pre-2025 responses (empty then).

    Raises:
        VenueFileError: a malformed table, naming the file, table and field.
    """
    raw = meta.get("marginTables")
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise VenueFileError(f"{path.name}: marginTables is {type(raw).__name__}, not a list")
    tables: dict[int, list[tuple[Decimal, Decimal]]] = {}
    for i, entry in enumerate(raw):
        where = f"{path.name}: marginTables[{i}]"
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], dict)):
            raise VenueFileError(f'{where}: expected [id, {{"marginTiers": [...]}}]')
        tid = int(venue_decimal(entry[0], f"{where} id", integer=True))
        tiers = entry[1].get("marginTiers")
        if not isinstance(tiers, list) or not tiers:
            raise VenueFileError(f"{where} (table {tid}): marginTiers missing or empty")
        rows = []
        for k, t in enumerate(tiers, start=1):
            if not isinstance(t, dict):
                raise VenueFileError(f"{where} (table {tid}) tier {k}: expected an object")
            rows.append(
                (
                    venue_decimal(t.get("lowerBound"), f"{where} (table {tid}) tier {k} lowerBound"),
                    venue_decimal(t.get("maxLeverage"), f"{where} (table {tid}) tier {k} maxLeverage"),
                )
            )
        tables[tid] = rows
    return tables


def _tiers_from_meta(path: Path) -> tuple[dict[str, list[tuple[Decimal, Decimal]]], set[str]]:
    """(coin -> [(lower bound USD, max leverage)], delisted coins) from the raw meta JSON.

    Variants read: ``meta`` or ``metaAndAssetCtxs``; with ``marginTables`` (2025 on) or
    without (earlier: each coin's ``maxLeverage`` is its one tier); optional flags
    (``isDelisted``, ``onlyIsolated``) absent, ``true``/``false`` or ``null`` (= false).

    Raises:
        VenueFileError: a coin with neither ``marginTableId`` nor ``maxLeverage`` (the early-2023
            responses, ``{"name", "szDecimals"}`` only), naming file, coin and field.
    """
    meta = _meta_object(read_venue_json(path, "meta JSON"), path)
    universe = meta.get("universe")
    if not isinstance(universe, list):
        raise VenueFileError(
            f"{path.name}: not a Hyperliquid meta response: universe is {type(universe).__name__}, not a list"
        )
    tables = _margin_tables(meta, path)
    tiers: dict[str, list[tuple[Decimal, Decimal]]] = {}
    delisted: set[str] = set()
    for i, coin in enumerate(universe):
        where = f"{path.name}: universe[{i}]"
        if not isinstance(coin, dict) or not isinstance(coin.get("name"), str):
            raise VenueFileError(f"{where}: expected an object with a name")
        name = coin["name"]
        if name in tiers:
            raise VenueFileError(f"{where} ({name}): the coin is listed twice")
        if coin.get("isDelisted"):
            delisted.add(name)
        if coin.get("marginTableId") is None:
            if coin.get("maxLeverage") is None:  # the earliest responses (early 2023) had no leverage
                raise VenueFileError(
                    f"{where} ({name}): missing field 'maxLeverage' (and no marginTableId): a meta response "
                    "without leverage, so no initial margin can be derived; nothing imported"
                )
            lev = venue_decimal(coin.get("maxLeverage"), f"{where} ({name}) maxLeverage")
            tiers[name] = [(Decimal(0), lev)]
            continue
        table_id = int(venue_decimal(coin["marginTableId"], f"{where} ({name}) marginTableId", integer=True))
        if table_id < IMPLICIT_TABLE_LIMIT:
            tiers[name] = [(Decimal(0), Decimal(table_id))]
        elif table_id in tables:
            tiers[name] = list(tables[table_id])
        else:
            raise VenueFileError(f"{where} ({name}): marginTableId {table_id} is not in marginTables")
    return tiers, delisted


_CSV_COLUMNS = (
    "coin",
    "tier",
    "lower_bound_usd",
    "max_leverage",
    "initial_margin_fraction",
    "maintenance_margin_fraction",
)


def _tiers_from_csv(
    path: Path,
) -> tuple[dict[str, list[tuple[Decimal, Decimal]]], dict[str, list[tuple[Decimal, Decimal]]]]:
    """(coin -> [(lower bound, max leverage)], coin -> [(csv IMF, csv MMF)]) from the CSV."""
    rows: dict[str, list[tuple[Decimal, Decimal, Decimal, Decimal, Decimal]]] = {}
    try:
        with open_venue_csv(path, dict_reader=True) as reader:
            missing = [c for c in _CSV_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise VenueFileError(f"{path.name}: missing columns {missing}")
            for line, row in enumerate(reader, start=2):
                vals = [venue_decimal(row[c], f"{path.name} row {line} column {c}") for c in _CSV_COLUMNS[1:]]
                rows.setdefault(row["coin"], []).append(tuple(vals))  # type: ignore[arg-type]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise VenueFileError(f"{path.name}: cannot read: {exc}") from None
    tiers, published = {}, {}
    for coin, rs in rows.items():
        rs.sort(key=lambda r: r[0])
        tiers[coin] = [(r[1], r[2]) for r in rs]
        published[coin] = [(r[3], r[4]) for r in rs]
    return tiers, published


def _depths(
    stats: Mapping[str, HyperliquidPerpStats],
    depth_by_base: Mapping[str, Decimal] | None,
    volume_fraction: Decimal,
    min_depth: Decimal,
) -> dict[str, Decimal]:
    """Depth per coin (USD per 1 %): from the snapshot's day volume, explicit values winning."""
    depths = {
        coin: depth_from_day_volume(s.day_notional_volume_usd, volume_fraction=volume_fraction, min_depth=min_depth)
        for coin, s in stats.items()
        if s.day_notional_volume_usd is not None
    }
    depths.update({k: Decimal(v) for k, v in (depth_by_base or {}).items()})
    return depths


def _coin_draft(
    coin: str, tiers: list[tuple[Decimal, Decimal]], delisted: set[str], findings: list[Finding]
) -> MarketDraft | None:
    """One coin's brackets (IMF = 1/lev, MMF = 0.5/lev), or None with the finding saying why not."""
    if coin in delisted:
        findings.append(Finding("delisted", coin, "coin is delisted; not imported"))
        return None
    reason = skip_reason_for_base(coin)
    if reason:
        findings.append(Finding("market_skipped", coin, reason))
        return None
    levs = [lev for _, lev in tiers]
    if any(lev <= 0 for lev in levs):
        findings.append(Finding("market_skipped", coin, "maxLeverage <= 0; market skipped", broken=True))
        return None
    draft = MarketDraft(
        venue_symbol=coin,
        base=coin,
        floors=[lb for lb, _ in tiers],
        imfs=[fraction_of(Decimal(1), lev) for lev in levs],
        mmfs=[fraction_of(MAINTENANCE_SHARE, lev) for lev in levs],
    )
    return draft if check_brackets(draft, findings) else None


#: The tiers CSV rounds fractions to 6 places.
CSV_TOLERANCE = Decimal("0.000001")


def _compare_published(draft: MarketDraft, published: list[tuple[Decimal, Decimal]], findings: list[Finding]) -> None:
    """A ``value_mismatch`` finding per CSV IMF/MMF that differs from the derived one beyond rounding."""
    for k, (imf_mmf, imf, mmf) in enumerate(zip(published, draft.imfs, draft.mmfs, strict=False), start=1):
        for label, venue_value, derived in (
            ("initial_margin_fraction", imf_mmf[0], imf),
            ("maintenance_margin_fraction", imf_mmf[1], mmf),
        ):
            if abs(venue_value - derived) > CSV_TOLERANCE:
                findings.append(
                    Finding(
                        "value_mismatch",
                        draft.venue_symbol,
                        f"CSV {label} {decimal_str(venue_value)} != derived "
                        f"{decimal_str(derived)} from max_leverage; derived value used",
                        tier=k,
                        venue_value=decimal_str(venue_value),
                        derived_value=decimal_str(derived),
                    )
                )


def parse_hyperliquid(
    path: str | Path,
    *,
    snapshot: str | Path | None = None,
    symbols: Iterable[str] | None = None,
    name: str | None = None,
    default_haircut: Decimal = DEFAULT_HAIRCUT,
    haircuts: Mapping[str, Decimal] | None = None,
    liquidation_penalty: Decimal | None = None,
    penalty_mmf_share: Decimal = PENALTY_MMF_SHARE,
    depth_by_base: Mapping[str, Decimal] | None = None,
    depth_volume_fraction: Decimal = DEPTH_VOLUME_FRACTION,
    min_depth_usd_per_1pct: Decimal = MIN_DEPTH_USD_PER_1PCT,
    default_depth_usd_per_1pct: Decimal = DEFAULT_DEPTH_USD_PER_1PCT,
) -> ImportResult:
    """Import Hyperliquid margin tiers (meta JSON or per-coin CSV) as a parameter document.

    Args:
        path: ``hyperliquid_meta_universe_marginTables.json`` or
            ``hyperliquid_margin_tiers_by_coin.csv``.
        snapshot: optional ``hyperliquid_perp_meta_snapshot.csv``; gives depth from day
            notional volume, and delisting for the CSV input.
        symbols: only these markets (riskgov ``BTC-PERP`` or coin ``BTC``); None = all.
        depth_by_base: explicit depth per coin (USD per 1 %), wins over the snapshot.
        Other keywords: defaults of :mod:`.common` (penalty ``MMF_1/2``; depth
            ``max(100,000, 0.5 % of day volume)`` else 1,000,000 USD).

    Returns:
        :class:`ImportResult`. Findings: ``delisted`` per skipped delisted coin,
        ``market_skipped`` per RISK_MODEL §2 violation or non-ASCII coin, ``value_mismatch``
        where the CSV's IMF/MMF columns differ from ``1/lev`` / ``0.5/lev`` by more than
        their 6-decimal rounding, a ``note`` when delisting could not be checked.

    Raises:
        VenueFileError: the file is not a readable meta response / tiers CSV.
        ParameterDocumentError: a keyword default makes the document invalid.
    """
    p = Path(path)
    findings: list[Finding] = []
    published: dict[str, list[tuple[Decimal, Decimal]]] = {}
    stats = read_hyperliquid_snapshot(snapshot) if snapshot is not None else {}
    if p.suffix.lower() == ".csv":
        tiers, published = _tiers_from_csv(p)
        delisted = {coin for coin, s in stats.items() if s.delisted}
        if snapshot is None:
            findings.append(
                Finding(
                    "note",
                    None,
                    "the tiers CSV does not say which coins are delisted and no snapshot= was "
                    "given; delisted coins were not skipped",
                )
            )
    else:
        tiers, delisted = _tiers_from_meta(p)
    depths = _depths(stats, depth_by_base, depth_volume_fraction, min_depth_usd_per_1pct)
    wanted = wanted_symbols(symbols)
    seen: set[str] = set()
    drafts: list[MarketDraft] = []
    for coin in sorted(tiers):
        if not is_requested(coin, coin, wanted, seen):
            continue
        draft = _coin_draft(coin, tiers[coin], delisted, findings)
        if draft is None:
            continue
        _compare_published(draft, published.get(coin, []), findings)
        drafts.append(draft)
    report_not_found(wanted, seen, findings)
    label = file_label(p)
    snap = f"; depth from {file_label(snapshot)} dayNtlVlm" if snapshot is not None else ""
    doc = build_document(
        drafts,
        findings,
        name=name or f"Hyperliquid ({label})",
        source=(
            f"{label}: Hyperliquid margin tables; IMF = 1/maxLeverage, MMF = 0.5/maxLeverage "
            f"(rounded up to {FRACTION_PLACES} places), floors = lowerBound{snap}; penalty, "
            "depth and haircuts are riskgov defaults (riskgov.parameters.venues.common)"
        ),
        default_haircut=default_haircut,
        haircuts=haircuts,
        liquidation_penalty=liquidation_penalty,
        penalty_mmf_share=penalty_mmf_share,
        depth_by_base=depths,
        default_depth_usd_per_1pct=default_depth_usd_per_1pct,
    )
    return ImportResult(doc, findings)
