"""Read queries on markets data: the price matrices and return series the engine consumes.

- :func:`price_matrix` — daily closes, ``dates × assets`` (the first model's gaps, §9).
- :func:`hourly_price_matrix` — hourly prices for a date range from each asset's finest real
  series, with the mask of interpolated points (§9 historical paths).
- :func:`return_series` / :func:`finest_return_series` — an asset's returns at the
  resolution of its finest real series (§12).

Time convention: a bar's close is the price at the bar's **end**, its open time plus its
resolution (the 1 d bar of 2020-03-12 gives the price at 2020-03-13 00:00 UTC).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db.models import Count

from riskgov.markets.models import DailyClose, PriceBar
from riskgov.markets.price_files import RESOLUTION_MINUTES

#: Source preference when an asset has closes from several sources (Yahoo covers all 22
#: coins with one methodology; Binance and Coin Metrics fill what it lacks, e.g. LUNA).
DEFAULT_SOURCES = ("yahoo", "binance_klines_1d", "coinmetrics", "binance_4h", "cryptodatadownload_1h")
#: Source preference, at equal resolution, for an asset's price path: Binance spot
#: (``riskgov.prices/1`` files named ``binance_…``) first, then the vendor files. Perpetual
#: and mark-price series (``binanceusdm_perp``, ``binanceusdm_mark``) are a market's own
#: prices, not its asset's, and are used only when asked for.
PATH_SOURCES = ("binance", "cryptodatadownload_1h", "binance_4h", *DEFAULT_SOURCES[:3])
HOUR = np.timedelta64(60, "m")


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
    qs = DailyClose.objects.filter(source__in=list(sources))  # 1d bars only
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


@dataclass(frozen=True)
class HourlyPriceMatrix:
    """Hourly USD prices of assets over a date range (RISK_MODEL §9 historical paths).

    Attributes:
        times: ``(T,)`` ``datetime64[m]`` UTC instants, hourly, from ``start`` 00:00 to
            ``end + 1 day`` 00:00 inclusive (``T = 24·days + 1``).
        symbols: ``(A,)`` the assets asked for that have any price in the range.
        prices: ``(T, A)`` float64 USD, NaN where no series reaches the instant.
        interpolated: ``(T, A)`` bool, True where the price is interpolated linearly between
            two consecutive observations of a coarser series (no finer real price there).
        resolutions: ``(A,)`` minutes of the finest series used for each asset in the range.
        sources: ``(A,)`` ``"source/resolution"`` of every series used, finest first, joined
            by ``+``.
        missing: asked-for assets with no price in the range.
    """

    times: np.ndarray
    symbols: tuple[str, ...]
    prices: np.ndarray
    interpolated: np.ndarray
    resolutions: tuple[int, ...]
    sources: tuple[str, ...]
    missing: tuple[str, ...]

    def interpolated_share(self, rows: slice | None = None) -> float:
        """Share of interpolated points among the known ones (0 when none is known)."""
        known = ~np.isnan(self.prices[rows or slice(None)])
        n = int(known.sum())
        return float(self.interpolated[rows or slice(None)][known].sum() / n) if n else 0.0


def _utc(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _series(
    symbols: list[str],
    sources: Sequence[str],
    first: dt.datetime | None,
    last: dt.datetime | None,
    *,
    lead: dt.timedelta = dt.timedelta(0),
) -> pd.DataFrame:
    """Bars opened in ``[first − lead, last]`` as ``asset, source, resolution, minutes, at (end
    instant, datetime64[m]), close``; ``lead`` reaches back for the bar before a window (the
    hourly matrix interpolates from it)."""
    qs = PriceBar.objects.filter(asset__symbol__in=symbols, source__in=list(sources))
    if first is not None:
        qs = qs.filter(timestamp__gte=first - lead)
    if last is not None:
        qs = qs.filter(timestamp__lte=last)
    frame = pd.DataFrame.from_records(
        qs.values_list("asset__symbol", "source", "resolution", "timestamp", "close").iterator(chunk_size=20000),
        columns=["asset", "source", "resolution", "timestamp", "close"],
    )
    if frame.empty:
        return frame.assign(minutes=pd.Series(dtype="int64"), at=pd.Series(dtype="datetime64[m]"))
    frame["minutes"] = frame["resolution"].map(RESOLUTION_MINUTES).astype("int64")
    opened = pd.to_datetime(frame["timestamp"], utc=True).dt.tz_localize(None).to_numpy().astype("datetime64[m]")
    frame["at"] = opened + frame["minutes"].to_numpy().astype("timedelta64[m]")
    frame["close"] = frame["close"].astype(float)
    return frame.drop(columns="timestamp")


def _layer(times: np.ndarray, at: np.ndarray, close: np.ndarray, minutes: int) -> tuple[np.ndarray, np.ndarray]:
    """One series on the grid: (exact prices, interpolated prices), NaN elsewhere.

    Exact where an observation falls on a grid instant; interpolated linearly between two
    consecutive observations at most ``minutes`` apart (never across a hole of the series).
    """
    order = np.argsort(at, kind="stable")
    at, close = at[order], close[order]
    exact = np.full(times.shape, np.nan)
    pos = np.searchsorted(at, times)
    hit = (pos < len(at)) & (at[np.minimum(pos, len(at) - 1)] == times)
    exact[hit] = close[pos[hit]]
    interp = np.full(times.shape, np.nan)
    inside = (pos > 0) & (pos < len(at)) & ~hit
    if inside.any():
        lo, hi = pos[inside] - 1, pos[inside]
        gap = (at[hi] - at[lo]).astype("timedelta64[m]").astype(np.int64)
        ok = gap <= minutes
        w = (times[inside] - at[lo]).astype("timedelta64[m]").astype(np.int64) / np.maximum(gap, 1)
        value = close[lo] + w * (close[hi] - close[lo])
        idx = np.flatnonzero(inside)[ok]
        interp[idx] = value[ok]
    return exact, interp


def hourly_price_matrix(
    *, symbols: Iterable[str], start: dt.date, end: dt.date, sources: Sequence[str] = PATH_SOURCES
) -> HourlyPriceMatrix:
    """Hourly prices of ``symbols`` from ``start`` 00:00 to ``end + 1`` 00:00 UTC (§9).

    Each asset's price at an hourly instant comes from its finest real series: the finest
    resolution with an observation exactly at that instant (sources in ``sources`` order at
    equal resolution); where none has one, the finest series with two consecutive
    observations around it, interpolated linearly between them (``interpolated`` True). A
    series never bridges its own holes, so an instant no series reaches is NaN. One query.
    """
    wanted = list(dict.fromkeys(symbols))
    first, last = _utc(start), _utc(end + dt.timedelta(days=1))
    times = np.arange(
        np.datetime64(first.replace(tzinfo=None), "m"), np.datetime64(last.replace(tzinfo=None), "m") + HOUR, HOUR
    )
    frame = _series(wanted, sources, first, last, lead=dt.timedelta(days=1))
    rank = {s: i for i, s in enumerate(sources)}
    prices = np.full((len(times), len(wanted)), np.nan)
    interpolated = np.zeros((len(times), len(wanted)), dtype=bool)
    resolutions: list[int] = []
    used: list[str] = []
    groups = {k: g for k, g in frame.groupby("asset")} if not frame.empty else {}
    for j, symbol in enumerate(wanted):
        g = groups.get(symbol)
        if g is None:
            resolutions.append(0)
            used.append("")
            continue
        exact_any = np.full(len(times), np.nan)
        interp_any = np.full(len(times), np.nan)
        names: list[tuple[int, int, str]] = []
        keys = sorted({(int(m), rank[s], s) for m, s in zip(g["minutes"], g["source"], strict=True)})
        for minutes, _, source in keys:
            one = g[(g["source"] == source) & (g["minutes"] == minutes)]
            exact, interp = _layer(times, one["at"].to_numpy(), one["close"].to_numpy(), minutes)
            took_exact = np.isnan(exact_any) & ~np.isnan(exact)
            took_interp = np.isnan(interp_any) & ~np.isnan(interp)
            if took_exact.any() or took_interp.any():
                names.append((minutes, rank[source], f"{source}/{one['resolution'].iloc[0]}"))
            exact_any[took_exact] = exact[took_exact]
            interp_any[took_interp] = interp[took_interp]
        prices[:, j] = np.where(np.isnan(exact_any), interp_any, exact_any)
        interpolated[:, j] = np.isnan(exact_any) & ~np.isnan(interp_any)
        resolutions.append(min((m for m, _, _ in names), default=0))
        used.append("+".join(n for _, _, n in names))
    keep = [j for j in range(len(wanted)) if not np.isnan(prices[:, j]).all()]
    return HourlyPriceMatrix(
        times=times,
        symbols=tuple(wanted[j] for j in keep),
        prices=prices[:, keep],
        interpolated=interpolated[:, keep],
        resolutions=tuple(resolutions[j] for j in keep),
        sources=tuple(used[j] for j in keep),
        missing=tuple(s for j, s in enumerate(wanted) if j not in keep),
    )


@dataclass(frozen=True)
class ReturnSeries:
    """One asset's simple returns at the resolution of one real series (RISK_MODEL §12).

    Attributes:
        symbol: the asset. source: the series' source. resolution: its label (``1h``).
        resolution_minutes: ``Δ`` in minutes.
        times: ``(n,)`` ``datetime64[m]`` UTC end instant of each return.
        returns: ``(n,)`` float64 ``P_i/P_{i−1} − 1`` between consecutive bars exactly ``Δ``
            apart (a return across a hole of the series is dropped, never stretched).
    """

    symbol: str
    source: str
    resolution: str
    resolution_minutes: int
    times: np.ndarray
    returns: np.ndarray


def return_series(
    *, symbol: str, resolution: str, source: str, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> ReturnSeries:
    """Returns of one stored series (see :class:`ReturnSeries`); empty when none is stored."""
    frame = _series([symbol], [source], start, end)
    frame = frame[frame["resolution"] == resolution]
    minutes = RESOLUTION_MINUTES[resolution]
    at = np.sort(frame["at"].to_numpy().astype("datetime64[m]"))
    close = frame.sort_values("at")["close"].to_numpy()
    step = (at[1:] - at[:-1]).astype(np.int64) == minutes
    r = close[1:] / close[:-1] - 1.0
    return ReturnSeries(
        symbol=symbol,
        source=source,
        resolution=resolution,
        resolution_minutes=minutes,
        times=at[1:][step],
        returns=r[step],
    )


def finest_return_series(
    *, symbols: Iterable[str], sources: Sequence[str] = PATH_SOURCES, min_days: float = 365.0
) -> dict[str, ReturnSeries]:
    """Per asset, the returns of its finest real series long enough for §12.

    The finest resolution whose bars cover at least ``min_days`` (bars × resolution, so
    holes do not count) is used, so two 10-day windows of 5-minute crash bars a year apart
    do not displace years of hourly bars; when no series covers that much, the one covering
    most (finest at equal coverage). At equal resolution the first of ``sources`` wins.
    Assets with no series are left out.
    """
    wanted = list(dict.fromkeys(symbols))
    stats = (
        PriceBar.objects.filter(asset__symbol__in=wanted, source__in=list(sources))
        .values_list("asset__symbol", "source", "resolution")
        .annotate(bars=Count("id"))
        .order_by()
    )
    rank = {s: i for i, s in enumerate(sources)}
    best: dict[str, tuple] = {}
    for symbol, source, resolution, bars in stats:
        days = bars * RESOLUTION_MINUTES[resolution] / 1440
        key = (days < min_days, -days if days < min_days else 0, RESOLUTION_MINUTES[resolution], rank[source])
        if symbol not in best or key < best[symbol][0]:
            best[symbol] = (key, source, resolution)
    return {s: return_series(symbol=s, resolution=best[s][2], source=best[s][1]) for s in wanted if s in best}
