"""``manage.py import_parameters FILE [--format riskgov|binance|hyperliquid|dydx] [--name NAME]``

Creates draft parameter versions (or the initial active set on an empty database); with
``--reference`` stores a venue's table for comparison only. All or nothing: on any error it
exits non-zero with a one-line reason and nothing is stored (FORMATS.md "Command line").
"""

from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from riskgov.core.exceptions import DomainError
from riskgov.parameters.document import ParameterDocumentError
from riskgov.parameters.importing import FORMATS, findings_text, read_parameter_file
from riskgov.parameters.services import parameters_import_document
from riskgov.parameters.venues.common import VenueFileError


class Command(BaseCommand):
    help = "Import a parameter file (riskgov.parameters/1 or a venue's table)."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--format", dest="fmt", choices=FORMATS, default="riskgov")
        parser.add_argument("--name", default=None)
        parser.add_argument("--markets", default=None, help="comma-separated market symbols, e.g. BTC-PERP,ETH-PERP")
        parser.add_argument("--snapshot", default=None, help="hyperliquid: perp meta snapshot CSV (depth from volume)")
        parser.add_argument(
            "--reference", action="store_true", help="store as a venue reference table, create no versions"
        )
        parser.add_argument("--show-findings", action="store_true", help="print every importer finding")
        parser.add_argument(
            "--skip-broken",
            action="store_true",
            help="venue files: skip markets whose rows are broken (default: refuse the whole file)",
        )

    def handle(self, *args, **o):
        markets = [s.strip() for s in o["markets"].split(",") if s.strip()] if o["markets"] else None
        try:
            document, findings = read_parameter_file(
                o["file"],
                fmt=o["fmt"],
                markets=markets,
                name=o["name"],
                snapshot=o["snapshot"],
                skip_broken=o["skip_broken"],
            )
            summary = parameters_import_document(
                document=document,
                venue=o["fmt"],
                name=o["name"],
                file_name=o["file"],
                findings=findings_text(findings),
                reference=o["reference"],
            )
        except ParameterDocumentError as exc:
            raise CommandError(str(exc)) from None
        except (VenueFileError, FileNotFoundError, ValueError) as exc:
            raise CommandError(f"{o['file']}: {exc}") from None
        except DomainError as exc:
            raise CommandError(exc.message) from None
        kinds = Counter(f.kind for f in findings)
        rec = summary.parameter_import
        if o["reference"]:
            self.stdout.write(f"stored reference table #{rec.pk} {rec.name!r}: {len(document['markets'])} markets")
        else:
            what = "initial active set" if summary.initial else "draft versions"
            self.stdout.write(
                f"import #{rec.pk} {rec.name!r}: {len(summary.market_versions)} market and "
                f"{len(summary.asset_versions)} asset {what}; {len(summary.unchanged)} unchanged"
            )
        if findings:
            self.stdout.write("findings: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
            if o["show_findings"]:
                for line in findings_text(findings):
                    self.stdout.write("  " + line)
