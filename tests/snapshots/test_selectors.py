"""Snapshot selectors: the list is newest ``taken_at`` first (newest import among equals),
optionally only generated or only imported snapshots; the latest snapshot, or ``None``."""

import datetime as dt

import pytest

from riskgov.snapshots import selectors
from riskgov.snapshots.models import Snapshot
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _snapshot(hours: int, *, generated: bool = False, **fields) -> Snapshot:
    return Snapshot.objects.create(
        venue="T",
        taken_at=T0 + dt.timedelta(hours=hours),
        insurance_fund_usd=1000,
        sha256=f"{hours:064d}",
        generated=generated,
        **fields,
    )


def test_snapshots_newest_taken_at_first_then_newest_import():
    old = _snapshot(0)
    tie_first = _snapshot(5)
    newest = _snapshot(9)
    tie_second = _snapshot(5)  # same taken_at, imported later: before the earlier import
    assert list(selectors.snapshots_list()) == [newest, tie_second, tie_first, old]


def test_snapshots_filter_generated_or_imported():
    imported = _snapshot(1)
    demo = _snapshot(2, generated=True)
    demo_old = _snapshot(0, generated=True)
    assert list(selectors.snapshots_list(generated=True)) == [demo, demo_old]
    assert list(selectors.snapshots_list(generated=False)) == [imported]
    assert list(selectors.snapshots_list(generated=None)) == [demo, imported, demo_old]


def test_snapshots_load_their_creator_with_the_list(django_assert_num_queries):
    user = UserFactory(username="importer")
    _snapshot(0, created_by=user)
    _snapshot(1)
    with django_assert_num_queries(1):
        names = [s.created_by.username if s.created_by else None for s in selectors.snapshots_list()]
    assert names == [None, "importer"]


def test_latest_snapshot_is_none_without_snapshots():
    assert selectors.latest_snapshot() is None
    assert list(selectors.snapshots_list()) == []


def test_latest_snapshot_is_the_latest_taken_at_not_the_latest_import():
    latest = _snapshot(10)
    _snapshot(3)  # imported after, but taken before
    assert selectors.latest_snapshot() == latest
    tie = _snapshot(10)  # same taken_at: the newest import wins
    assert selectors.latest_snapshot() == tie
    generated = _snapshot(11, generated=True)  # the generated flag does not hide a snapshot
    assert selectors.latest_snapshot() == generated
