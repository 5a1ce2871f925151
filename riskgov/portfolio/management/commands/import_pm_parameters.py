"""``python manage.py import_pm_parameters [FILE] [--format deribit] [--underlying BTC …] [--reason TEXT]``.

Reads a venue's published PM parameter set (``--format deribit``: the ``model_params`` of
Deribit's ``private/pme/simulate``, :mod:`riskgov.portfolio.venues.deribit`) and writes one
PM version per underlying: the first, active version of an underlying that has none, else a
draft to put in a proposal (``{"pm": "BTC", …}`` specs are printed). Without ``FILE`` it seeds
the RISK_MODEL §14 defaults (Deribit's BTC set) for ``--underlying`` (default BTC) where none
exist. All or nothing: an invalid set writes nothing and exits 1 with one line (a file over
``RISKGOV_MAX_JSON_BYTES`` or nested deeper than ``RISKGOV_MAX_JSON_DEPTH`` too).
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from riskgov.core.exceptions import DomainError
from riskgov.markets.models import Asset
from riskgov.parameters.models import VersionStatus
from riskgov.portfolio.selectors import pm_version_as_dict
from riskgov.portfolio.services import pm_defaults_seed, pm_version_create
from riskgov.portfolio.venues.deribit import DeribitPMEError, read_deribit_pme


class Command(BaseCommand):
    help = "Import PM parameters per underlying (Deribit pme model_params) or seed the §14 defaults."

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="a Deribit private/pme/simulate response or its model_params")
        parser.add_argument("--format", default="deribit", choices=["deribit"])
        parser.add_argument("--underlying", action="append", default=[], help="only these underlyings (repeat)")
        parser.add_argument("--reason", default="", help="why (kept on the versions)")

    def handle(self, *args, **o):
        wanted = [s.upper() for s in o["underlying"]]
        if not o["file"]:
            self._seed(wanted or ["BTC"])
            return
        try:
            imp = read_deribit_pme(Path(o["file"]))
        except OSError as exc:
            raise CommandError(f"{o['file']}: {exc.strerror}") from None
        except DeribitPMEError as exc:
            raise CommandError(f"{o['file']}: {exc}") from None
        values = {s: v for s, v in imp.values.items() if not wanted or s in wanted}
        if not values:
            raise CommandError(f"{o['file']}: no underlying {', '.join(wanted)} in the file")
        source = f"{imp.source} ({Path(o['file']).name}" + (
            f", timestamp {imp.timestamp_ms})" if imp.timestamp_ms else ")"
        )
        try:
            with transaction.atomic():
                done = [self._one(sym, v, source, o["reason"] or "imported from Deribit") for sym, v in values.items()]
        except DomainError as exc:
            raise CommandError(exc.message) from None
        for note in imp.notes:
            self.stdout.write(f"note: {note}")
        for line in done:
            self.stdout.write(line)

    def _asset(self, sym: str) -> Asset:
        asset = Asset.objects.filter(symbol=sym).first()
        if asset is None:
            raise CommandError(f"{sym}: no such asset (import the venue's parameters or a snapshot first)")
        return asset

    def _one(self, sym: str, values: dict, source: str, reason: str) -> str:
        asset = self._asset(sym)
        first = not asset.pm_versions.filter(status=VersionStatus.ACTIVE).exists()
        status = VersionStatus.ACTIVE if first else VersionStatus.DRAFT
        v = pm_version_create(underlying=asset, values=values, reason=reason, source=source, status=status)
        if first:
            return f"{sym}: PM version {v.number} active (first PM parameters of {sym})"
        d = pm_version_as_dict(v)
        spec = {"pm": sym, **{k: d[k] for k in d if k not in ("underlying", "number", "status", "source")}}
        return f"{sym}: draft PM version {v.number}; propose it with the change spec {json.dumps(spec)}"

    def _seed(self, symbols: list[str]) -> None:
        for sym in symbols:
            v = pm_defaults_seed(underlying=self._asset(sym))
            self.stdout.write(
                f"{sym}: PM version {v.number} active (RISK_MODEL §14 defaults)"
                if v
                else f"{sym}: has PM parameters already, nothing seeded"
            )
