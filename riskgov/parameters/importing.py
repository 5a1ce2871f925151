"""Reading a parameter file of any supported format into a validated document.

The glue between the pure venue importers (``parameters.venues``) and the import service:
one function the command line, the API and the demo all call.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from riskgov.parameters.document import ParameterDocumentError, load_document
from riskgov.parameters.venues import parse_binance, parse_dydx, parse_hyperliquid
from riskgov.parameters.venues.common import Finding, ImportResult

FORMATS = ("riskgov", "binance", "hyperliquid", "dydx")


def read_parameter_file(
    path: str | Path,
    *,
    fmt: str = "riskgov",
    markets: Iterable[str] | None = None,
    name: str | None = None,
    snapshot: str | Path | None = None,
) -> ImportResult:
    """Read ``path`` as ``fmt`` and return ``(document, findings)``.

    Args:
        fmt: ``riskgov`` (a ``riskgov.parameters/1`` file), ``binance`` (ccxt leverage tiers
            JSON or flat CSV), ``hyperliquid`` (meta JSON or tiers CSV), ``dydx`` (genesis).
        markets: only these markets (``BTC-PERP`` symbols); ``None`` = all.
        snapshot: Hyperliquid only — the perp meta snapshot, for depth from day volume.

    Raises:
        ValueError: unknown format.
        ParameterDocumentError: the document is invalid (lists every error with its place).
        VenueFileError: a venue file cannot be read (names file and place).
    """
    wanted = list(markets) if markets else None
    if fmt == "riskgov":
        document = load_document(Path(path))
        if name:
            document["name"] = name
        if wanted is not None:
            unknown = set(wanted) - {m["symbol"] for m in document["markets"]}
            if unknown:
                raise ParameterDocumentError([f"markets: {s} is not in the file" for s in sorted(unknown)], str(path))
            document["markets"] = [m for m in document["markets"] if m["symbol"] in set(wanted)]
        return ImportResult(document, [])
    if fmt == "binance":
        return parse_binance(path, symbols=wanted, name=name)
    if fmt == "hyperliquid":
        return parse_hyperliquid(path, snapshot=snapshot, symbols=wanted, name=name)
    if fmt == "dydx":
        return parse_dydx(path, symbols=wanted, name=name)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def findings_text(findings: Iterable[Finding]) -> list[str]:
    """Findings as one line each, for storing with the import and printing."""
    return [str(f) for f in findings]
