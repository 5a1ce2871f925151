"""Assets, markets and daily closes.

Assets and markets are identities only (symbol, base asset); the numbers that govern them
(haircuts, brackets, penalties, depth, caps) live in immutable parameter versions in the
``parameters`` app, so that a change is always a new, approved version.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


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


class DailyClose(models.Model):
    """One daily close of an asset in USD from one source (exact decimal as published).

    One row per (asset, source, UTC date). ``selectors.price_matrix`` turns them into a
    ``dates × assets`` float64 matrix for the engine (RISK_MODEL §9, §12).
    """

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="daily_closes")
    source = models.CharField(max_length=32, help_text="e.g. yahoo, binance, coinmetrics")
    date = models.DateField()
    close = models.DecimalField(max_digits=30, decimal_places=12)

    class Meta:
        ordering = ["asset", "source", "date"]
        constraints = [
            models.UniqueConstraint(fields=["asset", "source", "date"], name="daily_close_unique"),
            models.CheckConstraint(condition=Q(close__gt=0), name="daily_close_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.asset.symbol} {self.date} {self.close} ({self.source})"
