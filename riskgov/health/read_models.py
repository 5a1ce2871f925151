"""Typed read models of health runs: frozen dataclasses the selectors return and the pages,
reports and alerts share (no ORM objects, no raw JSON dicts).

Units: money in USD (float, as stored), fractions as fractions, ratios ``None`` = infinity
(RISK_MODEL §1, §5, §10). ``as_dict()`` gives the JSON-able form (FORMATS.md names) for
stored documents (``Report.figures``, API payloads) and plot rows.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


def _plain(value: Any) -> Any:
    """Tuples → lists and read models → dicts, recursively (JSON documents hold lists).

    Containers are rebuilt, so the result shares nothing mutable with the read model (what
    ``dataclasses.asdict`` gives, without its deep copy of every value: 3,200 scenario rows
    took 0.7 s there)."""
    if isinstance(value, _Dict):
        return value.as_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class _Dict:
    """``as_dict()`` for the dataclasses below (nested dataclasses and tuples → dicts, lists)."""

    def as_dict(self) -> dict[str, Any]:
        """The JSON-able dict of this read model (field names as in FORMATS.md)."""
        return {name: _plain(getattr(self, name)) for name in self.names()}

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The field names, in order."""
        names = cls.__dict__.get("_names")
        if names is None:
            names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
            cls._names = names
        return names


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
    """First-edition §12 at one horizon of 1 or 3 days (runs stored before the liquidation
    horizon): recommended MMF/IMF (fractions), the Kupiec backtest of the current MMF
    (``exceedances`` of ``n`` windows, ``kupiec_lr`` vs ``critical``), ``backtest``
    ``"pass"``/``"fail"``/``"—"`` (fail = rejected with more exceedances than expected) and
    whether the current MMF is below this horizon's recommendation
    (``engine.model_flags.mmf_check``)."""

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
class BracketRecommendation(_Dict):
    """§12 at the liquidation horizon for one bracket: its floor and upper notional ``N⁺_k``
    (USD), ``slip_m(N⁺_k)``, current and recommended MMF/IMF (fractions), ``capped`` when a
    cap cut the recommendation."""

    bracket: int
    notional_floor: float | None
    upper_notional_usd: float | None
    slippage: float | None
    current_mmf: float | None
    current_imf: float | None
    mmf_rec: float | None
    imf_rec: float | None
    capped: bool


@dataclass(frozen=True)
class HorizonBacktestHealth(_Dict):
    """The §12 backtest of the active MMF_1 at the horizon: ``exceedances`` (x) of ``n``
    returns above ``threshold`` (fraction of a Δ-return) against ``expected`` = n·(1 − β),
    Kupiec's ``lr`` vs ``critical``; ``reject``; ``too_many`` (reject with x > expected, the
    backtest flag); ``too_low`` (MMF_1 below ``(1 − tol)`` × the recommendation)."""

    n: int | None
    exceedances: int | None
    expected: float | None
    lr: float | None
    critical: float | None
    threshold: float | None
    reject: bool
    too_many: bool
    too_low: bool
    tol: float | None


@dataclass(frozen=True)
class MarketHealth(_Dict):
    """§12 model health of one market: current first-bracket MMF/IMF (fractions) and the
    market's flags (``engine.model_flags``): ``below_recommendation`` (MMF_1 below ``(1 − tol)``
    × the recommended MMF_1) and ``backtest_fails`` (rejected with more exceedances than
    expected).

    ``edition`` 2 (at the liquidation horizon): ``horizon_minutes`` ``h``, the series used
    (``resolution``, ``resolution_minutes`` Δ, ``source``), β, λ, the scaling in words,
    ``q_recent``/``q_long``/``q`` (fractions at the horizon), the lookbacks (``recent_days``
    with ``n_recent`` returns, ``long_days`` spanned with ``n_long``, ``first``/``last``
    return), per bracket ``brackets``, the ``backtest`` and the ``verdict`` sentence.
    ``edition`` 1 (runs stored before it): ``horizons`` at 1 and 3 days.
    """

    market: str
    current_mmf: float | None
    current_imf: float | None
    note: str
    horizons: tuple[HorizonHealth, ...]
    below_recommendation: bool
    backtest_fails: bool
    edition: int = 1
    asset: str = ""
    horizon_minutes: float | None = None
    resolution: str = ""
    resolution_minutes: int | None = None
    source: str = ""
    beta: float | None = None
    lam: float | None = None
    scaling: str = ""
    q_recent: float | None = None
    q_long: float | None = None
    q: float | None = None
    floor_binds: bool = False
    recent_days: float | None = None
    n_recent: int | None = None
    long_days: float | None = None
    n_long: int | None = None
    first: str = ""
    last: str = ""
    brackets: tuple[BracketRecommendation, ...] = ()
    backtest: HorizonBacktestHealth | None = None
    verdict: str = ""

    @property
    def flagged(self) -> bool:
        """Flagged by §12: below the recommendation or failing the backtest."""
        return self.below_recommendation or self.backtest_fails

    def as_dict(self) -> dict[str, Any]:
        """The fields plus ``flagged``, ``label``, ``mmf_rec`` and ``imf_rec`` (bracket 1), so a
        stored document (``Report.figures``) reads like the object."""
        return {
            **super().as_dict(),
            "flagged": self.flagged,
            "label": self.label,
            "mmf_rec": self.mmf_rec,
            "imf_rec": self.imf_rec,
        }

    @property
    def has_recommendation(self) -> bool:
        """A recommendation was computed (edition 2: brackets; edition 1: any horizon)."""
        return bool(self.brackets) if self.edition >= 2 else bool(self.horizons)

    @property
    def mmf_rec(self) -> float | None:
        """Recommended MMF_1 (edition 2), else None."""
        return self.brackets[0].mmf_rec if self.brackets else None

    @property
    def imf_rec(self) -> float | None:
        """Recommended IMF_1 (edition 2), else None."""
        return self.brackets[0].imf_rec if self.brackets else None

    @property
    def label(self) -> str:
        """What the recommendation is, in words (which edition, which horizon)."""
        if self.edition >= 2:
            return f"at the {_minutes(self.horizon_minutes)} liquidation horizon"
        return "first-edition 1-/3-day recommendation (daily closes; stored before the liquidation horizon)"

    def horizon(self, days: int) -> HorizonHealth | None:
        """The first-edition horizon of ``days`` days, if computed."""
        return next((h for h in self.horizons if h.horizon_days == days), None)


def _minutes(m: float | None) -> str:
    """``5`` → ``"5-minute"``, ``60`` → ``"1-hour"``, ``None`` → ``"unknown"``."""
    if m is None:
        return "unknown"
    if m >= 60 and m % 60 == 0:
        return f"{m / 60:g}-hour"
    return f"{m:g}-minute"


@dataclass(frozen=True)
class FreshnessLimits(_Dict):
    """How old a run (since publication) and its prices (since the snapshot) may be, in
    hours, before pages, reports and alerts call them stale."""

    run_hours: float
    price_hours: float
