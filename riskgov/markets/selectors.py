"""Read queries on markets data: the daily-close matrix the engine consumes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskgov.markets.models import DailyClose

#: Source preference when an asset has closes from several sources (Yahoo covers all 22
#: coins with one methodology; Binance and Coin Metrics fill what it lacks, e.g. LUNA).
DEFAULT_SOURCES = ("yahoo", "binance_klines_1d", "coinmetrics", "binance_4h", "cryptodatadownload_1h")


@dataclass(frozen=True)
class PriceMatrix:
    """Daily closes as a matrix for the engine (RISK_MODEL §9, §12).

    Attributes:
        dates: ``(T,)`` ``datetime64[D]`` UTC dates, ascending, every date any asset has.
        symbols: ``(A,)`` asset symbols, in the order asked for (assets without history
            are dropped; see ``missing``).
        closes: ``(T, A)`` float64 USD closes, NaN where an asset has no close that day.
        sources: ``(A,)`` the source used for each asset.
        missing: requested symbols with no history at all.
    """

    dates: np.ndarray
    symbols: tuple[str, ...]
    closes: np.ndarray
    sources: tuple[str, ...]
    missing: tuple[str, ...]


def price_matrix(*, symbols: Iterable[str] | None = None, sources: Sequence[str] = DEFAULT_SOURCES) -> PriceMatrix:
    """Build the ``dates × assets`` close matrix in one query.

    For each asset the first source in ``sources`` that has any close for it is used (no
    mixing of sources within one series). ``symbols=None`` means every asset with history.
    """
    qs = DailyClose.objects.filter(source__in=list(sources))
    wanted = list(dict.fromkeys(symbols)) if symbols is not None else None
    if wanted is not None:
        qs = qs.filter(asset__symbol__in=wanted)
    frame = pd.DataFrame.from_records(
        qs.values_list("asset__symbol", "source", "date", "close"), columns=["asset", "source", "date", "close"]
    )
    if frame.empty:
        return PriceMatrix(
            dates=np.array([], dtype="datetime64[D]"),
            symbols=(),
            closes=np.zeros((0, 0)),
            sources=(),
            missing=tuple(wanted or ()),
        )
    rank = {s: i for i, s in enumerate(sources)}
    frame["rank"] = frame["source"].map(rank)
    best = frame.groupby("asset")["rank"].min()
    frame = frame[frame["rank"].to_numpy() == best.loc[frame["asset"]].to_numpy()]
    frame["close"] = frame["close"].astype(float)
    wide = frame.pivot(index="date", columns="asset", values="close").sort_index()
    order = [s for s in (wanted if wanted is not None else sorted(wide.columns)) if s in wide.columns]
    wide = wide[order]
    return PriceMatrix(
        dates=np.array(wide.index.to_numpy(), dtype="datetime64[D]"),
        symbols=tuple(order),
        closes=wide.to_numpy(dtype=np.float64, na_value=np.nan),
        sources=tuple(sources[int(best[s])] for s in order),
        missing=tuple(s for s in (wanted or ()) if s not in wide.columns),
    )
