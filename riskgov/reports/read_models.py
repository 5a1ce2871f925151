"""Typed read models of reports: frozen dataclasses the report selectors return (stored in
``Report.figures`` through ``as_dict()``). Money USD (float, as stored), shares and ratios
as fractions, ratios ``None`` = infinity (RISK_MODEL §1, §10)."""

from __future__ import annotations

from dataclasses import dataclass

from riskgov.health.read_models import _Dict


@dataclass(frozen=True)
class RunOverview(_Dict):
    """A run's overview: FORMATS ``totals`` + ``tail`` (§10, without its ``scenarios``,
    which is ``tail_scenarios`` here) + open interest and the liquidatable shares of
    accounts and of open interest, Cover-2 coverage and the worst scenario's name."""

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
    alpha: float | None
    var_usd: float | None
    es_usd: float | None
    cover2_usd: float | None
    coverage_at_es: float | None
    tail_scenarios: int | None
    open_interest_usd: float
    liquidatable_oi_usd: float
    liquidatable_oi_share: float
    liquidatable_accounts_share: float
    cover2_coverage: float | None
    worst_scenario: str | None


@dataclass(frozen=True)
class MarketRisk(_Dict):
    """One market of the "riskiest markets" table: positions, open interest, MM and
    liquidatable open interest (USD), its share (fraction) and the worst-scenario shortfall
    attributed to the market (§8, USD)."""

    market: str
    positions: int
    open_interest_usd: float
    maintenance_margin_usd: float
    liquidatable_oi_usd: float
    liquidatable_oi_share: float
    worst_scenario_shortfall_usd: float


@dataclass(frozen=True)
class AccountRisk(_Dict):
    """One account of the "riskiest accounts" table: equity, MM and shortfall (USD) and the
    margin ratio MM / E (``None`` = ∞, no equity; §5)."""

    account_id: str
    equity_usd: float
    maintenance_margin_usd: float
    margin_ratio: float | None
    liquidatable: bool
    bankrupt: bool
    shortfall_usd: float


@dataclass(frozen=True)
class ScenarioSummary(_Dict):
    """One scenario of the report's stress tables (§8–§10): counts, USD, coverage ratio
    (``None`` = ∞); dates of historical windows (``YYYY-MM-DD``, empty otherwise)."""

    name: str
    kind: str
    start_date: str
    end_date: str
    liquidatable_accounts: int
    bankrupt_accounts: int
    shortfall_usd: float
    insurance_fund_after_usd: float
    adl_usd: float
    coverage_ratio: float | None
    step_minutes: int = 1440
    horizon: str = "1-day"


@dataclass(frozen=True)
class StressTables(_Dict):
    """The gap scenarios, apart from the path families (§9): every standard scenario, the
    worst windows of the gap tail (1-day historical gaps, §10) and how many there are, and
    the worst other historical windows (3-day gaps: scenarios outside every tail) and their
    count; ``tail_label`` names the gap tail with its horizon."""

    standard: tuple[ScenarioSummary, ...]
    historical_worst: tuple[ScenarioSummary, ...]
    historical_count: int
    other_windows_worst: tuple[ScenarioSummary, ...] = ()
    other_windows_count: int = 0
    tail_label: str = "1-day gaps"


@dataclass(frozen=True)
class FamilyTailSummary(_Dict):
    """The tail of one scenario family (§10, never pooled), named with its horizon
    (``label``, e.g. "1-day paths"; ``horizon_minutes`` ``T·Δ``): VaR/ES/Cover-2 (USD) at
    level ``alpha``, coverage at ES and of Cover-2 (``None`` = ∞), mean and worst shortfall
    (USD), the worst scenario, the mean share of interpolated steps (fraction) and the
    shortfall distribution summary (``engine.tail.shortfall_distribution``, USD); ``headline``
    marks the headline family (1-day historical paths)."""

    family: str
    label: str
    horizon_minutes: int | None
    headline: bool
    alpha: float
    scenarios: int
    var_usd: float
    es_usd: float
    cover2_usd: float
    coverage_at_es: float | None
    cover2_coverage: float | None
    mean_shortfall_usd: float
    worst_shortfall_usd: float
    worst_scenario: str | None
    mean_interpolated_share: float
    distribution: dict | None


@dataclass(frozen=True)
class WorstPath(_Dict):
    """The worst 1-day historical path, replayed step by step (§9, ``HealthRun.replay``): its
    name and start (UTC; ``start_utc`` ``YYYY-MM-DD HH:MM``), steps of ``step_minutes``, shortfall (USD), the step where most
    shortfall arose, and the share of interpolated steps (fraction)."""

    label: str
    scenario: str
    start: str
    steps: int
    step_minutes: int
    shortfall_usd: float
    worst_step: int
    worst_step_shortfall_usd: float
    interpolated_share: float
    start_utc: str = ""
