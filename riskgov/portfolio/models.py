"""Versioned portfolio-margin parameters per underlying (RISK_MODEL §14, §13).

One numbered version line per underlying asset (``PMParameterVersion``), the same life as
market and asset versions (``parameters.models.VersionStatus``: draft → approved → active →
superseded / discarded) and the same guarantees: one active version per underlying (partial
unique index), values immutable once a version leaves ``draft`` (service, and on PostgreSQL a
trigger, migration 0001).

Scalar parameters are ``NUMERIC`` columns (exact, RISK_MODEL §1). The extended table and the
optional explicit scenario list are JSON lists of decimal strings — ``[{"move", "weight"}]``
and ``[{"move", "vol", "weight"}]`` or null — validated exactly by
:mod:`riskgov.portfolio.validation` before anything is written (their length varies per
venue, and they are read and written whole).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from riskgov.markets.models import Asset
from riskgov.parameters.models import FRACTION, VersionBase, VersionStatus

#: the scalar NUMERIC fields (``buckets`` is an integer column)
DECIMAL_FIELDS = (
    "price_range",
    "vol_range_up",
    "vol_range_down",
    "short_term_vega_power",
    "long_term_vega_power",
    "dte_floor_days",
    "min_vol_for_shock_up",
    "mm_factor",
    "short_option_contingency",
    "perp_contingency",
)


class PMParameterVersion(VersionBase):
    """One immutable version of an underlying's PM parameters (RISK_MODEL §14).

    Units: fractions of spot (``price_range``, moves, contingencies), vol multipliers
    (``vol_range_*``), exponents (vega powers), days (``dte_floor_days``), a vol fraction
    (``min_vol_for_shock_up``), ``mm_factor = MM/IM``.
    """

    underlying = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="pm_versions")
    price_range = models.DecimalField(**FRACTION, help_text="R, the largest standard move (fraction)")
    buckets = models.PositiveSmallIntegerField(help_text="n: standard moves R·i/n, i = −n..n")
    vol_range_up = models.DecimalField(**FRACTION, help_text="u, vol-up shock scale")
    vol_range_down = models.DecimalField(**FRACTION, help_text="d, vol-down shock scale (d·x < 1)")
    short_term_vega_power = models.DecimalField(**FRACTION, help_text="p_s, below 30 days to expiry")
    long_term_vega_power = models.DecimalField(**FRACTION, help_text="p_l, 30 days and beyond")
    dte_floor_days = models.DecimalField(**FRACTION, help_text="floor of the days to expiry in x")
    min_vol_for_shock_up = models.DecimalField(**FRACTION, help_text="floor of the shocked-up vol")
    mm_factor = models.DecimalField(**FRACTION, help_text="MM/IM")
    short_option_contingency = models.DecimalField(**FRACTION, help_text="c_so, fraction of spot per net short")
    perp_contingency = models.DecimalField(**FRACTION, help_text="c_p, fraction of spot per net perp unit")
    extended = models.JSONField(default=list, blank=True, help_text='[{"move", "weight"}] with vol up')
    scenarios = models.JSONField(
        null=True, blank=True, help_text='[{"move", "vol", "weight"}] replacing the grid; null = the grid'
    )
    source = models.TextField(blank=True, help_text="where the values came from (importer, venue document)")

    class Meta:
        ordering = ["underlying__symbol", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["underlying", "number"], name="pm_version_number_unique"),
            models.UniqueConstraint(
                fields=["underlying"],
                condition=Q(status=VersionStatus.ACTIVE),
                name="one_active_pm_version_per_underlying",
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="pm_version_number_positive"),
            models.CheckConstraint(condition=Q(price_range__gt=0) & Q(price_range__lt=1), name="pm_price_range"),
            models.CheckConstraint(condition=Q(buckets__gte=1) & Q(buckets__lte=100), name="pm_buckets_range"),
            models.CheckConstraint(condition=Q(mm_factor__gt=0) & Q(mm_factor__lte=1), name="pm_mm_factor_range"),
            models.CheckConstraint(condition=Q(dte_floor_days__gt=0), name="pm_dte_floor_positive"),
            models.CheckConstraint(
                condition=Q(vol_range_up__gte=0)
                & Q(vol_range_down__gte=0)
                & Q(short_term_vega_power__gte=0)
                & Q(long_term_vega_power__gte=0)
                & Q(min_vol_for_shock_up__gte=0)
                & Q(short_option_contingency__gte=0)
                & Q(perp_contingency__gte=0),
                name="pm_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in VersionStatus]), name="pm_version_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.underlying.symbol} PM v{self.number} ({self.status})"
