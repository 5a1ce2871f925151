"""The generator's files: exact decimal strings and the four tables written from the drawn venue.

``decimal_strings`` rounds floats to significant digits and writes them as plain decimals
(so every file value is an exact decimal); ``venue_tables`` lays the drawn accounts,
balances and positions out in file order; ``table_write`` writes one table as CSV (header,
no quoting) or Parquet. Used by ``riskgov.snapshots.generator`` only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from riskgov.engine.types import ParameterSet

if TYPE_CHECKING:
    from riskgov.snapshots.generator import _Book, _Collateral, _PriceDay


def decimal_strings(values: np.ndarray, *, sig: int, max_places: int = 18) -> tuple[np.ndarray, pa.Array]:
    """Round to ``sig`` significant digits (at most ``max_places`` decimals) and write plain decimals.

    Returns the rounded float values and their exact decimal strings (vectorized: integer
    mantissa and decimals, then pyarrow string kernels).
    """
    v = np.asarray(values, dtype=np.float64)
    mag = np.floor(np.log10(np.where(v != 0, np.abs(v), 1.0))).astype(np.int64)
    places = np.clip(sig - 1 - mag, 0, max_places)
    scale = 10.0**places
    mant = np.rint(np.abs(v) * scale).astype(np.int64)
    pow10 = 10 ** places.astype(np.int64)
    ip, fp = np.divmod(mant, pow10)
    fp18 = fp * 10 ** (18 - places)
    frac = pc.utf8_lpad(pc.cast(pa.array(fp18), pa.string()), 18, "0")
    frac = pc.utf8_rtrim(frac, "0")
    sign = pc.if_else(pa.array((v < 0) & (mant != 0)), "-", "")
    text = pc.binary_join_element_wise(sign, pc.cast(pa.array(ip), pa.string()), "", "")
    text = pc.if_else(pc.equal(frac, ""), text, pc.binary_join_element_wise(text, frac, "."))
    rounded = np.sign(v) * (ip + fp / scale)
    return rounded, text


def table_write(table: pa.Table, out: Path, name: str, fmt: str) -> None:
    """Write ``table`` as ``out/<name>.csv`` (header line, unquoted values) or ``.parquet``."""
    if fmt == "parquet":
        pq.write_table(table, out / f"{name}.parquet")
    else:
        with (out / f"{name}.csv").open("wb") as fh:
            fh.write((",".join(table.column_names) + "\n").encode())
            pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, quoting_style="none"))


def venue_tables(
    params: ParameterSet,
    prices: _PriceDay,
    book: _Book,
    coll: _Collateral,
    *,
    stable_amount: np.ndarray,
    iso_margin: np.ndarray,
) -> dict[str, pa.Table]:
    """The four files as tables of exact decimal strings, in file order."""
    mk, ak, n, stable, extras = params.markets, params.assets, book.n, prices.stable, prices.extras
    _, stable_text = decimal_strings(stable_amount, sig=12, max_places=10)
    _, iso_text = decimal_strings(iso_margin, sig=12, max_places=10)
    rows_a, rows_j = np.nonzero(coll.extra_amount)
    _, extra_text = decimal_strings(coll.extra_amount[rows_a, rows_j], sig=10)
    width = max(7, len(str(n)))
    ids = pc.binary_join_element_wise(
        "acct-", pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n + 1)), pa.string()), width, "0"), ""
    )

    # prices: every asset used (stable, extras, bases of live markets), real close strings
    live = prices.live
    used_assets = sorted({stable, *extras.tolist(), *mk.base_asset[live].tolist()}, key=lambda i: ak.symbols[i])
    _, ptext = decimal_strings(prices.price[used_assets], sig=12)
    prices_t = pa.table({"asset": pa.array([ak.symbols[i] for i in used_assets]), "price": ptext})
    accounts_t = pa.table({"account_id": ids})
    # balances in account order: stable row, then extras
    b_acc = np.concatenate([np.arange(n), rows_a])
    b_asset = np.concatenate([np.full(n, stable), extras[rows_j] if extras.size else np.zeros(0, np.int64)]).astype(
        np.int64
    )
    b_text = pa.concat_arrays([stable_text, extra_text])
    b_order = np.argsort(b_acc, kind="stable")
    asset_names = pa.array(list(ak.symbols))
    balances_t = pa.table(
        {
            "account_id": ids.take(pa.array(b_acc[b_order])),
            "asset": asset_names.take(pa.array(b_asset[b_order])),
            "amount": b_text.take(pa.array(b_order)),
        }
    )
    market_names = pa.array(list(mk.symbols))
    isolated = pa.array(book.isolated)
    positions_t = pa.table(
        {
            "account_id": ids.take(pa.array(book.account)),
            "market": market_names.take(pa.array(book.market)),
            "size": book.size_text,
            "entry_price": book.entry_text,
            "margin_mode": pc.if_else(isolated, "isolated", "cross"),
            "isolated_margin": pc.if_else(isolated, iso_text, pa.scalar(None, pa.string())),
        }
    )
    return {"prices": prices_t, "accounts": accounts_t, "balances": balances_t, "positions": positions_t}


def with_options(params: ParameterSet, tables: dict[str, pa.Table], opts) -> dict[str, pa.Table]:
    """The tables with the options book (``generator_options.OptionsBook``): ``margin_mode``
    on ``accounts``, the covered calls' perps appended to ``positions`` (the market of the
    underlying, cross), ``options`` and ``option_marks``."""
    mk, ak = params.markets, params.assets
    ids = tables["accounts"].column("account_id").combine_chunks()
    accounts = tables["accounts"].append_column(
        "margin_mode", pc.if_else(pa.array(opts.portfolio), "portfolio", "cross")
    )
    cp = opts.covered_perps
    market_of = {ak.symbols[int(mk.base_asset[i])]: mk.symbols[i] for i in range(mk.n - 1, -1, -1)}
    _, size_text = decimal_strings(cp["size"], sig=10)
    _, entry_text = decimal_strings(cp["entry"], sig=12)
    extra = pa.table(
        {
            "account_id": ids.take(pa.array(cp["account"])),
            "market": pa.array([market_of[u] for u in cp["underlying"]], pa.string()),
            "size": size_text,
            "entry_price": entry_text,
            "margin_mode": pa.array(["cross"] * len(cp["underlying"]), pa.string()),
            "isolated_margin": pa.array([None] * len(cp["underlying"]), pa.string()),
        }
    )
    positions = pa.concat_tables([tables["positions"], extra.cast(tables["positions"].schema)])
    options = pa.table({"account_id": ids.take(pa.array(opts.option_account)), **opts.options})
    return {**tables, "accounts": accounts, "positions": positions, "options": options, "option_marks": opts.marks}
