"""The ``riskgov.parameters/1`` document: strict validation, exact maintenance amounts, JSON I/O.

Pure Python (standard library only, no Django), so importers, the command line and the
Django services share one definition of a valid parameter set (FORMATS.md "Parameter set",
RISK_MODEL §2 brackets, §3 open-interest caps, §4 haircuts, §8 liquidation penalty).

Units: notional floors, depth, caps and max position notional are USD; every fraction
(initial/maintenance margin fraction, haircut, penalty) is a plain fraction (0.05 = 5 %),
never percent; the liquidation horizon is in minutes. In the JSON every such number is a *decimal string* in plain notation
(``"0.004"``, ``"300000"``), never a JSON number and never exponent notation, so values
round-trip exactly through :class:`decimal.Decimal` and PostgreSQL ``NUMERIC``.

Public API:

- :func:`validate_document` — every rule violation as a human-readable message naming the
  market/asset symbol, the 1-based bracket index and the field. The format checks (keys,
  types, decimal strings, symbols) are here; the value rules are asked of the one exact
  validator, :mod:`riskgov.parameters.validation`.
- :func:`bracket_errors` — the RISK_MODEL §2 rules for one bracket table as
  ``(bracket, field, message)`` tuples (kept for the venue importers; built on
  :func:`~riskgov.parameters.validation.bracket_table_errors`).
- :func:`derive_maintenance_amounts` — ``C_k`` exactly in Decimal (RISK_MODEL §2),
  re-exported from :mod:`riskgov.parameters.validation`.
- :func:`dump_document` / :func:`load_document` — stable JSON out, parse-and-validate in;
  loading raises :class:`ParameterDocumentError` with the full list of errors.
- :func:`decimal_str` / :func:`parse_decimal_str` — the decimal-string convention.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from riskgov.core import limits as input_limits
from riskgov.parameters.validation import (
    ParameterError,
    asset_errors,
    bracket_table_errors,
    decimal_str,
    derive_maintenance_amounts,
    market_errors,
)

FORMAT = "riskgov.parameters/1"

#: Plain decimal notation accepted for decimal strings: optional minus, digits, optional
#: fraction. No exponent, no NaN/Infinity, no leading "+", no surrounding spaces.
DECIMAL_RE = re.compile(r"-?\d+(\.\d+)?")
#: Asset symbols: ASCII letters/digits (case kept, e.g. Hyperliquid ``kPEPE``), then letters,
#: digits, "." or "_"; at most 32 characters.
ASSET_SYMBOL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._]{0,31}")
#: Market symbols: like assets but "-" is allowed too (``BTC-PERP``); at most 40 characters.
MARKET_SYMBOL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")

TOP_REQUIRED = ("format", "name", "assets", "markets")
TOP_OPTIONAL = ("source", "description")
ASSET_REQUIRED = ("symbol", "haircut")
ASSET_OPTIONAL = ("stable",)
MARKET_REQUIRED = (
    "symbol",
    "base_asset",
    "liquidation_penalty",
    "depth_usd_per_1pct",
    "brackets",
)
#: Optional market keys and the value they stand for when absent.
MARKET_OPTIONAL = {
    "oi_cap_lower_usd": "0",
    "oi_cap_upper_usd": "0",
    "max_position_notional_usd": None,
    "liquidation_horizon_minutes": "5",
}
BRACKET_REQUIRED = (
    "notional_floor",
    "initial_margin_fraction",
    "maintenance_margin_fraction",
)

__all__ = [
    "ASSET_SYMBOL_RE",
    "DECIMAL_RE",
    "FORMAT",
    "MARKET_SYMBOL_RE",
    "ParameterDocumentError",
    "ParameterError",
    "bracket_errors",
    "decimal_str",
    "derive_maintenance_amounts",
    "dump_document",
    "load_document",
    "parse_decimal_str",
    "validate_document",
]


class ParameterDocumentError(ValueError):
    """A parameter document failed to parse or validate.

    Attributes:
        errors: every problem found, one message each (see :func:`validate_document`).
        filename: the file the document came from, or ``"<text>"``.
    """

    def __init__(self, errors: Sequence[str], filename: str = "<text>") -> None:
        self.errors = list(errors)
        self.filename = filename
        shown = "; ".join(self.errors[:5])
        more = f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        n = len(self.errors)
        super().__init__(f"{filename}: {n} error{'s' if n != 1 else ''}: {shown}{more}")


def parse_decimal_str(text: str) -> Decimal:
    """Parse a decimal string in plain notation (see :data:`DECIMAL_RE`).

    Raises:
        ValueError: ``text`` is not a string in plain decimal notation.
    """
    if not isinstance(text, str) or not DECIMAL_RE.fullmatch(text):
        raise ValueError(f"not a plain decimal string: {text!r}")
    return Decimal(text)


def bracket_errors(
    floors: Sequence[Decimal], imfs: Sequence[Decimal], mmfs: Sequence[Decimal]
) -> list[tuple[int, str, str]]:
    """The RISK_MODEL §2 rules one bracket table breaks, as tuples.

    Rules: at least one bracket; ``F_1 = 0``; floors strictly increasing;
    ``0 < MMF_k < IMF_k ≤ 1``; ``IMF_k`` and ``MMF_k`` non-decreasing in ``k``
    (:func:`riskgov.parameters.validation.bracket_table_errors`, which also names the rule).

    Args:
        floors: notional floors (USD); imfs, mmfs: fractions; all the same length.

    Returns:
        ``(bracket_index_1_based, field, message)`` per broken rule (``0`` and ``"brackets"``
        for an empty table); empty when the table is valid.

    Raises:
        ValueError: the three sequences differ in length.
    """
    return [(e.bracket or 0, e.field, e.message) for e in bracket_table_errors(floors, imfs, mmfs)]


class _Checker:
    """Collects error messages while walking one document."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def err(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def keys(self, where: str, obj: Mapping[str, Any], required: Iterable[str], optional: Iterable[str]) -> bool:
        """Check required/unknown keys; False when a required key is missing."""
        ok = True
        for key in required:
            if key not in obj:
                self.err(f"{where}.{key}", "is required")
                ok = False
        allowed = set(required) | set(optional)
        for key in obj:
            if key not in allowed:
                self.err(f"{where}.{key}", "is not a known field")
        return ok

    def dec(self, where: str, value: Any) -> Decimal | None:
        """Check a decimal string; return it parsed, or None on error (ranges are the
        validator's business, see :meth:`rules`)."""
        if not isinstance(value, str):
            kind = "null" if value is None else type(value).__name__
            if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
                kind = f"number {value}"
            self.err(where, f"must be a decimal string, got {kind}")
            return None
        try:
            return parse_decimal_str(value)
        except ValueError:
            self.err(where, f"{value!r} is not a plain decimal string")
            return None

    def rules(self, errors: Iterable[ParameterError]) -> None:
        """Record the one validator's errors under their document path."""
        self.errors.extend(e.text for e in errors)

    def symbol(self, where: str, value: Any, pattern: re.Pattern[str]) -> bool:
        if not isinstance(value, str):
            self.err(where, f"must be a string, got {type(value).__name__}")
            return False
        if not pattern.fullmatch(value):
            self.err(where, f"{value!r} does not match {pattern.pattern}")
            return False
        return True


