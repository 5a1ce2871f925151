"""Reading a parameter file of any supported format into a validated document.

The glue between the pure venue importers (``parameters.venues``) and the import service:
one function the command line, the API and the demo all call.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from riskgov.parameters.document import ParameterDocumentError, load_document
from riskgov.parameters.venues import parse_binance, parse_dydx, parse_hyperliquid
from riskgov.parameters.venues.common import Finding, ImportResult, VenueFileError, file_label

FORMATS = ("riskgov", "binance", "hyperliquid", "dydx")


def read_parameter_file(
    path: str | Path,
    *,
    fmt: str = "riskgov",
    markets: Iterable[str] | None = None,
    name: str | None = None,
    snapshot: str | Path | None = None,
    skip_broken: bool = False,
) -> ImportResult:
    """Read ``path`` as ``fmt`` and return ``(document, findings)``.

    Args:
        fmt: ``riskgov`` (a ``riskgov.parameters/1`` file), ``binance`` (ccxt leverage tiers
            JSON or flat CSV), ``hyperliquid`` (meta JSON or tiers CSV), ``dydx`` (genesis).
        markets: only these markets (``BTC-PERP`` symbols); ``None`` = all.
        snapshot: Hyperliquid only — the perp meta snapshot, for depth from day volume.
        skip_broken: import the other markets when a venue file has broken markets (each one
            stays a ``market_skipped`` finding). By default a broken market (breaks RISK_MODEL
            §2, no tiers, a non-positive leverage) refuses the whole file. Markets out of
            scope (not a linear perp of the venue, delisted, no riskgov symbol) are always
            skipped with a finding.

    Raises:
        ValueError: unknown format.
        ParameterDocumentError: the document is invalid (lists every error with its place).
        VenueFileError: a venue file cannot be read (names file and place), or it has a
            broken market and ``skip_broken`` is false (names file, market and field).
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
        result = parse_binance(path, symbols=wanted, name=name)
    elif fmt == "hyperliquid":
        result = parse_hyperliquid(path, snapshot=snapshot, symbols=wanted, name=name)
    elif fmt == "dydx":
        result = parse_dydx(path, symbols=wanted, name=name)
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not skip_broken:
        refuse_broken(path, result.findings)
    refuse_empty(path, result)
    return result


def refuse_empty(path: str | Path, result: ImportResult) -> None:
    """Raise :class:`VenueFileError` when a venue file yields no market at all.

    One line: ``FILE: no market to import (N out_of_scope, M delisted, …); nothing imported``
    — an importer that silently stores an empty table hides a format it did not understand.
    """
    if result.document["markets"]:
        return
    kinds = Counter(f.kind for f in result.findings)
    why = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "the file lists no market"
    raise VenueFileError(f"{file_label(path)}: no market to import ({why}); nothing imported")


def refuse_broken(path: str | Path, findings: Iterable[Finding]) -> None:
    """Raise :class:`VenueFileError` naming the file, the first broken market and its field.

    One line: ``FILE: market M tier T: FIELD: problem (and N more broken markets); nothing
    imported (--skip-broken imports the other markets)``.
    """
    broken = [f for f in findings if f.broken]
    if not broken:
        return
    first = broken[0]
    where = f"market {first.market}" + (f" tier {first.tier}" if first.tier is not None else "")
    problem = first.message.removesuffix("; market skipped")
    markets = {f.market for f in broken} - {first.market}
    more = f" (and {len(markets)} more broken market{'s' if len(markets) != 1 else ''})" if markets else ""
    raise VenueFileError(
        f"{file_label(path)}: {where}: {problem}{more}; nothing imported (--skip-broken imports the other markets)"
    )


def findings_text(findings: Iterable[Finding]) -> list[str]:
    """Findings as one line each, for storing with the import and printing."""
    return [str(f) for f in findings]
