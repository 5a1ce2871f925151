"""Write actions on markets data: importing daily closes and price bars (all or nothing, bulk)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import pandas as pd
from django.db import connection, transaction

from riskgov.core.services import audit_record
from riskgov.markets.models import Asset, DailyClose, PriceBar
from riskgov.markets.price_files import Bar, chunked

BATCH = 5000


@dataclass(frozen=True)
class PriceImportSummary:
    """Rows written per (asset, source) and in total."""

    rows: int
    series: dict[tuple[str, str], int]


@transaction.atomic
def prices_import(*, frame: pd.DataFrame, file_name: str = "", by=None, progress=None) -> PriceImportSummary:
    """Upsert daily closes from a parsed price frame (``markets.price_files`` output).

    ``frame`` has columns ``asset``, ``date`` (``datetime.date``), ``close_str`` (the close
    as published, exact) and ``source``. Re-importing the same file is a no-op; a corrected
    close replaces the old one. Unknown assets are created (not stable). Bulk upserts of
    ``BATCH`` rows; ``progress(n)`` is called after each batch.

    Raises:
        ValueError: a required column is missing.
    """
    missing = {"asset", "date", "close_str", "source"} - set(frame.columns)
    if missing:
        raise ValueError(f"{file_name or 'price frame'}: missing columns {sorted(missing)}")
    assets = {}
    for symbol in sorted(frame["asset"].unique()):
        assets[symbol], _ = Asset.objects.get_or_create(symbol=symbol)
    rows = [
        DailyClose(asset=assets[a], source=s, date=d, close=Decimal(c))
        for a, s, d, c in zip(frame["asset"], frame["source"], frame["date"], frame["close_str"], strict=False)
    ]
    for start in range(0, len(rows), BATCH):
        DailyClose.objects.bulk_create(
            rows[start : start + BATCH],
            update_conflicts=True,
            unique_fields=["asset", "source", "resolution", "timestamp"],
            update_fields=["close"],
        )
        if progress:
            progress(min(BATCH, len(rows) - start))
    series = {(str(k[0]), str(k[1])): int(v) for k, v in frame.groupby(["asset", "source"]).size().items()}
    audit_record(
        actor=by,
        action="markets.prices.import",
        object_type="markets.dailyclose",
        object_id=file_name[:64],
        object_repr=f"daily closes from {file_name}"[:200],
        after={"rows": len(rows), "series": {f"{a}/{s}": n for (a, s), n in series.items()}},
    )
    return PriceImportSummary(rows=len(rows), series=series)


@dataclass(frozen=True)
class BarImportSummary:
    """Bars written per (asset, source, resolution) and in total, with each series' span.

    Attributes:
        rows: bars written (inserted or updated).
        series: ``(asset, source, resolution) → rows``.
        spans: ``(asset, source, resolution) → (first, last)`` bar open times (UTC).
    """

    rows: int
    series: dict[tuple[str, str, str], int]
    spans: dict[tuple[str, str, str], tuple[dt.datetime, dt.datetime]]


def _bars_upsert(values: list[tuple[int, str, str, dt.datetime, str]]) -> None:
    """Upsert ``(asset_id, source, resolution, timestamp, close)`` rows in one ``executemany``
    (``INSERT … ON CONFLICT (asset, source, resolution, timestamp) DO UPDATE SET close``), on
    PostgreSQL and SQLite alike. The ORM's ``bulk_create(update_conflicts=True)`` builds a
    model instance and prepares every value per row — about 40× slower for the demo's
    half-million hourly bars; the values are adapted here by the backend's own operations,
    so what is stored is what the ORM would store (exact decimals, UTC timestamps)."""
    if not values:
        return
    meta = PriceBar._meta
    close_field = meta.get_field("close")
    ops = connection.ops
    table = connection.ops.quote_name(meta.db_table)
    cols = ["asset_id", "source", "resolution", "timestamp", "date", "close"]
    q = connection.ops.quote_name
    sql = (
        f"INSERT INTO {table} ({', '.join(q(c) for c in cols)}) VALUES ({', '.join(['%s'] * len(cols))}) "
        f"ON CONFLICT ({', '.join(q(c) for c in cols[:4])}) DO UPDATE SET {q('close')} = excluded.{q('close')}"
    )
    params = [
        (
            asset_id,
            source,
            resolution,
            ops.adapt_datetimefield_value(ts),
            ops.adapt_datefield_value(ts.astimezone(dt.UTC).date()),
            ops.adapt_decimalfield_value(Decimal(close), close_field.max_digits, close_field.decimal_places),
        )
        for asset_id, source, resolution, ts, close in values
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


@transaction.atomic
def price_bars_import(
    *, bars: Iterable[Bar], file_name: str = "", by=None, progress=None, batch: int = BATCH
) -> BarImportSummary:
    """Upsert price bars at their own resolution (``markets.price_files.iter_price_bars``).

    Streams: ``bars`` is consumed ``batch`` at a time, so memory stays bounded whatever the
    file's length. All or nothing: a :class:`~riskgov.markets.price_files.PriceFileError`
    raised while iterating rolls back every bar already written by this call (and the
    caller's transaction, if any). Re-importing is a no-op; a corrected close replaces the
    old one. Unknown assets are created (not stable). ``progress(n)`` after each batch.
    """
    assets: dict[str, Asset] = {}
    series: dict[tuple[str, str, str], int] = {}
    spans: dict[tuple[str, str, str], tuple[dt.datetime, dt.datetime]] = {}
    rows = 0
    for chunk in chunked(bars, batch):
        values = []
        for b in chunk:
            if b.asset not in assets:
                assets[b.asset], _ = Asset.objects.get_or_create(symbol=b.asset)
            key = (b.asset, b.source, b.resolution)
            series[key] = series.get(key, 0) + 1
            first, last = spans.get(key, (b.timestamp, b.timestamp))
            spans[key] = (min(first, b.timestamp), max(last, b.timestamp))
            values.append((assets[b.asset].pk, b.source, b.resolution, b.timestamp, b.close_str))
        _bars_upsert(values)
        rows += len(values)
        if progress:
            progress(len(values))
    audit_record(
        actor=by,
        action="markets.prices.import",
        object_type="markets.pricebar",
        object_id=file_name[:64],
        object_repr=f"price bars from {file_name}"[:200],
        after={
            "rows": rows,
            "series": {
                f"{a}/{s}/{r}": {
                    "rows": n,
                    "first": spans[a, s, r][0].isoformat(),
                    "last": spans[a, s, r][1].isoformat(),
                }
                for (a, s, r), n in series.items()
            },
        },
    )
    return BarImportSummary(rows=rows, series=series, spans=spans)
