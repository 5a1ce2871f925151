"""``manage.py import_snapshot DIR_OR_ZIP`` — validate and store a venue snapshot, print its id.

All or nothing: on bad input it exits non-zero with a one-line reason and stores nothing
(FORMATS.md "Command line"). ``--errors`` prints every validation error found. The same files
imported again (same ``sha256``) are not stored twice: it says so and prints the existing
snapshot's id, unless ``--force``.
"""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from riskgov.core.exceptions import DomainError
from riskgov.snapshots.services import snapshot_import
from riskgov.snapshots.validation import SnapshotInvalid


class Command(BaseCommand):
    help = "Import a riskgov.snapshot/1 folder or .zip (CSV or Parquet); prints the new snapshot's id."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--generated", action="store_true", help="mark as synthetic (generator output)")
        parser.add_argument("--errors", action="store_true", help="on failure, list every error found")
        parser.add_argument(
            "--force", action="store_true", help="store it again even if a snapshot with the same files exists"
        )

    def handle(self, *args, **o):
        try:
            with tqdm(unit="row", unit_scale=True, desc="storing rows", disable=None) as bar:
                snapshot = snapshot_import(
                    path=o["path"], progress=bar.update, generated=o["generated"], force=o["force"]
                )
        except SnapshotInvalid as exc:
            if o["errors"]:
                for e in exc.extra.get("errors", []):
                    row = f" data row {e['row']}" if e["row"] is not None else ""
                    col = f", column {e['column']}" if e["column"] else ""
                    self.stderr.write(f"{e['file']}{row}{col}: {e['message']}")
            raise CommandError(exc.message) from None
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if snapshot.duplicate:
            self.stderr.write(
                f"{o['path']}: already imported as snapshot {snapshot.pk} (same sha256 {snapshot.sha256[:12]}…); "
                "nothing stored (--force stores it again)"
            )
        label = " (generated)" if snapshot.generated else ""
        self.stdout.write(
            f"snapshot {snapshot.pk}: {snapshot.venue!r} at {snapshot.taken_at:%Y-%m-%d %H:%M}Z{label} — "
            f"{snapshot.n_accounts} accounts, {snapshot.n_positions} positions, {snapshot.n_balances} balances"
        )
        self.stdout.write(str(snapshot.pk))
