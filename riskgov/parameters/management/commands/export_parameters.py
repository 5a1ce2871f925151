"""``manage.py export_parameters [--market ...] OUT.json``: the active set as riskgov.parameters/1."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from riskgov.parameters.document import dump_document
from riskgov.parameters.selectors import active_parameters_document


class Command(BaseCommand):
    help = "Export the active parameters (optionally some markets) as riskgov.parameters/1 JSON."

    def add_arguments(self, parser):
        parser.add_argument("out")
        parser.add_argument("--market", action="append", default=[], help="market symbol; repeatable")

    def handle(self, *args, **o):
        document = active_parameters_document(markets=o["market"] or None)
        missing = set(o["market"]) - {m["symbol"] for m in document["markets"]}
        if missing:
            raise CommandError(f"no active version for {', '.join(sorted(missing))}")
        if not document["markets"]:
            raise CommandError("no active parameters to export")
        Path(o["out"]).write_text(dump_document(document))
        self.stdout.write(f"wrote {len(document['markets'])} markets to {o['out']}")
