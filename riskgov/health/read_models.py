"""Typed read models of health runs: frozen dataclasses the selectors return and the pages,
reports and alerts share (no ORM objects, no raw JSON dicts).

Units: money in USD (float, as stored), fractions as fractions, ratios ``None`` = infinity
(RISK_MODEL §1, §5, §10). ``as_dict()`` gives the JSON-able form (FORMATS.md names) for
stored documents (``Report.figures``, API payloads) and plot rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


def _plain(value: Any) -> Any:
    """Tuples → lists, recursively (JSON documents hold lists)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class _Dict:
    """``as_dict()`` for the dataclasses below (nested dataclasses and tuples → dicts, lists)."""

    def as_dict(self) -> dict[str, Any]:
        """The JSON-able dict of this read model (field names as in FORMATS.md)."""
        return _plain(asdict(self))  # type: ignore[call-overload]

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The field names, in order."""
        return tuple(f.name for f in fields(cls))  # type: ignore[arg-type]


@dataclass(frozen=True)
class RunTotals(_Dict):
    """FORMATS.md ``totals`` of a run: counts, USD sums, coverage ratio (``None`` = ∞)."""

    accounts: int | None
    positions: int | None
    equity_usd: float | None
    initial_margin_usd: float | None
    maintenance_margin_usd: float | None
    liquidatable_accounts: int | None
    bankrupt_accounts: int | None
    shortfall_usd: float | None
    insurance_fund_usd: float | None
    coverage_ratio: float | None


@dataclass(frozen=True)
class RunTail(_Dict):
    """FORMATS.md ``tail`` of a run (§10): α, tail population, VaR/ES/Cover-2 (USD),
    coverage at ES (``None`` = ∞)."""

    alpha: float | None
    scenarios: int | None
    var_usd: float | None
    es_usd: float | None
    cover2_usd: float | None
    coverage_at_es: float | None


@dataclass(frozen=True)
class ScenarioRow(_Dict):
    """One stored scenario result (``ScenarioResult``), §8–§10; ``shock`` is the relative
    price shock (fraction) of uniform scenarios, else ``None``; ``family`` (``gap``,
    ``trend``, ``path_1d``, ``path_3d``), ``steps`` × ``step_minutes``, the share of
    interpolated prices and the 1-based step with the most shortfall (0: none)."""

    idx: int
    name: str
    kind: str
    start_date: str
    end_date: str
    in_tail: bool
    liquidatable_accounts: int
    bankrupt_accounts: int
    shortfall_usd: float
    penalties_usd: float
    insurance_fund_after_usd: float
    adl_usd: float
    coverage_ratio: float | None
    top2_shortfall_usd: float
    shock: float | None
    family: str = "gap"
    steps: int = 1
    step_minutes: int = 1440
    interpolated_share: float = 0.0
    worst_step: int = 0


@dataclass(frozen=True)
class HorizonHealth(_Dict):
    """§12 at one horizon: recommended MMF/IMF (fractions), the Kupiec backtest of the
    current MMF (``exceedances`` of ``n`` windows, ``kupiec_lr`` vs ``critical``),
    ``backtest`` ``"pass"``/``"fail"``/``"—"`` and whether the current MMF is below this
    horizon's recommendation (``engine.model_flags.mmf_check``)."""

    horizon_days: int
    mmf_rec: float | None
    imf_rec: float | None
    note: str
    exceedances: int | None
    n: int | None
    kupiec_lr: float | None
    critical: float | None
    backtest: str
    below_recommendation: bool


@dataclass(frozen=True)
class MarketHealth(_Dict):
    """§12 model health of one market: current first-bracket MMF/IMF (fractions), the
    horizons, and the market's flags (``engine.model_flags``): ``below_recommendation``
    (against the highest recommendation) and ``backtest_fails`` (any horizon)."""

    market: str
    current_mmf: float | None
    current_imf: float | None
    note: str
    horizons: tuple[HorizonHealth, ...]
    below_recommendation: bool
    backtest_fails: bool

    @property
    def flagged(self) -> bool:
        """Flagged by §12: below the recommendation or failing the backtest."""
        return self.below_recommendation or self.backtest_fails

    def horizon(self, days: int) -> HorizonHealth | None:
        """The horizon of ``days`` days, if computed."""
        return next((h for h in self.horizons if h.horizon_days == days), None)


@dataclass(frozen=True)
class FreshnessLimits(_Dict):
    """How old a run (since publication) and its prices (since the snapshot) may be, in
    hours, before pages, reports and alerts call them stale."""

    run_hours: float
    price_hours: float
