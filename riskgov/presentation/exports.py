"""CSV exports of the data behind charts and tables: raw stored values (never the display
strings), one header row, ``None`` as an empty field, ``inf`` as ``inf``."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from riskgov.presentation.figures.brackets import Curve


def csv_text(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Rows as CSV with a header (``None`` → empty field)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
    return buf.getvalue()


def curves_csv(curves: Sequence[Curve], *, market: str) -> str:
    """The data behind the bracket charts, as CSV (one row per source × bracket; floors and
    C_k in USD, fractions as stored)."""
    lines = [
        "market,source,bracket,notional_floor_usd,initial_margin_fraction,maintenance_margin_fraction,maintenance_amount_usd"
    ]
    for c in curves:
        for k, (f, i, m, cum) in enumerate(zip(c.floors, c.imf, c.mmf, c.maintenance_amounts, strict=True), start=1):
            lines.append(f"{market},{c.label},{k},{f},{i},{m},{cum}")
    return "\n".join(lines) + "\n"
