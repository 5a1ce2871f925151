"""``manage.py replay_history DIR --at TIME [--every 1h --until TIME] [--import] [--output DIR]``.

Rebuilds ``riskgov.snapshot/1`` snapshots from a venue history (FORMATS.md "Venue
history"): one at ``--at``, or one every ``--every`` from ``--at`` to ``--until``. All or
nothing: a bad row fails the command with one line (file, line, column) and leaves no
snapshot written or stored.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from riskgov.core.exceptions import DomainError
from riskgov.snapshots.history.cli import parse_duration, parse_instant
from riskgov.snapshots.history.files import iso
from riskgov.snapshots.history.reading import HistoryError
from riskgov.snapshots.history.services import history_replay_write, history_snapshots_import

#: Most instants one command may ask for (a year of minutes).
MAX_INSTANTS = 525_600


class Command(BaseCommand):
    help = "Rebuild riskgov.snapshot/1 snapshots from a fill + ledger history at given instants."

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument("--at", required=True, help="first (or only) instant, ISO 8601 UTC")
        parser.add_argument("--every", help="grid step (1h, 15m, 1d); needs --until")
        parser.add_argument("--until", help="last instant of the grid (inclusive)")
        parser.add_argument("--import", dest="do_import", action="store_true", help="store the snapshots")
        parser.add_argument("--output", help="directory for the snapshot folders")
        parser.add_argument("--venue", help="venue name written in snapshot.json")

    def handle(self, *args, **o):
        try:
            start = parse_instant(o["at"], "--at")
            if (o["every"] is None) != (o["until"] is None):
                raise ValueError("--every and --until go together")
            if o["every"]:
                step, until = parse_duration(o["every"]), parse_instant(o["until"], "--until")
                if until < start:
                    raise ValueError("--until is before --at")
                if (until - start) // step + 1 > MAX_INSTANTS:
                    raise ValueError(f"more than {MAX_INSTANTS} instants; use a longer --every")
                instants = list(range(start, until + 1, step))
            else:
                instants = [start]
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if not Path(o["directory"]).is_dir():
            raise CommandError(f"{o['directory']}: not a directory")
        if not o["output"] and not o["do_import"]:
            raise CommandError("give --output DIR, --import, or both")
        with tempfile.TemporaryDirectory(prefix="replay-") as scratch:
            output = Path(o["output"]) if o["output"] else Path(scratch) / "snapshots"
            try:
                with tqdm(total=len(instants), unit="snapshot", desc="replaying", disable=None) as bar:
                    paths = history_replay_write(
                        directory=o["directory"],
                        instants=instants,
                        output=output,
                        venue=o["venue"],
                        progress=bar.update,
                    )
            except HistoryError as exc:
                raise CommandError(str(exc)) from None
            if o["do_import"]:
                try:
                    snapshots = history_snapshots_import(paths=paths)
                except DomainError as exc:
                    raise CommandError(exc.message) from None
                for s in snapshots:
                    self.stdout.write(f"snapshot {s.pk}: {s.taken_at:%Y-%m-%dT%H:%M:%SZ}, {s.n_positions} positions")
        where = f" in {output}" if o["output"] else ""
        self.stdout.write(f"{len(paths)} snapshots {iso(instants[0])} → {iso(instants[-1])}{where}")
