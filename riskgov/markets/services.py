"""Write actions on markets data: importing daily closes (all or nothing, bulk)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pandas as pd
from django.db import transaction

from riskgov.core.services import audit_record
from riskgov.markets.models import Asset, DailyClose

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
            unique_fields=["asset", "source", "date"],
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
