"""Assets, markets and their price history (daily closes and intraday bars).

Assets and markets are identities only (symbol, base asset); the numbers that govern them
(haircuts, brackets, penalties, depth, caps) live in immutable parameter versions in the
``parameters`` app, so that a change is always a new, approved version.
"""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Q

from riskgov.markets.price_files import RESOLUTION_MINUTES


class Asset(models.Model):
    """A collateral or base asset, e.g. ``BTC`` or the stablecoin ``USDT``.

    ``stable`` marks a USD stablecoin: uniform and historical scenarios keep it at its price
    unless a scenario names it (RISK_MODEL §9).
    """

    symbol = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=100, blank=True)
    stable = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["symbol"]
        constraints = [
            models.CheckConstraint(condition=~Q(symbol=""), name="asset_symbol_not_empty"),
        ]

    def __str__(self) -> str:
        return self.symbol


class Market(models.Model):
    """A perpetual market such as ``BTC-PERP``; its mark price follows its base asset."""

    symbol = models.CharField(max_length=48, unique=True)
    base_asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="markets")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["symbol"]
        constraints = [
            models.CheckConstraint(condition=~Q(symbol=""), name="market_symbol_not_empty"),
        ]

    def __str__(self) -> str:
        return self.symbol


class PriceBar(models.Model):
    """One price bar of an asset in USD from one source, at the series' own resolution.

    One row per (asset, source, resolution, bar open time). ``timestamp`` is the bar's open
    time (aware UTC), ``date`` its UTC calendar day (kept so daily queries stay simple);
    ``close`` is the exact decimal as published. ``resolution`` is one of
    :data:`RESOLUTION_MINUTES` (``1d`` for the daily closes of the first model). Series are
    stored as imported, never resampled (FORMATS ``riskgov.prices/1``). The close is the
    price at the bar's end, ``timestamp + resolution`` (``selectors.hourly_price_matrix``).
    """

    RESOLUTIONS = [(k, k) for k in RESOLUTION_MINUTES]

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="price_bars")
    source = models.CharField(max_length=32, help_text="e.g. yahoo, binance, binanceusdm_perp, coinmetrics")
    resolution = models.CharField(max_length=4, choices=RESOLUTIONS, default="1d", db_default="1d")
    timestamp = models.DateTimeField(help_text="bar open time, UTC")
    date = models.DateField(help_text="UTC day of the bar's open time")
    close = models.DecimalField(max_digits=30, decimal_places=12)

    class Meta:
        ordering = ["asset", "source", "resolution", "timestamp"]
        constraints = [
            models.UniqueConstraint(fields=["asset", "source", "resolution", "timestamp"], name="price_bar_unique"),
            models.CheckConstraint(condition=Q(close__gt=0), name="price_bar_positive"),
            models.CheckConstraint(
                condition=Q(resolution__in=list(RESOLUTION_MINUTES)), name="price_bar_resolution_known"
            ),
        ]
        indexes = [models.Index(fields=["resolution", "asset", "timestamp"], name="price_bar_res_asset_ts")]

    def __str__(self) -> str:
        return f"{self.asset.symbol} {self.timestamp:%Y-%m-%d %H:%M} {self.resolution} {self.close} ({self.source})"

    @property
    def resolution_minutes(self) -> int:
        return RESOLUTION_MINUTES[self.resolution]


class DailyCloseManager(models.Manager):
    """Only the daily (``1d``) bars."""

    def get_queryset(self):
        return super().get_queryset().filter(resolution="1d")


class DailyClose(PriceBar):
    """A daily close: the ``1d`` bars of :class:`PriceBar` (the first model's table).

    One row per (asset, source, UTC date). ``selectors.price_matrix`` turns them into a
    ``dates × assets`` float64 matrix for the engine (RISK_MODEL §9, §12). Built with
    ``DailyClose(asset=…, source=…, date=…, close=…)`` the row gets ``resolution="1d"`` and
    ``timestamp`` = that date at 00:00 UTC (the daily bar's open time), also in
    ``bulk_create``.
    """

    objects = DailyCloseManager()

    class Meta:
        proxy = True
        ordering = ["asset", "source", "date"]

    def __init__(self, *args, **kwargs):
        if kwargs and not args:
            kwargs.setdefault("resolution", "1d")
            day = kwargs.get("date")
            if day is not None and kwargs.get("timestamp") is None:
                kwargs["timestamp"] = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        super().__init__(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self.asset.symbol} {self.date} {self.close} ({self.source})"