def _label(items: Any, i: int, item: Any) -> str:
    sym = item.get("symbol") if isinstance(item, Mapping) else None
    return f"{items}[{sym}]" if isinstance(sym, str) and sym else f"{items}[#{i + 1}]"


def validate_document(doc: Any) -> list[str]:
    """Every way ``doc`` breaks the ``riskgov.parameters/1`` format (FORMATS.md).

    Checks: ``format`` string; required keys present and no unknown keys (top level:
    ``format, name, assets, markets`` required, ``source, description`` optional; assets:
    ``symbol, haircut`` required, ``stable`` optional bool; markets: ``symbol, base_asset,
    liquidation_penalty, depth_usd_per_1pct, brackets`` required, ``oi_cap_lower_usd,
    oi_cap_upper_usd`` optional (default ``"0"``), ``max_position_notional_usd`` optional
    (decimal string or null), ``liquidation_horizon_minutes`` optional (default ``"5"``, so
    documents written before it existed stay valid)); types; decimal strings in plain notation; symbols match
    :data:`ASSET_SYMBOL_RE` / :data:`MARKET_SYMBOL_RE` and are unique; every market's
    ``base_asset`` is an asset; haircut in ``[0, 1)`` (§4); brackets valid per
    :func:`bracket_errors` (§2); ``0 ≤ liquidation_penalty ≤ MMF_1`` (§8);
    ``depth_usd_per_1pct > 0`` (§8); ``0 ≤ oi_cap_lower_usd < oi_cap_upper_usd`` unless
    ``oi_cap_upper_usd`` is 0 (disabled, §3); ``max_position_notional_usd`` null or greater
    than the last notional floor (§2); ``0 < liquidation_horizon_minutes ≤ 1440`` (§12).

    Args:
        doc: the parsed document (a dict; decimal fields as strings).

    Returns:
        One message per problem, e.g. ``markets[BTC-PERP].brackets[2].maintenance_margin_fraction:
        0.03 is not < initial_margin_fraction 0.025 (RISK_MODEL §2)``; empty when valid.
        Never raises for bad input.
    """
    c = _Checker()
    if not isinstance(doc, Mapping):
        return [f"document: must be a JSON object, got {type(doc).__name__}"]
    c.keys("document", doc, TOP_REQUIRED, TOP_OPTIONAL)
    if "format" in doc and doc["format"] != FORMAT:
        c.err("format", f"{doc['format']!r} is not {FORMAT!r}")
    if "name" in doc and (not isinstance(doc["name"], str) or not doc["name"].strip()):
        c.err("name", "must be a non-empty string")
    for key in TOP_OPTIONAL:
        if key in doc and not isinstance(doc[key], str):
            c.err(key, f"must be a string, got {type(doc[key]).__name__}")

    asset_symbols: set[str] = set()
    assets = doc.get("assets", [])
    if not isinstance(assets, list):
        c.err("assets", f"must be a list, got {type(assets).__name__}")
        assets = []
    for i, asset in enumerate(assets):
        where = _label("assets", i, asset)
        if not isinstance(asset, Mapping):
            c.err(where, f"must be an object, got {type(asset).__name__}")
            continue
        c.keys(where, asset, ASSET_REQUIRED, ASSET_OPTIONAL)
        sym = asset.get("symbol")
        if "symbol" in asset and c.symbol(f"{where}.symbol", sym, ASSET_SYMBOL_RE):
            if sym in asset_symbols:
                c.err(f"{where}.symbol", f"duplicate asset symbol {sym!r}")
            asset_symbols.add(sym)
        if "haircut" in asset:
            haircut = c.dec(f"{where}.haircut", asset["haircut"])
            if haircut is not None:
                c.rules(asset_errors(subject=where[len("assets[") : -1], haircut=haircut))
        if "stable" in asset and not isinstance(asset["stable"], bool):
            c.err(f"{where}.stable", f"must be true or false, got {asset['stable']!r}")

    market_symbols: set[str] = set()
    markets = doc.get("markets", [])
    if not isinstance(markets, list):
        c.err("markets", f"must be a list, got {type(markets).__name__}")
        markets = []
    for i, market in enumerate(markets):
        where = _label("markets", i, market)
        if not isinstance(market, Mapping):
            c.err(where, f"must be an object, got {type(market).__name__}")
            continue
        _validate_market(c, where, market, asset_symbols, market_symbols)
    return c.errors


