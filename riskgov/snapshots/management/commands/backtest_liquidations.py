"""``manage.py backtest_liquidations DIR --parameters FILE.json [--output-json OUT] [--window 60]
[--since TIME]`` — the margin model against the venue's real liquidations.

Writes ``riskgov.liquidation_backtest/1`` (FORMATS.md "Venue history"), prints the totals
and the MMF sensitivity (0.5×–2×), and stores the result for the model validation page
and the health report (``--no-store`` to skip). ``--format hyperliquid`` reads a
Hyperliquid margin table with the Hyperliquid importer instead of a parameter document.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from riskgov.core.exceptions import DomainError
from riskgov.parameters.document import ParameterDocumentError
from riskgov.parameters.importing import FORMATS, read_parameter_file
from riskgov.parameters.venues.common import VenueFileError
from riskgov.presentation.formats import share
from riskgov.snapshots.history.cli import parse_duration, parse_instant
from riskgov.snapshots.history.reading import HistoryError
from riskgov.snapshots.history.services import backtest_run


class Command(BaseCommand):
    help = "Compare the margin model with a venue history's real liquidations (riskgov.liquidation_backtest/1)."

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument("--parameters", required=True, help="riskgov.parameters/1 JSON (or see --format)")
        parser.add_argument("--format", default="riskgov", choices=FORMATS, help="format of --parameters")
        parser.add_argument("--output-json", help="write the backtest document here")
        parser.add_argument("--window", type=float, default=60.0, help="minutes an alarm has to be confirmed")
        parser.add_argument("--since", help="score only events at or after this ISO 8601 time")
        parser.add_argument("--every", default="1h", help="replay grid step (default 1h)")
        parser.add_argument("--no-store", action="store_true", help="do not store the result")

    def handle(self, *args, **o):
        try:
            since = parse_instant(o["since"], "--since") if o["since"] else None
            every = parse_duration(o["every"])
            if o["window"] < 0:
                raise ValueError("--window must be >= 0")
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if not Path(o["directory"]).is_dir():
            raise CommandError(f"{o['directory']}: not a directory")
        try:
            document, _ = read_parameter_file(o["parameters"], fmt=o["format"])
        except (ParameterDocumentError, VenueFileError, OSError) as exc:
            raise CommandError(f"{o['parameters']}: {str(exc).splitlines()[0]}") from None
        try:
            doc, details, row = backtest_run(
                directory=o["directory"],
                document=document,
                every=every,
                window_minutes=o["window"],
                since=since,
                store=not o["no_store"],
            )
        except HistoryError as exc:
            raise CommandError(str(exc)) from None
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if o["output_json"]:
            Path(o["output_json"]).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        t = doc["totals"]
        self.stdout.write(
            f"{t['events']} liquidations, {t['detected']} detected (recall {share(t['recall'])}), "
            f"{t['false_alarms']} false alarms (precision {share(t['precision'])}), "
            f"median lead {t['median_lead_minutes']} min, median equity error {t['median_equity_error']} USD"
        )
        self.stdout.write("MMF × | detected | recall | false alarms | reported value < model MM")
        for r in details["sensitivity"]:
            self.stdout.write(
                f"{r['mmf_factor']:>5} | {r['detected']:>8} | {share(r['recall']):>6} | "
                f"{r['false_alarms']:>12} | {r['reported_value_below_mm']}/{r['events']}"
            )
        if row is not None:
            self.stdout.write(f"stored as backtest {row.pk}")
