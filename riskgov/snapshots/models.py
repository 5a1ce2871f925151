"""Venue snapshots (FORMATS.md ``riskgov.snapshot/1``).

A snapshot is immutable once imported. Rows are stored for bulk loading and bulk reading:
the bulk tables (accounts, balances, positions) carry no database foreign-key constraints
and no per-FK index: the import checks every reference itself, in SQL, once per table
before the transaction commits (``services._lock_references``), instead of a deferred
trigger per row (which cost more than the ``COPY`` itself at 1M accounts); deletes still
cascade and ``PROTECT`` through Django. On PostgreSQL they are range-partitioned by
``snapshot_id``, one partition per snapshot (migration 0004, ``services._Partitions``); the
primary key there is ``(id, snapshot_id)``, ``id`` still unique (one sequence).
accounts get a dense 0-based ``idx`` within their snapshot, and balances and positions refer
to it (``account_idx``) rather than to a row id, so the engine arrays come straight from
``values_list`` / ``COPY TO`` without joins. Money, sizes and prices are exact decimals.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from riskgov.markets.models import Asset, Market

AMOUNT = {"max_digits": 38, "decimal_places": 18}
PRICE = {"max_digits": 38, "decimal_places": 18}
USD = {"max_digits": 28, "decimal_places": 10}


class Snapshot(models.Model):
    """One state of the venue at ``taken_at``. ``generated`` marks demo data (labelled as such)."""

    venue = models.CharField(max_length=100)
    taken_at = models.DateTimeField(db_index=True)
    insurance_fund_usd = models.DecimalField(**USD)
    source = models.CharField(max_length=255, blank=True, help_text="file or generator that produced it")
    generated = models.BooleanField(default=False, help_text="synthetic accounts from the seeded generator")
    sha256 = models.CharField(max_length=64, help_text="hash of the input files")
    n_accounts = models.PositiveIntegerField(default=0)
    n_positions = models.PositiveIntegerField(default=0)
    n_balances = models.PositiveIntegerField(default=0)
    n_options = models.PositiveIntegerField(default=0, help_text="option position rows (RISK_MODEL §14)")
    long_open_interest = models.JSONField(
        default=dict,
        blank=True,
        help_text="{market symbol: exact sum of long sizes (base units)} over every market with a position; "
        "set by the import, read by the adapter for RISK_MODEL §3 open interest",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-taken_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(insurance_fund_usd__gte=0), name="snapshot_fund_non_negative")
        ]

    def __str__(self) -> str:
        label = " (generated)" if self.generated else ""
        return f"{self.venue} {self.taken_at:%Y-%m-%d %H:%M}{label}"


class SnapshotAccount(models.Model):
    """An account of a snapshot: its venue id and its dense index."""

    # No separate index on snapshot_id: the composite index/constraint below starts with it.
    snapshot = models.ForeignKey(
        Snapshot, on_delete=models.CASCADE, related_name="accounts", db_index=False, db_constraint=False
    )
    idx = models.PositiveIntegerField()
    account_id = models.CharField(max_length=100)
    portfolio = models.BooleanField(default=False, help_text="margin_mode portfolio (RISK_MODEL §14)")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "idx"], name="snapshot_account_idx_unique"),
            models.UniqueConstraint(fields=["snapshot", "account_id"], name="snapshot_account_id_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} (#{self.idx})"


class SnapshotBalance(models.Model):
    """A balance of an asset in an account; negative = liability (RISK_MODEL §4)."""

    # No separate index on snapshot_id: the composite index/constraint below starts with it.
    snapshot = models.ForeignKey(
        Snapshot, on_delete=models.CASCADE, related_name="balances", db_index=False, db_constraint=False
    )
    account_idx = models.PositiveIntegerField()
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False)
    amount = models.DecimalField(**AMOUNT)

    class Meta:
        indexes = [models.Index(fields=["snapshot", "account_idx"])]

    def __str__(self) -> str:
        return f"account {self.account_idx}: {self.amount} of asset {self.asset_id}"


class SnapshotPosition(models.Model):
    """A position: signed size in base units, entry price in USD, margin mode (§5, §6)."""

    # No separate index on snapshot_id: the composite index/constraint below starts with it.
    snapshot = models.ForeignKey(
        Snapshot, on_delete=models.CASCADE, related_name="positions", db_index=False, db_constraint=False
    )
    account_idx = models.PositiveIntegerField()
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False)
    size = models.DecimalField(**AMOUNT)
    entry_price = models.DecimalField(**PRICE)
    isolated = models.BooleanField(default=False)
    isolated_margin = models.DecimalField(**USD, null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["snapshot", "account_idx"])]
        constraints = [
            models.CheckConstraint(condition=Q(entry_price__gt=0), name="snapshot_position_entry_positive"),
            models.CheckConstraint(
                condition=(Q(isolated=True) & Q(isolated_margin__isnull=False) & Q(isolated_margin__gte=0))
                | (Q(isolated=False) & Q(isolated_margin__isnull=True)),
                name="snapshot_position_isolated_margin",
            ),
        ]

    def __str__(self) -> str:
        return f"account {self.account_idx}: {self.size} of market {self.market_id} @ {self.entry_price}"


class SnapshotOption(models.Model):
    """An option position (RISK_MODEL §14): a European call or put on ``underlying``,
    cash-settled in USD; signed size in base units, entry premium in USD per base unit."""

    snapshot = models.ForeignKey(
        Snapshot, on_delete=models.CASCADE, related_name="options", db_index=False, db_constraint=False
    )
    account_idx = models.PositiveIntegerField()
    underlying = models.ForeignKey(
        Asset, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    expiry = models.DateTimeField()
    strike = models.DecimalField(**PRICE)
    is_call = models.BooleanField()
    size = models.DecimalField(**AMOUNT)
    entry_price = models.DecimalField(**PRICE)

    class Meta:
        indexes = [models.Index(fields=["snapshot", "account_idx"])]
        constraints = [
            models.CheckConstraint(condition=Q(strike__gt=0), name="snapshot_option_strike_positive"),
            models.CheckConstraint(condition=Q(entry_price__gte=0), name="snapshot_option_entry_non_negative"),
        ]

    def __str__(self) -> str:
        kind = "C" if self.is_call else "P"
        return f"account {self.account_idx}: {self.size} {self.underlying_id}-{self.expiry:%Y%m%d}-{self.strike}-{kind}"


class SnapshotOptionMark(models.Model):
    """The mark implied vol (fraction) of one option series in a snapshot (RISK_MODEL §14)."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="option_marks")
    underlying = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    expiry = models.DateTimeField()
    strike = models.DecimalField(**PRICE)
    is_call = models.BooleanField()
    mark_iv = models.DecimalField(**PRICE)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "underlying", "expiry", "strike", "is_call"], name="snapshot_option_mark_unique"
            ),
            models.CheckConstraint(condition=Q(strike__gt=0), name="snapshot_option_mark_strike_positive"),
            models.CheckConstraint(condition=Q(mark_iv__gt=0), name="snapshot_option_mark_iv_positive"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.underlying_id} {self.expiry:%Y-%m-%d} {self.strike} {'C' if self.is_call else 'P'}: {self.mark_iv}"
        )


