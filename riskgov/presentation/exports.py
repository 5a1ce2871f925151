"""CSV exports of the data behind charts and tables: raw stored values (never the display
strings), one header row, ``None`` as an empty field, ``inf`` as ``inf``.

Every CSV the product writes for people (chart data, bracket curves, both audit exports)
goes through :func:`csv_safe_cell` / :func:`csv_writer`: a text cell that a spreadsheet
would read as a formula (first character ``= + - @``, tab or carriage return) is prefixed
with ``'`` (OWASP "CSV injection"). Plain numbers — ``-0.5``, ``1e-9`` — are left as they are.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Protocol

from riskgov.presentation.figures.brackets import Curve

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?inf")


def csv_safe_cell(value: Any) -> Any:
    """One CSV cell made inert for spreadsheets (``None`` → ``""``; numbers unchanged)."""
    if value is None:
        return ""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return value
    text = str(value)
    if text.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


class _Writer(Protocol):
    def write(self, value: str, /) -> Any: ...


class SafeCsvWriter:
    """``csv.writer`` whose rows go through :func:`csv_safe_cell` (returns what ``write`` returns)."""

    def __init__(self, fh: _Writer, **kwargs: Any) -> None:
        self._w = csv.writer(fh, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._w.writerow([csv_safe_cell(v) for v in row])


def csv_writer(fh: _Writer, **kwargs: Any) -> SafeCsvWriter:
    """The one CSV writer of the product's exports (formula cells neutralised)."""
    return SafeCsvWriter(fh, **kwargs)


def csv_text(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Rows as CSV with a header (``None`` → empty field; formula-like text neutralised)."""
    buf = io.StringIO()
    writer = csv_writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([r.get(c) for c in columns])
    return buf.getvalue()


def curves_csv(curves: Sequence[Curve], *, market: str) -> str:
    """The data behind the bracket charts, as CSV (one row per source × bracket; floors and
    C_k in USD, fractions as stored)."""
    columns = (
        "market",
        "source",
        "bracket",
        "notional_floor_usd",
        "initial_margin_fraction",
        "maintenance_margin_fraction",
        "maintenance_amount_usd",
    )
    rows = [
        dict(zip(columns, (market, c.label, k, f, i, m, cum), strict=True))
        for c in curves
        for k, (f, i, m, cum) in enumerate(zip(c.floors, c.imf, c.mmf, c.maintenance_amounts, strict=True), start=1)
    ]
    return csv_text(rows, columns)
