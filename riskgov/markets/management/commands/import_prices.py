"""``manage.py import_prices FILE [FILE ...] [--asset A] [--resolution R]``: price history.

Every series is stored at its own resolution, never resampled (FORMATS ``riskgov.prices/1``):
``riskgov.prices/1`` files (plain or ``.csv.gz``) at the resolution their name or
``--resolution`` gives, Binance 4 h bars as ``4h``, CryptoDataDownload hourly as ``1h``, Yahoo,
Binance daily klines and Coin Metrics as ``1d``. Files are streamed in batches (bounded
memory). All or nothing per run: the first bad row stops it with one line naming the file,
row and column, and nothing is stored. Progress bar on a terminal; re-importing is a no-op.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from riskgov.markets.price_files import RESOLUTION_MINUTES, PriceFileError, iter_price_bars
from riskgov.markets.services import price_bars_import


class Command(BaseCommand):
    help = "Import price history at its own resolution (riskgov.prices/1, Yahoo, Binance, CryptoDataDownload, Coin Metrics)."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+")
        parser.add_argument("--asset", default=None, help="base asset, when the file name does not say it")
        parser.add_argument(
            "--resolution", default=None, choices=list(RESOLUTION_MINUTES), help="when the file name does not say it"
        )

    def handle(self, *args, **o):
        try:
            with transaction.atomic(), tqdm(unit="bar", disable=None, desc="price bars") as bar:
                for name in o["files"]:
                    summary = price_bars_import(
                        bars=iter_price_bars(name, asset=o["asset"], resolution=o["resolution"]),
                        file_name=str(name),
                        progress=bar.update,
                    )
                    series = ", ".join(f"{a}/{s}/{r} {n}" for (a, s, r), n in sorted(summary.series.items()))
                    tqdm.write(f"{name}: {summary.rows} bars ({series})", file=self.stdout)
        except PriceFileError as exc:
            raise CommandError(f"{exc} (nothing imported)") from None
        except OSError as exc:
            raise CommandError(f"{exc.filename or ''}: {exc.strerror or exc} (nothing imported)") from None
