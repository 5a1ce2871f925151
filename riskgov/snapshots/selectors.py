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


@dataclass(frozen=True)
class PriceAge:
    """How old a snapshot's prices are, and against what they are judged.

    A **historical** snapshot (a generated one: the generator dates it at the end of its
    price data, ``taken_at`` = the last day of the closes it was priced with) is judged
    against its own date: its prices are as fresh as that date, ``hours`` is 0, and
    ``hours_since_now`` says how far that date lies behind today. A live (imported) snapshot
    is judged against now.
    """

    hours: float
    historical: bool
    taken_at: datetime
    hours_since_now: float

    @property
    def note(self) -> str:
        """One sentence for pages and reports."""
        when = f"{self.taken_at:%Y-%m-%d %H:%M} UTC"
        if self.historical:
            return (
                f"Historical data: the snapshot is dated at the end of its price data ({when}); "
                f"freshness is judged against that date, not today ({self.hours_since_now:,.0f} h ago)."
            )
        return f"Prices and positions are {self.hours:,.1f} hours old (snapshot taken {when})."


def snapshot_price_age(*, snapshot: Snapshot, now: datetime) -> PriceAge:
    """The age of ``snapshot``'s prices as :class:`PriceAge` (historical when generated)."""
    since_now = (now - snapshot.taken_at).total_seconds() / 3600
    historical = bool(snapshot.generated)
    return PriceAge(
        hours=0.0 if historical else since_now,
        historical=historical,
        taken_at=snapshot.taken_at,
        hours_since_now=since_now,
    )
