"""Read queries on snapshots."""

from __future__ import annotations

from django.db.models import QuerySet

from riskgov.snapshots.models import Snapshot


def snapshots_list(*, generated: bool | None = None) -> QuerySet[Snapshot]:
    """All snapshots, newest ``taken_at`` first (then newest id); optionally only (non-)generated."""
    qs = Snapshot.objects.select_related("created_by").order_by("-taken_at", "-id")
    if generated is not None:
        qs = qs.filter(generated=generated)
    return qs


def latest_snapshot() -> Snapshot | None:
    """The snapshot with the latest ``taken_at`` (the newest import among equals), or ``None``."""
    return snapshots_list().first()
