"""Versioned margin parameters (RISK_MODEL §2–§4, §8, §13).

Design: parameters are versioned **per subject** — one numbered version line per market
(``MarketParameterVersion`` with its ``Bracket`` rows) and one per asset
(``AssetParameterVersion``: the collateral haircut). A proposal that touches several markets
creates one draft version per market it changes; markets it does not touch keep their
version. Why per subject rather than one version for the whole parameter set:

* "exactly one active version per market" (§13) is a plain partial unique index;
* a fast-track change to one market is checked against *that* market's history (days since
  the field last changed) without diffing a 500-market blob;
* the active parameter set is simply "the active version of every market and asset", and a
  proposal's set is the active set overlaid with the proposal's drafts.

A version is immutable once it leaves ``draft``: only its status and the activation
timestamps may change afterwards. Services enforce it, and on PostgreSQL triggers
(migration 0002; 0003 adds the liquidation horizon) refuse any other update and any change to its brackets at the database
level, and check the cross-row bracket rules (floors increasing, fractions non-decreasing).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from riskgov.markets.models import Asset, Market

MONEY = {"max_digits": 28, "decimal_places": 10}
FRACTION = {"max_digits": 16, "decimal_places": 12}
#: Minutes (the liquidation horizon, RISK_MODEL §12): up to 99,999,999.9999 min, 1e-4 min steps.
MINUTES = {"max_digits": 12, "decimal_places": 4}
#: Default liquidation horizon ``h_m`` in minutes (RISK_MODEL §12).
DEFAULT_LIQUIDATION_HORIZON_MINUTES = 5

# The governed fields of a market version and of a bracket (in document order).
MARKET_FIELDS = (
    "liquidation_penalty",
    "depth_usd_per_1pct",
    "oi_cap_lower_usd",
    "oi_cap_upper_usd",
    "max_position_notional_usd",
    "liquidation_horizon_minutes",
)
BRACKET_INPUT_FIELDS = ("notional_floor", "initial_margin_fraction", "maintenance_margin_fraction")
BRACKET_FIELDS = BRACKET_INPUT_FIELDS + ("maintenance_amount",)


class VersionStatus(models.TextChoices):
    """Life of a parameter version (RISK_MODEL §13)."""

    DRAFT = "draft", "Draft"
    APPROVED = "approved", "Approved"
    ACTIVE = "active", "Active"
    SUPERSEDED = "superseded", "Superseded"
    DISCARDED = "discarded", "Discarded"


class ParameterImport(models.Model):
    """One imported parameter file, kept whole for provenance and comparison.

    Every ``import_parameters`` run stores the normalized ``riskgov.parameters/1`` document
    it read. A *reference* import (a venue's published table, e.g. Binance's) creates no
    versions; it is what the Parameters page compares our brackets with.
    """

    name = models.CharField(max_length=200)
    venue = models.CharField(max_length=32, help_text="riskgov, binance, hyperliquid or dydx")
    source = models.TextField(blank=True, help_text="where the values came from")
    file_name = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64)
    document = models.JSONField(help_text="the normalized riskgov.parameters/1 document")
    findings = models.JSONField(default=list, blank=True, help_text="importer's mismatch notes")
    is_reference = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.venue})"


class VersionBase(models.Model):
    """Fields shared by market and asset versions."""

    number = models.PositiveIntegerField(help_text="1, 2, … per subject")
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.DRAFT, db_index=True)
    reason = models.TextField(blank=True, help_text="why this version exists")
    source_import = models.ForeignKey(
        ParameterImport, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class MarketParameterVersion(VersionBase):
    """One immutable version of a market's margin parameters (brackets in ``Bracket``).

    Units: penalty as a fraction of notional (§8); depth in USD of notional per 1 % price
    move (§8, §11); OI caps and max position notional in USD (§2, §3); the liquidation
    horizon ``h_m`` in minutes (§12: the time the venue needs to detect and close a position,
    the horizon of the margin recommendation and its backtest).
    """

    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="versions")
    liquidation_penalty = models.DecimalField(**FRACTION)
    depth_usd_per_1pct = models.DecimalField(**MONEY)
    oi_cap_lower_usd = models.DecimalField(**MONEY, default=0)
    oi_cap_upper_usd = models.DecimalField(**MONEY, default=0)
    max_position_notional_usd = models.DecimalField(**MONEY, null=True, blank=True)
    liquidation_horizon_minutes = models.DecimalField(
        **MINUTES,
        default=DEFAULT_LIQUIDATION_HORIZON_MINUTES,
        db_default=DEFAULT_LIQUIDATION_HORIZON_MINUTES,
        help_text="RISK_MODEL §12 liquidation horizon h_m (minutes, > 0)",
    )

    class Meta:
        ordering = ["market__symbol", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["market", "number"], name="market_version_number_unique"),
            models.UniqueConstraint(
                fields=["market"],
                condition=Q(status=VersionStatus.ACTIVE),
                name="one_active_version_per_market",
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="market_version_number_positive"),
            models.CheckConstraint(
                condition=Q(liquidation_penalty__gte=0) & Q(liquidation_penalty__lt=1),
                name="market_version_penalty_range",
            ),
            models.CheckConstraint(condition=Q(depth_usd_per_1pct__gt=0), name="market_version_depth_positive"),
            models.CheckConstraint(
                condition=Q(oi_cap_lower_usd__gte=0)
                & (Q(oi_cap_upper_usd=0) | Q(oi_cap_upper_usd__gt=F("oi_cap_lower_usd"))),
                name="market_version_oi_caps",
            ),
            models.CheckConstraint(
                condition=Q(max_position_notional_usd__isnull=True) | Q(max_position_notional_usd__gt=0),
                name="market_version_max_notional_positive",
            ),
            models.CheckConstraint(
                condition=Q(liquidation_horizon_minutes__gt=0),
                name="market_version_horizon_positive",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in VersionStatus]),
                name="market_version_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.market.symbol} v{self.number} ({self.status})"


class Bracket(models.Model):
    """One notional bracket of a market version (RISK_MODEL §2).

    ``maintenance_amount`` (``C_k``) is derived by the service from the floors and MMFs,
    never typed in. Single-row rules are CHECK constraints; the cross-row rules (floors
    strictly increasing, IMF/MMF non-decreasing, ``C_k`` consistent) are checked by the
    service and, on PostgreSQL, by a deferred constraint trigger.
    """

    version = models.ForeignKey(MarketParameterVersion, on_delete=models.CASCADE, related_name="brackets")
    index = models.PositiveSmallIntegerField(help_text="1-based, ordered by floor")
    notional_floor = models.DecimalField(**MONEY)
    initial_margin_fraction = models.DecimalField(**FRACTION)
    maintenance_margin_fraction = models.DecimalField(**FRACTION)
    maintenance_amount = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["version", "index"]
        constraints = [
            models.UniqueConstraint(fields=["version", "index"], name="bracket_index_unique"),
            models.UniqueConstraint(fields=["version", "notional_floor"], name="bracket_floor_unique"),
            models.CheckConstraint(
                condition=(Q(index=1) & Q(notional_floor=0)) | (Q(index__gt=1) & Q(notional_floor__gt=0)),
                name="bracket_first_floor_zero",
            ),
            models.CheckConstraint(
                condition=Q(maintenance_margin_fraction__gt=0)
                & Q(maintenance_margin_fraction__lt=F("initial_margin_fraction"))
                & Q(initial_margin_fraction__lte=1),
                name="bracket_fractions_valid",
            ),
            models.CheckConstraint(condition=Q(maintenance_amount__gte=0), name="bracket_cum_non_negative"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.version} #{self.index} ≥{self.notional_floor} "
            f"IMF {self.initial_margin_fraction} MMF {self.maintenance_margin_fraction}"
        )


class AssetParameterVersion(VersionBase):
    """One immutable version of an asset's collateral parameters (RISK_MODEL §4)."""

    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="versions")
    haircut = models.DecimalField(**FRACTION)

    class Meta:
        ordering = ["asset__symbol", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["asset", "number"], name="asset_version_number_unique"),
            models.UniqueConstraint(
                fields=["asset"],
                condition=Q(status=VersionStatus.ACTIVE),
                name="one_active_version_per_asset",
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="asset_version_number_positive"),
            models.CheckConstraint(condition=Q(haircut__gte=0) & Q(haircut__lt=1), name="asset_version_haircut_range"),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in VersionStatus]),
                name="asset_version_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset.symbol} v{self.number} ({self.status})"
