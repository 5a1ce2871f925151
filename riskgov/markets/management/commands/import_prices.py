"""``manage.py import_prices FILE [FILE ...]``: daily closes from the supported price files.

All or nothing per run; progress bar on a terminal; re-importing is a no-op.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from riskgov.markets.price_files import PriceFileError, read_price_file
from riskgov.markets.services import prices_import


class Command(BaseCommand):
    help = "Import daily closes (Yahoo, Binance klines/4h, CryptoDataDownload hourly, Coin Metrics)."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+")

    def handle(self, *args, **o):
        try:
            frames = [(f, read_price_file(f)) for f in o["files"]]
        except (PriceFileError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from None
        total = sum(len(fr) for _, fr in frames)
        with transaction.atomic(), tqdm(total=total, unit="row", disable=None, desc="daily closes") as bar:
            for name, frame in frames:
                summary = prices_import(frame=frame, file_name=str(name), progress=bar.update)
                series = ", ".join(f"{a}/{s} {n}" for (a, s), n in sorted(summary.series.items()))
                tqdm.write(f"{name}: {summary.rows} rows ({series})", file=self.stdout)
