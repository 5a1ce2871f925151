"""The same snapshot imported twice (issue #14 item 8): said so, the existing one returned."""

from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.db import connection

from riskgov.snapshots.models import Snapshot, SnapshotAccount
from riskgov.snapshots.services import snapshot_import
from tests.snapshots.conftest import write_snapshot


@pytest.mark.django_db
def test_second_import_returns_the_existing_snapshot(snap_dir, tmp_path):
    first = snapshot_import(path=snap_dir)
    assert first.duplicate is False
    copy = write_snapshot(tmp_path / "copy")  # same files elsewhere: same sha256
    again = snapshot_import(path=copy)
    assert again.duplicate is True and again.pk == first.pk
    assert Snapshot.objects.count() == 1 and SnapshotAccount.objects.count() == 3
    forced = snapshot_import(path=copy, force=True)
    assert forced.duplicate is False and forced.pk != first.pk and forced.sha256 == first.sha256
    assert Snapshot.objects.count() == 2


@pytest.mark.django_db
def test_command_says_so_and_prints_the_existing_id(snap_dir, capsys):
    call_command("import_snapshot", str(snap_dir))
    pk = Snapshot.objects.get().pk
    capsys.readouterr()
    call_command("import_snapshot", str(snap_dir))
    out, err = capsys.readouterr()
    assert f"already imported as snapshot {pk}" in err and "--force" in err
    assert out.strip().splitlines()[-1] == str(pk)
    assert Snapshot.objects.count() == 1
    call_command("import_snapshot", str(snap_dir), "--force")
    assert Snapshot.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_imports_store_one(tmp_path, small_params):
    if connection.vendor != "postgresql":
        pytest.skip("the advisory lock is PostgreSQL's")
    path = write_snapshot(tmp_path / "snap")
    results, errors = [], []
    barrier = threading.Barrier(3)

    def run():
        try:
            barrier.wait()
            results.append(snapshot_import(path=path))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert Snapshot.objects.count() == 1
    assert sorted(r.duplicate for r in results) == [False, True, True]
    assert len({r.pk for r in results}) == 1
