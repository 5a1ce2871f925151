"""PM parameter versions → engine ``PMParams`` (STYLE rule 3: the one place rows become engine data)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from riskgov.engine.portfolio_margin import PMParams
from riskgov.portfolio.models import PMParameterVersion
from riskgov.portfolio.selectors import active_pm_versions, pm_version_values

__all__ = [
    "active_pm_params",
    "active_pm_version_ids",
    "pm_params",
    "pm_params_at",
    "pm_params_from_values",
    "pm_version_ids_with",
]


def pm_params_from_values(values: Mapping[str, Any]) -> PMParams:
    """Validated PM values (Decimals) → ``PMParams`` (floats)."""
    sc = values.get("scenarios")
    return PMParams(
        price_range=float(values["price_range"]),
        buckets=int(values["buckets"]),
        vol_range_up=float(values["vol_range_up"]),
        vol_range_down=float(values["vol_range_down"]),
        short_term_vega_power=float(values["short_term_vega_power"]),
        long_term_vega_power=float(values["long_term_vega_power"]),
        dte_floor_days=float(values["dte_floor_days"]),
        min_vol_for_shock_up=float(values["min_vol_for_shock_up"]),
        extended=tuple((float(m), float(w)) for m, w in values["extended"]),
        mm_factor=float(values["mm_factor"]),
        short_option_contingency=float(values["short_option_contingency"]),
        perp_contingency=float(values["perp_contingency"]),
        scenarios=None if sc is None else tuple((float(m), str(v), float(w)) for m, v, w in sc),
    )


def pm_params(version: PMParameterVersion) -> PMParams:
    """One stored version → ``PMParams``."""
    return pm_params_from_values(pm_version_values(version))


def active_pm_params(*, symbols: Iterable[str] | None = None) -> dict[str, PMParams]:
    """``{underlying: PMParams}`` of the active versions (the simulator's ``active_pm``)."""
    return {v.underlying.symbol: pm_params(v) for v in active_pm_versions(symbols=symbols)}


def active_pm_version_ids() -> dict[str, int]:
    """``{underlying: PMParameterVersion id}`` of the active versions (what a health run freezes)."""
    return {v.underlying.symbol: v.pk for v in active_pm_versions()}


def pm_version_ids_with(overrides: Iterable[Any] = ()) -> dict[str, int]:
    """``{underlying: PMParameterVersion id}`` a run freezes: the active versions, replaced by
    the ``PMParameterVersion`` rows among ``overrides`` (a proposal's drafts, any other rows
    ignored) for their underlyings (RISK_MODEL §13, §15)."""
    ids = active_pm_version_ids()
    pm = [o for o in overrides if isinstance(o, PMParameterVersion)]
    if pm:
        symbols = dict(
            PMParameterVersion.objects.filter(pk__in=[o.pk for o in pm]).values_list("pk", "underlying__symbol")
        )
        ids.update({symbols[o.pk]: o.pk for o in pm})
    return dict(sorted(ids.items()))


def pm_params_at(version_ids: Mapping[str, int]) -> dict[str, PMParams]:
    """``{underlying: PMParams}`` of the given versions (a health run's frozen ``pm_versions``),
    whatever their status now: an activation after the run was created changes nothing.

    Raises:
        LookupError: a version no longer exists (versions are never deleted; a damaged database).
    """
    ids = {str(k): int(v) for k, v in version_ids.items()}
    rows = {v.pk: v for v in PMParameterVersion.objects.filter(pk__in=ids.values()).select_related("underlying")}
    missing = [s for s, pk in ids.items() if pk not in rows or rows[pk].underlying.symbol != s]
    if missing:
        raise LookupError(f"PM parameter versions of {', '.join(sorted(missing))} not found")
    return {s: pm_params(rows[pk]) for s, pk in sorted(ids.items())}