def _validate_market(
    c: _Checker,
    where: str,
    market: Mapping[str, Any],
    asset_symbols: set[str],
    market_symbols: set[str],
) -> None:
    c.keys(where, market, MARKET_REQUIRED, MARKET_OPTIONAL)
    sym = market.get("symbol")
    if "symbol" in market and c.symbol(f"{where}.symbol", sym, MARKET_SYMBOL_RE):
        if sym in market_symbols:
            c.err(f"{where}.symbol", f"duplicate market symbol {sym!r}")
        market_symbols.add(sym)
    base = market.get("base_asset")
    if "base_asset" in market and c.symbol(f"{where}.base_asset", base, ASSET_SYMBOL_RE):
        if base not in asset_symbols:
            c.err(f"{where}.base_asset", f"{base!r} is not in assets")

    rows = _brackets(c, where, market)
    values = {}
    for key in ("liquidation_penalty", "depth_usd_per_1pct"):
        values[key] = c.dec(f"{where}.{key}", market[key]) if key in market else None
    for key in ("oi_cap_lower_usd", "oi_cap_upper_usd", "liquidation_horizon_minutes"):
        values[key] = c.dec(f"{where}.{key}", market.get(key, MARKET_OPTIONAL[key]))
    cap = market.get("max_position_notional_usd")
    cap_d = None if cap is None else c.dec(f"{where}.max_position_notional_usd", cap)
    c.rules(
        market_errors(
            subject=where[len("markets[") : -1],
            max_position_notional_usd=cap_d,
            brackets=rows,
            **values,
        )
    )


