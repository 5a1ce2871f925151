"""Venue-table importers: Binance, Hyperliquid and dYdX margin tables → ``riskgov.parameters/1``.

Pure Python (no Django). Each ``parse_*`` function reads a real venue file and returns an
:class:`~riskgov.parameters.venues.common.ImportResult` ``(document, findings)``: a valid
parameter document (FORMATS.md; decimal strings, fractions not percent, money in USD) and
the list of :class:`~riskgov.parameters.venues.common.Finding` s (maintenance-amount
mismatches, skipped markets and rows, clamped values). Conventions and defaults are
documented in :mod:`riskgov.parameters.venues.common`.

>>> from riskgov.parameters.venues import parse_binance
>>> doc, findings = parse_binance("data/margin/binance_usdm_leverage_tiers.json")  # doctest: +SKIP
"""

from riskgov.parameters.document import (
    ParameterDocumentError,
    derive_maintenance_amounts,
    dump_document,
    load_document,
    validate_document,
)
from riskgov.parameters.venues.binance import parse_binance
from riskgov.parameters.venues.common import Finding, ImportResult, VenueFileError
from riskgov.parameters.venues.dydx import parse_dydx
from riskgov.parameters.venues.hyperliquid import (
    hyperliquid_day_volume,
    hyperliquid_depth_by_base,
    hyperliquid_open_interest,
    parse_hyperliquid,
    read_hyperliquid_snapshot,
)

#: ``--format`` names of the import command → importer.
IMPORTERS = {
    "binance": parse_binance,
    "hyperliquid": parse_hyperliquid,
    "dydx": parse_dydx,
}

__all__ = [
    "IMPORTERS",
    "Finding",
    "ImportResult",
    "ParameterDocumentError",
    "VenueFileError",
    "derive_maintenance_amounts",
    "dump_document",
    "hyperliquid_day_volume",
    "hyperliquid_depth_by_base",
    "hyperliquid_open_interest",
    "load_document",
    "parse_binance",
    "parse_dydx",
    "parse_hyperliquid",
    "read_hyperliquid_snapshot",
    "validate_document",
]
