"""Read queries on snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from riskgov.snapshots.models import LiquidationBacktest, Snapshot


def snapshots_list(*, generated: bool | None = None) -> QuerySet[Snapshot]:
    """All snapshots, newest ``taken_at`` first (then newest id); optionally only (non-)generated."""
    qs = Snapshot.objects.select_related("created_by").order_by("-taken_at", "-id")
    if generated is not None:
        qs = qs.filter(generated=generated)
    return qs


def latest_snapshot() -> Snapshot | None:
    """The snapshot with the latest ``taken_at`` (the newest import among equals), or ``None``."""
    return snapshots_list().first()


@dataclass(frozen=True)
class BacktestView:
    """A stored liquidation backtest as the page and the report read it.

    Attributes:
        id, created_at, source, parameters_name, window_minutes, every_minutes: the row's.
        totals: the document's ``totals``.
        liquidations: the document's per-event rows.
        false_alarms: the document's false alarms.
        events: per-event details (series, explanation, ...), ``backtest_details``.
        sensitivity: one row per MMF factor.
    """

    id: int
    created_at: datetime
    source: str
    parameters_name: str
    window_minutes: float
    every_minutes: float
    totals: dict
    liquidations: list
    false_alarms: list
    events: list
    sensitivity: list


def latest_backtest() -> BacktestView | None:
    """The newest stored liquidation backtest, or ``None``."""
    row = LiquidationBacktest.objects.order_by("-created_at", "-id").first()
    if row is None:
        return None
    doc, det = row.document, row.details or {}
    return BacktestView(
        id=row.pk,
        created_at=row.created_at,
        source=row.source,
        parameters_name=row.parameters_name,
        window_minutes=row.window_minutes,
        every_minutes=row.every_minutes,
        totals=doc.get("totals", {}),
        liquidations=doc.get("liquidations", []),
        false_alarms=doc.get("false_alarms", []),
        events=det.get("events", []),
        sensitivity=det.get("sensitivity", []),
    )
