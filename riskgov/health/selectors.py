"""Read queries on health runs. Readers see only **published** runs (plus, for a user, their
own runs in progress), so a half-written or failed run is never shown as a result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import F, Q, QuerySet

from riskgov.core.roles import ADMIN, has_role
from riskgov.engine.model_flags import (
    DEFAULT_MMF_TOLERANCE,
    KUPIEC_CRITICAL,
    backtest_fails,
    backtests,
    edition,
    mmf_check,
    recommended_mmfs,
)
from riskgov.health.models import AccountResult, HealthRun, RunKind, RunStatus, ScenarioResult
from riskgov.health.read_models import (
    BracketRecommendation,
    FreshnessLimits,
    HorizonBacktestHealth,
    HorizonHealth,
    MarketHealth,
    RunTail,
    RunTotals,
    ScenarioRow,
)
from riskgov.parameters.models import Bracket

__all__ = ["KUPIEC_CRITICAL", "FreshnessLimits", "HorizonHealth", "MarketHealth", "RunTail", "RunTotals", "ScenarioRow"]

#: a run older than this since publication, or prices older than this since the snapshot,
#: are stale for the Overview and the reports (README; settings ``RISKGOV_REPORT_MAX_RUN_AGE_HOURS``
#: overrides it), and it is the default "Prices older than" alert threshold (hours)
STALE_AFTER_HOURS = 26.0
#: the reports' limit on the age of a run's prices (settings
#: ``RISKGOV_REPORT_MAX_PRICE_AGE_HOURS`` overrides it), hours
MAX_PRICE_AGE_HOURS = 48.0

#: the heavy JSON columns, deferred in lists
_HEAVY = (
    "cascade",
    "adl",
    "recommendations",
    "scenario_spec",
    "distributions",
    "replay",
    "impact",
    "parameters_document",
)


def published_runs(*, kinds: tuple[str, ...] | None = (RunKind.SCHEDULED, RunKind.MANUAL)) -> QuerySet[HealthRun]:
    """Published runs, newest publication first; impact runs only when ``kinds`` says so."""
    qs = HealthRun.objects.filter(published_at__isnull=False, status=RunStatus.SUCCEEDED)
    if kinds is not None:
        qs = qs.filter(kind__in=kinds)
    return qs.select_related("snapshot").order_by("-published_at", "-id")


def latest_published_run(*, kinds: tuple[str, ...] | None = (RunKind.SCHEDULED, RunKind.MANUAL)) -> HealthRun | None:
    """The newest published run of the active parameters (not an impact run by default)."""
    return published_runs(kinds=kinds).first()


def runs_visible_to(*, user: Any) -> QuerySet[HealthRun]:
    """Runs a user may see: every published run, plus their own (any status); admins see all."""
    qs = HealthRun.objects.select_related("snapshot").defer(*_HEAVY).order_by("-created_at", "-id")
    if has_role(user, ADMIN):
        return qs
    return qs.filter(Q(published_at__isnull=False) | Q(created_by=user))


#: the rankings of a run's accounts: name → its stored column (``run_accounts(rank=...)``)
ACCOUNT_RANKINGS = {
    "margin_ratio": "margin_ratio",
    "stress_shortfall": "stress_shortfall_usd",
    "notional": "notional_usd",
}


def run_accounts(*, run: HealthRun, rank: str = "margin_ratio") -> QuerySet[AccountResult]:
    """Account rows of a run, riskiest first by ``rank`` (a key of :data:`ACCOUNT_RANKINGS`):

    * ``margin_ratio``: margin ratio descending, infinity (NULL) first (§5);
    * ``stress_shortfall``: the account's largest shortfall over the run's gap scenarios
      descending (§8, §9); accounts where it is not computed (NULL) are left out;
    * ``notional``: gross position notional descending (NULL, runs stored before it, left out).

    Ties in account order; an index scan on ``(run, column)`` each. Unknown ``rank`` raises
    ``ValueError``.
    """
    qs = AccountResult.objects.filter(run=run)
    if rank == "margin_ratio":
        return qs.order_by(F("margin_ratio").desc(nulls_first=True), "account_idx")
    column = ACCOUNT_RANKINGS.get(rank)
    if column is None:
        raise ValueError(f"unknown ranking {rank!r}: one of {', '.join(ACCOUNT_RANKINGS)}")
    return qs.filter(**{f"{column}__isnull": False}).order_by(F(column).desc(), "account_idx")


def run_scenarios(*, run: HealthRun) -> QuerySet[ScenarioResult]:
    """Scenario rows of a run in scenario order."""
    return ScenarioResult.objects.filter(run=run).order_by("idx")


def freshness_limits() -> FreshnessLimits:
    """The staleness limits in hours (:data:`STALE_AFTER_HOURS`, :data:`MAX_PRICE_AGE_HOURS`,
    overridden by the settings named there): declared once for pages, reports and alerts."""
    run_hours = getattr(settings, "RISKGOV_REPORT_MAX_RUN_AGE_HOURS", None)
    price_hours = getattr(settings, "RISKGOV_REPORT_MAX_PRICE_AGE_HOURS", None)
    return FreshnessLimits(
        run_hours=STALE_AFTER_HOURS if run_hours is None else float(run_hours),
        price_hours=MAX_PRICE_AGE_HOURS if price_hours is None else float(price_hours),
    )


def totals_of(run: HealthRun) -> RunTotals:
    """The totals of a run (counts, USD; coverage ratio ``None`` = infinity)."""
    return RunTotals(
        accounts=run.n_accounts,
        positions=run.n_positions,
        equity_usd=run.equity_usd,
        initial_margin_usd=run.initial_margin_usd,
        maintenance_margin_usd=run.maintenance_margin_usd,
        liquidatable_accounts=run.liquidatable_accounts,
        bankrupt_accounts=run.bankrupt_accounts,
        shortfall_usd=run.shortfall_usd,
        insurance_fund_usd=run.insurance_fund_usd,
        coverage_ratio=run.coverage_ratio,
    )


def tail_of(run: HealthRun) -> RunTail:
    """The tail of a run (§10): α, tail population, VaR/ES/Cover-2 (USD), coverage at ES."""
    return RunTail(
        alpha=run.tail_alpha,
        scenarios=run.tail_scenarios,
        var_usd=run.var_usd,
        es_usd=run.es_usd,
        cover2_usd=run.cover2_usd,
        coverage_at_es=run.coverage_at_es,
    )


def run_totals(run: HealthRun) -> dict[str, Any]:
    """FORMATS.md ``totals`` of a run (``None`` = infinity for the coverage ratio)."""
    return totals_of(run).as_dict()


def run_tail(run: HealthRun) -> dict[str, Any]:
    """FORMATS.md ``tail`` of a run (§10)."""
    return tail_of(run).as_dict()


@dataclass(frozen=True)
class RunComparison:
    """A proposed-parameters run against the current one on the same snapshot (impact, §13).

    Attributes:
        newly_liquidatable: account ids liquidatable under ``proposed`` but not ``current``
            (the first ``limit`` by account index); ``newly_liquidatable_count`` counts all.
        no_longer_liquidatable: the reverse (first ``limit``); ``no_longer_liquidatable_count``.
        delta_initial_margin_usd, delta_maintenance_margin_usd: proposed − current totals.
        scenarios: per scenario name present in both runs: shortfall and coverage of each
            (coverage ``None`` = infinity) and the shortfall difference.
    """

    current_id: int
    proposed_id: int
    newly_liquidatable: list[str]
    no_longer_liquidatable: list[str]
    newly_liquidatable_count: int
    no_longer_liquidatable_count: int
    delta_initial_margin_usd: float
    delta_maintenance_margin_usd: float
    delta_shortfall_usd: float
    scenarios: list[dict[str, Any]]


def run_comparison(current: HealthRun, proposed: HealthRun, *, limit: int = 1000) -> RunComparison:
    """Compare two published runs (normally the latest run and an impact run).

    Raises:
        ValueError: a run is unpublished or the runs are of different snapshots.
    """
    if current.published_at is None or proposed.published_at is None:
        raise ValueError("both runs must be published")
    if current.snapshot_id != proposed.snapshot_id:
        raise ValueError("runs evaluate different snapshots")
    cur_liq = AccountResult.objects.filter(run=current, liquidatable=True)
    new_liq = AccountResult.objects.filter(run=proposed, liquidatable=True)
    newly = new_liq.exclude(account_idx__in=cur_liq.values("account_idx"))
    gone = cur_liq.exclude(account_idx__in=new_liq.values("account_idx"))
    new = newly.order_by("account_idx").values_list("account_id", flat=True)[:limit]
    gone_ids = gone.order_by("account_idx").values_list("account_id", flat=True)[:limit]
    a = {r.name: r for r in run_scenarios(run=current)}
    rows = []
    for r in run_scenarios(run=proposed):
        if r.name not in a:
            continue
        c = a[r.name]
        rows.append(
            {
                "name": r.name,
                "kind": r.kind,
                "current_shortfall_usd": c.shortfall_usd,
                "proposed_shortfall_usd": r.shortfall_usd,
                "delta_shortfall_usd": r.shortfall_usd - c.shortfall_usd,
                "current_coverage_ratio": c.coverage_ratio,
                "proposed_coverage_ratio": r.coverage_ratio,
                "current_liquidatable_accounts": c.liquidatable_accounts,
                "proposed_liquidatable_accounts": r.liquidatable_accounts,
            }
        )
    return RunComparison(
        current_id=current.pk,
        proposed_id=proposed.pk,
        newly_liquidatable=list(new),
        no_longer_liquidatable=list(gone_ids),
        newly_liquidatable_count=newly.count(),
        no_longer_liquidatable_count=gone.count(),
        delta_initial_margin_usd=(proposed.initial_margin_usd or 0.0) - (current.initial_margin_usd or 0.0),
        delta_maintenance_margin_usd=(proposed.maintenance_margin_usd or 0.0) - (current.maintenance_margin_usd or 0.0),
        delta_shortfall_usd=(proposed.shortfall_usd or 0.0) - (current.shortfall_usd or 0.0),
        scenarios=rows,
    )


# --------------------------------------------------------------------------- dashboards

#: the key figures of a run, as stored (FORMATS.md ``totals`` and ``tail`` column names)
KEY_FIGURES = (
    "n_accounts",
    "n_positions",
    "equity_usd",
    "initial_margin_usd",
    "maintenance_margin_usd",
    "liquidatable_accounts",
    "bankrupt_accounts",
    "shortfall_usd",
    "insurance_fund_usd",
    "coverage_ratio",
    "var_usd",
    "es_usd",
    "cover2_usd",
    "coverage_at_es",
)


def published_run(run_id: int | str | None = None, *, with_json: tuple[str, ...] = ()) -> HealthRun | None:
    """A published run by id (any kind), or the latest published run when ``run_id`` is empty.

    The heavy JSON columns (cascade, ADL, recommendations, scenario spec, distributions) are
    deferred except those named in ``with_json``. An unknown, unpublished or malformed id
    gives ``None``: readers never see other runs.
    """
    defer = [f for f in _HEAVY if f not in with_json]
    if run_id in (None, ""):
        return published_runs().defer(*defer).first()
    try:
        pk = int(run_id)
    except (TypeError, ValueError):
        return None
    return published_runs(kinds=None).defer(*defer).filter(pk=pk).first()


def run_history(*, limit: int = 365) -> list[dict[str, Any]]:
    """Key figures of the last ``limit`` published runs of the active parameters, oldest first.

    One indexed query over ``HealthRun`` columns (the heavy JSON columns are not read).
    Each row: ``id``, ``published_at``, ``snapshot_taken_at`` and :data:`KEY_FIGURES`.
    """
    rows = list(
        published_runs().values("id", "published_at", *KEY_FIGURES, snapshot_taken_at=F("snapshot__taken_at"))[:limit]
    )
    rows.reverse()
    return rows


#: the stored columns of an account row (``AccountResult``), as the API and pages show them
ACCOUNT_FIELDS = (
    "account_idx",
    "account_id",
    "equity_usd",
    "initial_margin_usd",
    "maintenance_margin_usd",
    "margin_ratio",
    "liquidatable",
    "bankrupt",
    "shortfall_usd",
    "notional_usd",
    "stress_shortfall_usd",
    "stress_scenario",
)


def run_riskiest_accounts(run: HealthRun, *, limit: int = 200, rank: str = "margin_ratio") -> list[dict[str, Any]]:
    """The ``limit`` riskiest accounts by ``rank`` (``run_accounts``: margin ratio descending,
    ∞ first; stress shortfall or notional descending) — an index scan, never the whole run.
    ``margin_ratio`` ``None`` = ∞ (§5); ``stress_shortfall_usd`` ``None`` = not computed
    (runs stored before it); ``notional_usd`` from the positions when not stored."""
    rows = list(run_accounts(run=run, rank=rank).values(*ACCOUNT_FIELDS)[:limit])
    missing = [r["account_idx"] for r in rows if r["notional_usd"] is None]
    notional = run_account_notionals(run, missing)
    for r in rows:
        if r["notional_usd"] is None:
            r["notional_usd"] = notional.get(r["account_idx"], 0.0)
    return rows


def run_account_notionals(run: HealthRun, account_idxs: list[int]) -> dict[int, float]:
    """Gross position notional (USD, Σ |notional|) of the given accounts of a run: one grouped
    query on the ``(run, account_idx)`` index of the position results."""
    from django.db.models import Sum
    from django.db.models.functions import Abs

    from riskgov.health.models import PositionResult

    if not account_idxs:
        return {}
    qs = (
        PositionResult.objects.filter(run=run, account_idx__in=account_idxs)
        .values("account_idx")
        .annotate(total=Sum(Abs("notional_usd")))
    )
    return {r["account_idx"]: float(r["total"] or 0.0) for r in qs}


def run_account_indexes(run_id: int | None, account_ids: list[str]) -> dict[str, int]:
    """The dense index of each given account id in run ``run_id`` (the key of the account
    page, ``run_account``); ids without a stored row are left out. One query, ``{}`` for none."""
    if run_id is None or not account_ids:
        return {}
    qs = AccountResult.objects.filter(run_id=run_id, account_id__in=account_ids).values_list(
        "account_id", "account_idx"
    )
    return dict(qs)


def run_account(run: HealthRun, account_idx: int | str | None) -> tuple[AccountResult | None, list[dict[str, Any]]]:
    """One account of a run by its dense index (unique index ``(run, account_idx)``) and its
    positions (market symbol, size, notional, IM, MM, liquidation and bankruptcy prices;
    ``None`` price = none, §7). A malformed or unknown index gives ``(None, [])``."""
    from riskgov.health.models import PositionResult

    try:
        idx = int(account_idx)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None, []
    account = AccountResult.objects.filter(run=run, account_idx=idx).first()
    if account is None:  # not among the rows kept in PostgreSQL: the run's result files
        return _account_from_file(run, idx)
    positions = list(
        PositionResult.objects.filter(run=run, account_idx=account.account_idx)
        .order_by("market__symbol", "position_id")
        .values(
            "position_id",
            "size",
            "notional_usd",
            "initial_margin_usd",
            "maintenance_margin_usd",
            "liquidation_price",
            "bankruptcy_price",
            market_symbol=F("market__symbol"),
        )
    )
    return account, positions


def _account_from_file(run: HealthRun, idx: int) -> tuple[AccountResult | None, list[dict[str, Any]]]:
    """``run_account`` for an account whose row is only in the run's result files (an unsaved
    ``AccountResult`` and its positions in the same shape)."""
    from riskgov.health.services.results_file import account_from_file

    row, positions = account_from_file(run, idx)
    if row is None:
        return None, []
    account = AccountResult(run=run, **{k: row.get(k) for k in ACCOUNT_FIELDS})
    account.stress_scenario = account.stress_scenario or ""
    keys = ("position_id", "size", "notional_usd", "initial_margin_usd", "maintenance_margin_usd")
    out = [
        {
            **{k: p[k] for k in keys},
            "liquidation_price": p["liquidation_price"],
            "bankruptcy_price": p["bankruptcy_price"],
            "market_symbol": p["market"],
        }
        for p in positions
    ]
    out.sort(key=lambda p: (p["market_symbol"], p["position_id"]))
    return account, out


#: the stored columns of a scenario row (``ScenarioResult``), in display order
SCENARIO_FIELDS = ScenarioRow.names()


def run_scenario_rows(run: HealthRun) -> list[ScenarioRow]:
    """Every scenario row of a run (:class:`ScenarioRow`, :data:`SCENARIO_FIELDS`), in
    scenario order; ``shock`` is the relative shock (fraction) of ``uniform`` scenarios, else
    ``None`` (§9)."""
    return [ScenarioRow(**r) for r in run_scenarios(run=run).values(*SCENARIO_FIELDS)]


def run_market_rows(run: HealthRun) -> list[dict[str, Any]]:
    """Per market: long/short notional, IM, MM, liquidatable notional (precomputed at run
    time, ``HealthRun.distributions``), riskiest first (liquidatable notional, then MM)."""
    markets = (run.distributions or {}).get("markets", {})
    rows = [{"market": sym, **vals} for sym, vals in markets.items()]
    rows.sort(key=lambda r: (-r["liquidatable_notional_usd"], -r["maintenance_margin_usd"], r["market"]))
    return rows


def runs_in_progress(*, user: Any, limit: int = 10) -> list[dict[str, Any]]:
    """Pending or running runs the user may see, newest first: id, kind, label, progress
    (0–100 %), chunks done/total, start time."""
    return list(
        runs_visible_to(user=user)
        .filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING])
        .values("id", "kind", "label", "status", "progress", "chunks_done", "chunks_total", "created_at")[:limit]
    )


def _first_brackets(version_ids: list[int]) -> dict[int, dict[str, float]]:
    rows = Bracket.objects.filter(version_id__in=version_ids, index=1).values(
        "version_id", "initial_margin_fraction", "maintenance_margin_fraction"
    )
    return {
        r["version_id"]: {"imf": float(r["initial_margin_fraction"]), "mmf": float(r["maintenance_margin_fraction"])}
        for r in rows
    }


def _horizon(key: str, h: dict[str, Any], current_mmf: float | None) -> HorizonHealth:
    """One first-edition horizon (``h1``/``h3``) of a run stored before the liquidation horizon."""
    bt = h.get("backtest") or {}
    check = mmf_check(current_mmf, [h.get("mmf_rec")])
    return HorizonHealth(
        horizon_days=h.get("horizon_days", int(key[1:])),
        mmf_rec=h.get("mmf_rec"),
        imf_rec=h.get("imf_rec"),
        note=h.get("note", ""),
        exceedances=bt.get("exceedances"),
        n=bt.get("n"),
        kupiec_lr=bt.get("kupiec_lr"),
        critical=bt.get("critical"),
        backtest=("fail" if backtest_fails(bt) else "pass") if bt else "—",
        below_recommendation=bool(check and check.below),
    )


def _at_horizon(rec: dict[str, Any]) -> dict[str, Any]:
    """The edition-2 fields of :class:`MarketHealth` from one stored recommendation."""
    bt = rec.get("backtest")
    look = rec.get("lookbacks") or {}
    return {
        "edition": 2,
        "asset": rec.get("asset", ""),
        "horizon_minutes": rec.get("horizon_minutes"),
        "resolution": rec.get("resolution", ""),
        "resolution_minutes": rec.get("resolution_minutes"),
        "source": rec.get("source", ""),
        "beta": rec.get("beta"),
        "lam": rec.get("lambda"),
        "scaling": rec.get("scaling", ""),
        "q_recent": rec.get("q_recent"),
        "q_long": rec.get("q_long"),
        "q": rec.get("q"),
        "floor_binds": bool(rec.get("floor_binds")),
        "recent_days": look.get("recent_days"),
        "n_recent": look.get("n_recent"),
        "long_days": look.get("long_days"),
        "n_long": look.get("n_long"),
        "first": look.get("first", ""),
        "last": look.get("last", ""),
        "brackets": tuple(
            BracketRecommendation(
                **{k: b.get(k) for k in BracketRecommendation.names() if k != "capped"}, capped=bool(b.get("capped"))
            )
            for b in rec.get("brackets") or []
        ),
        "backtest": None
        if not bt
        else HorizonBacktestHealth(
            **{k: bt.get(k) for k in ("n", "exceedances", "expected", "lr", "critical", "threshold", "tol")},
            reject=bool(bt.get("reject")),
            too_many=bool(backtest_fails(bt)),
            too_low=bool(bt.get("too_low")),
        ),
        "verdict": rec.get("verdict", ""),
    }


def market_health(
    rec: dict[str, Any], first_bracket: dict[str, float] | None = None, *, tolerance: float = DEFAULT_MMF_TOLERANCE
) -> MarketHealth:
    """The §12 model health of one stored recommendation (``HealthRun.recommendations``
    item), of either edition (``engine.model_flags``); ``first_bracket`` (``imf``/``mmf``
    fractions) fills a missing current MMF/IMF. The flags are ``engine.model_flags``' (§12:
    tolerance 0.25, backtest flagged only when it rejects with more exceedances than
    expected; the alerts use the same rule)."""
    cur = first_bracket or {}
    current_mmf = rec.get("current_mmf", cur.get("mmf"))
    check = mmf_check(current_mmf, recommended_mmfs(rec), tolerance=tolerance)
    common = {
        "market": rec.get("market"),
        "current_mmf": current_mmf,
        "current_imf": rec.get("current_imf", cur.get("imf")),
        "note": rec.get("note", ""),
        "below_recommendation": bool(check and check.below),
        "backtest_fails": any(backtest_fails(bt) for _, bt in backtests(rec)),
    }
    if edition(rec) >= 2:
        return MarketHealth(**common, horizons=(), **_at_horizon(rec))
    found = [(key, rec[key]) for key in ("h1", "h3") if rec.get(key)]
    return MarketHealth(**common, horizons=tuple(_horizon(key, h, current_mmf) for key, h in found))


def run_model_health(run: HealthRun) -> list[MarketHealth]:
    """§12 per market (:class:`MarketHealth`): current first-bracket MMF/IMF (fractions) of
    the run's versions vs the recommended ones at the market's liquidation horizon (runs
    stored before it: at 1 and 3 days, edition 1), and the Kupiec backtest of the current
    MMF (LR vs ``critical``, :data:`KUPIEC_CRITICAL`).

    Read from ``HealthRun.recommendations`` (stored at finalize). Used by the dashboards and
    the reports (``as_dict()`` in ``Report.figures``); the alerts apply the same flag rule
    (``engine.model_flags.mmf_check``) to the same stored JSON.
    """
    versions = {sym: int(v) for sym, v in (run.market_versions or {}).items()}
    first = _first_brackets(list(versions.values()))
    return [market_health(rec, first.get(versions.get(rec.get("market"), -1))) for rec in run.recommendations or []]


def run_portfolio_margin(run: HealthRun) -> dict[str, Any] | None:
    """A run's portfolio-margin summary (RISK_MODEL §14), ``None`` when it had no PM account:
    ``accounts``, ``options``, ``liquidatable``, ``covered``, ``not_covered`` and per
    underlying (``underlyings``) the venue's Greeks, MM, scenario grid and losses, and the
    riskiest PM accounts' losses — as the run's finalize stored them."""
    return (run.tail or {}).get("portfolio_margin")