class SnapshotPrice(models.Model):
    """USD oracle price of an asset in a snapshot (> 0)."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="prices")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    price = models.DecimalField(**PRICE)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "asset"], name="snapshot_price_unique"),
            models.CheckConstraint(condition=Q(price__gt=0), name="snapshot_price_positive"),
        ]

    def __str__(self) -> str:
        return f"asset {self.asset_id}: {self.price}"


class LiquidationBacktest(models.Model):
    """A stored liquidation backtest (FORMATS.md ``riskgov.liquidation_backtest/1``).

    ``document`` is the exported document as written; ``details`` holds what the model
    validation page and the health report show beside it (per-event margin-ratio series,
    explanations of misses, the MMF sensitivity), computed by
    ``riskgov.snapshots.history.backtest.backtest_details``. Immutable once stored.
    """

    source = models.CharField(max_length=255, help_text="history directory replayed")
    parameters_name = models.CharField(max_length=255)
    parameters_sha256 = models.CharField(max_length=64)
    window_minutes = models.FloatField()
    every_minutes = models.FloatField(help_text="replay grid step")
    since = models.DateTimeField(null=True, blank=True)
    rows = models.PositiveIntegerField(default=0, help_text="history rows replayed")
    document = models.JSONField()
    details = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"backtest {self.pk} of {self.source} ({self.parameters_name})"