def _brackets(c: _Checker, where: str, market: Mapping[str, Any]) -> list[tuple[Decimal, Decimal, Decimal]] | None:
    """The market's bracket rows parsed, or None when the list is missing or any row is unreadable
    (each problem recorded)."""
    brackets = market.get("brackets")
    if "brackets" not in market:
        return None
    if not isinstance(brackets, list):
        c.err(f"{where}.brackets", f"must be a list, got {type(brackets).__name__}")
        return None
    rows: list[tuple[Decimal, Decimal, Decimal]] = []
    ok = True
    for k, bracket in enumerate(brackets):
        bw = f"{where}.brackets[{k + 1}]"
        if not isinstance(bracket, Mapping):
            c.err(bw, f"must be an object, got {type(bracket).__name__}")
            ok = False
            continue
        c.keys(bw, bracket, BRACKET_REQUIRED, ())
        values = [c.dec(f"{bw}.{key}", bracket[key]) if key in bracket else None for key in BRACKET_REQUIRED]
        if any(v is None for v in values):
            ok = False
            continue
        rows.append((values[0], values[1], values[2]))  # type: ignore[arg-type]
    return rows if ok else None


def _plain(value: Any) -> Any:
    """Decimals to decimal strings, recursively (so a document holding Decimals dumps exactly)."""
    if isinstance(value, Decimal):
        return decimal_str(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def dump_document(doc: Mapping[str, Any]) -> str:
    """Serialize a parameter document as stable JSON text.

    Markets and assets are sorted by symbol, keys keep their documented order, 2-space
    indent, non-ASCII kept as is, one trailing newline. Decimal values are written as decimal
    strings. The document is not validated here (see :func:`validate_document`).
    """
    out = _plain(dict(doc))
    for key in ("assets", "markets"):
        if isinstance(out.get(key), list):
            out[key] = sorted(out[key], key=lambda item: str(item.get("symbol", "")))
    return json.dumps(out, indent=2, ensure_ascii=False) + "\n"


def load_document(path_or_text: str | Path) -> dict[str, Any]:
    """Read and strictly validate a ``riskgov.parameters/1`` document.

    Args:
        path_or_text: a file path (``Path``, or a ``str`` not starting with ``{``) or the JSON
            text itself. JSON numbers are parsed as :class:`~decimal.Decimal` (so a number
            where a decimal string belongs is reported, not silently rounded).

    Returns:
        The document as a dict (decimal fields stay strings, as in the file).

    Raises:
        ParameterDocumentError: unreadable file, invalid JSON, or any
            :func:`validate_document` error; ``.errors`` lists them and ``.filename`` names
            the file (``"<text>"`` for text).
    """
    if isinstance(path_or_text, Path) or not str(path_or_text).lstrip().startswith("{"):
        filename = str(path_or_text)
        source: Path | bytes = Path(path_or_text)
    else:
        filename, source = "<text>", str(path_or_text).encode("utf-8")
    try:
        doc = input_limits.load_json(source, label=Path(filename).name, parse_float=Decimal)
    except input_limits.InputTooLarge as exc:
        raise ParameterDocumentError([str(exc)], filename) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterDocumentError([f"cannot read file: {exc}"], filename) from None
    except json.JSONDecodeError as exc:
        raise ParameterDocumentError(
            [f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"], filename
        ) from exc
    errors = validate_document(doc)
    if errors:
        raise ParameterDocumentError(errors, filename)
    return doc
