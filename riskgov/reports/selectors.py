"""Read queries of reports and alerts: a report's figures come from the **stored** results of
a published run (``HealthRun`` totals/tail, ``ScenarioResult`` rows, ``AccountResult`` by the
``(run, margin_ratio)`` index, ``PositionResult`` sums, ``HealthRun.recommendations``) —
never from the engine. Money in USD (float, as stored); ratios ``None`` = infinity.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Abs, Coalesce

from riskgov.governance.models import Proposal, ProposalKind, ProposalStatus, VoteDecision
from riskgov.health.models import HealthRun, PositionResult, RunKind, RunStatus
from riskgov.health.selectors import (
    freshness_limits,
    latest_published_run,
    run_accounts,
    run_scenarios,
    tail_of,
    totals_of,
)
from riskgov.health.selectors import run_model_health as model_health
from riskgov.presentation.families import HEADLINE_FAMILY, gap_horizon, tail_label
from riskgov.presentation.fields import OVERVIEW_KEYS
from riskgov.reports.models import Report
from riskgov.reports.read_models import (
    AccountRisk,
    FamilyTailSummary,
    MarketRisk,
    RunOverview,
    ScenarioSummary,
    StressTables,
    WorstPath,
)
from riskgov.snapshots.selectors import latest_backtest, snapshot_price_age

#: rows in the "riskiest" tables and in the worst historical windows
TOP_N = 10
#: overview figures compared with the previous report: ``presentation.fields.OVERVIEW_KEYS``
__all__ = ["OVERVIEW_KEYS", "AccountRisk", "MarketRisk", "RunOverview", "ScenarioSummary", "StressTables"]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# --------------------------------------------------------------------------- reports
def reports_list() -> QuerySet[Report]:
    """Every report, newest first (any role may read them)."""
    return Report.objects.select_related("run", "run__snapshot").defer("figures").order_by("-created_at", "-id")


def baseline_report(*, kind: str, before: datetime) -> Report | None:
    """The report a new report of ``kind`` built at ``before`` is compared with ("since the
    previous report"): the latest earlier report **of the same kind** (scheduled vs sent
    now) that was built from a run; if there is none, the latest earlier report of any kind
    built from a run. Reports without a run (nothing was published) or without an overview
    (its figures could not be computed) have nothing to compare with and never become the
    baseline; ``None`` when no report qualifies."""
    with_run = Report.objects.filter(run__isnull=False, figures__has_key="overview", created_at__lt=before).order_by(
        "-created_at", "-id"
    )
    return with_run.filter(kind=kind).first() or with_run.first()


def latest_finished_venue_run() -> HealthRun | None:
    """The newest non-impact run that has finished (succeeded or failed), newest finish first.

    Pending and running runs are not considered: a run in progress neither raises nor clears
    "the latest run failed" (a run without ``finished_at`` is ordered by its creation time).
    """
    return (
        HealthRun.objects.exclude(kind=RunKind.IMPACT)
        .filter(status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED])
        .defer("cascade", "adl", "recommendations", "scenario_spec")
        .order_by(Coalesce("finished_at", "created_at").desc(), "-id")
        .first()
    )


def report_run() -> HealthRun | None:
    """The run a report is built from: the latest published run of the active parameters."""
    return latest_published_run()


def report_gaps(*, run: HealthRun | None, now: datetime) -> list[str]:
    """Why a report from ``run`` is incomplete (empty: it is complete), in words.

    A historical (generated) snapshot's prices are judged against its own date
    (``snapshots.selectors.snapshot_price_age``). Limits: ``health.selectors.freshness_limits()`` — ``RISKGOV_REPORT_MAX_RUN_AGE_HOURS``
    (default 26) since the run's publication and ``RISKGOV_REPORT_MAX_PRICE_AGE_HOURS``
    (default 48) since its snapshot's prices were taken.
    """
    reasons: list[str] = []
    if run is None:
        return ["no health run has been published yet: there are no figures to report"]
    limits = freshness_limits()
    max_run, max_price = limits.run_hours, limits.price_hours
    age = (now - run.published_at).total_seconds() / 3600 if run.published_at else float("inf")
    if age > max_run:
        reasons.append(
            f"no fresh health run: the latest published run (#{run.pk}) is {age:,.1f} h old (limit {max_run:g} h)"
        )
    newest = latest_finished_venue_run()
    if newest is not None and newest.pk != run.pk and newest.status == RunStatus.FAILED:
        reasons.append(f"the latest health run (#{newest.pk}) failed: {newest.error[:200] or 'unknown error'}")
    price_age = snapshot_price_age(snapshot=run.snapshot, now=now).hours  # historical: its own date
    if price_age > max_price:
        reasons.append(
            f"stale prices: the run's snapshot prices were taken at {run.snapshot.taken_at:%Y-%m-%d %H:%M} UTC, "
            f"{price_age:,.1f} h ago (limit {max_price:g} h)"
        )
    return reasons


def _market_sums(run: HealthRun) -> dict[str, dict[str, float]]:
    """Per market: open interest, MM, liquidatable open interest (USD) and positions.

    Read from the sums the run stored at finalize (``HealthRun.distributions``); runs without
    them are aggregated from their position rows. "Liquidatable" is per position: its cross
    account is liquidatable (§5), or the isolated position itself is (§6).
    """
    markets = (run.distributions or {}).get("markets")
    if markets:
        return {
            sym: {
                "open_interest_usd": m["long_notional_usd"] + m["short_notional_usd"],
                "maintenance_margin_usd": m["maintenance_margin_usd"],
                "liquidatable_oi_usd": m["liquidatable_notional_usd"],
                "positions": int(m["positions"]),
            }
            for sym, m in markets.items()
        }
    rows = (
        PositionResult.objects.filter(run=run)
        .values(symbol=F("market__symbol"))
        .annotate(
            positions=Count("id"),
            open_interest_usd=Sum(Abs("notional_usd")),
            maintenance_margin_usd=Sum("maintenance_margin_usd"),
            liquidatable_oi_usd=Sum(Abs("notional_usd"), filter=Q(liquidatable=True)),
        )
    )
    return {
        r["symbol"]: {
            "open_interest_usd": float(r["open_interest_usd"] or 0.0),
            "maintenance_margin_usd": float(r["maintenance_margin_usd"] or 0.0),
            "liquidatable_oi_usd": float(r["liquidatable_oi_usd"] or 0.0),
            "positions": r["positions"],
        }
        for r in rows
    }


def run_liquidatable_oi(run: HealthRun) -> tuple[float, float]:
    """(notional of liquidatable positions, total notional), USD, from stored results."""
    sums = _market_sums(run).values()
    return sum(m["liquidatable_oi_usd"] for m in sums), sum(m["open_interest_usd"] for m in sums)


def run_overview(run: HealthRun) -> RunOverview:
    """Totals (FORMATS ``totals``) + tail (§10) + liquidatable shares of accounts and of OI."""
    tail = {k: v for k, v in tail_of(run).as_dict().items() if k != "scenarios"}
    liq_oi, total_oi = run_liquidatable_oi(run)
    n = run.n_accounts or 0
    return RunOverview(
        **totals_of(run).as_dict(),
        **tail,
        tail_scenarios=run.tail_scenarios,
        open_interest_usd=total_oi,
        liquidatable_oi_usd=liq_oi,
        liquidatable_oi_share=liq_oi / total_oi if total_oi > 0 else 0.0,
        liquidatable_accounts_share=(run.liquidatable_accounts or 0) / n if n else 0.0,
        cover2_coverage=(run.tail or {}).get("cover2_coverage"),
        worst_scenario=(run.tail or {}).get("worst_scenario"),
    )


def overview_changes(overview: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """``{key: {"before", "delta"}}`` against the previous report's overview (``None`` when absent)."""
    out: dict[str, Any] = {}
    for key in OVERVIEW_KEYS:
        now_v = overview.get(key)
        before = (previous or {}).get(key)
        delta = now_v - before if isinstance(now_v, int | float) and isinstance(before, int | float) else None
        out[key] = {"before": before, "delta": delta}
    return out


def riskiest_markets(run: HealthRun, *, limit: int = TOP_N) -> list[MarketRisk]:
    """Markets by worst-scenario shortfall (§8 attribution), then liquidatable open interest."""
    worst = {
        m["market"]: m.get("shortfall_longs_usd", 0.0) + m.get("shortfall_shorts_usd", 0.0)
        for m in (run.adl or {}).get("by_market", [])
    }
    out = [
        MarketRisk(
            market=sym,
            positions=m["positions"],
            open_interest_usd=m["open_interest_usd"],
            maintenance_margin_usd=m["maintenance_margin_usd"],
            liquidatable_oi_usd=m["liquidatable_oi_usd"],
            liquidatable_oi_share=m["liquidatable_oi_usd"] / m["open_interest_usd"]
            if m["open_interest_usd"] > 0
            else 0.0,
            worst_scenario_shortfall_usd=float(worst.get(sym, 0.0)),
        )
        for sym, m in _market_sums(run).items()
    ]
    out.sort(key=lambda m: (-m.worst_scenario_shortfall_usd, -m.liquidatable_oi_usd, m.market))
    return out[:limit]


def riskiest_accounts(run: HealthRun, *, limit: int = TOP_N) -> list[AccountRisk]:
    """Accounts by margin ratio descending, infinity first (the ``(run, margin_ratio)`` index)."""
    return [AccountRisk(**r) for r in run_accounts(run=run).values(*AccountRisk.names())[:limit]]


#: the regular historical gap windows ("hist 1d 2020-03-12"); crash days are named, not windows
_WINDOW = Q(kind="historical", name__startswith="hist ")


def _summaries(qs: QuerySet[Any]) -> tuple[ScenarioSummary, ...]:
    cols = [f for f in ScenarioSummary.names() if f != "horizon"]
    return tuple(ScenarioSummary(**r, horizon=gap_horizon(r["kind"], r["step_minutes"])) for r in qs.values(*cols))


def stress_tables(run: HealthRun, *, limit: int = TOP_N) -> StressTables:
    """The gap scenarios, apart (§9): every standard gap scenario (uniform, named crash days,
    per-asset), the worst windows of the gap tail (the 1-day historical gaps, §10) and their
    count, and the worst other historical windows (3-day gaps, outside every tail) and their
    count. Path families are reported by their tails (``family_tails``)."""
    scen = run_scenarios(run=run).filter(family="gap")
    tail = scen.filter(_WINDOW, in_tail=True)
    other = scen.filter(_WINDOW, in_tail=False)
    gap = next((t for t in run.tails or [] if t.get("family") == "gap"), None)
    worst = ("-shortfall_usd", "idx")
    return StressTables(
        standard=_summaries(scen.exclude(_WINDOW)),
        historical_worst=_summaries(tail.order_by(*worst)[:limit]),
        historical_count=tail.count(),
        other_windows_worst=_summaries(other.order_by(*worst)[:limit]),
        other_windows_count=other.count(),
        tail_label=tail_label(gap) if gap else "gaps",
    )


def family_tails(run: HealthRun) -> list[FamilyTailSummary]:
    """Each scenario family's stored tail (§10, ``HealthRun.tails``, never pooled), named with
    its horizon; a run stored before families has one ``gap`` entry from its ``tail``."""
    stored = list(run.tails or [])
    if not stored:
        t = tail_of(run).as_dict()
        stored = [{"family": "gap", **t, "label": (run.tail or {}).get("population") or "gaps"}]
    head = HEADLINE_FAMILY if any(t["family"] == HEADLINE_FAMILY for t in stored) else stored[0]["family"]
    return [
        FamilyTailSummary(
            family=t["family"],
            label=tail_label(t),
            horizon_minutes=t.get("horizon_minutes"),
            headline=t["family"] == head,
            alpha=t.get("alpha") or 0.99,
            scenarios=t.get("scenarios") or 0,
            var_usd=t.get("var_usd") or 0.0,
            es_usd=t.get("es_usd") or 0.0,
            cover2_usd=t.get("cover2_usd") or 0.0,
            coverage_at_es=t.get("coverage_at_es"),
            cover2_coverage=t.get("cover2_coverage"),
            mean_shortfall_usd=t.get("mean_shortfall_usd") or 0.0,
            worst_shortfall_usd=t.get("worst_shortfall_usd") or 0.0,
            worst_scenario=t.get("worst_scenario"),
            mean_interpolated_share=t.get("mean_interpolated_share") or 0.0,
            distribution=t.get("distribution"),
        )
        for t in stored
    ]


def worst_path(run: HealthRun) -> WorstPath | None:
    """The worst 1-day historical path of the run (``HealthRun.replay``), or ``None``."""
    r = run.replay or {}
    if not r.get("scenario"):
        return None
    by_step = r.get("shortfall_by_step_usd") or []
    step = int(r.get("worst_step") or 0)
    return WorstPath(
        label=r.get("label") or "1-day paths",
        scenario=r["scenario"],
        start=str(r.get("start") or ""),
        steps=int(r.get("steps") or len(by_step)),
        step_minutes=int(r.get("step_minutes") or 60),
        shortfall_usd=float(r.get("shortfall_usd") or 0.0),
        worst_step=step,
        worst_step_shortfall_usd=float(by_step[step - 1]) if 0 < step <= len(by_step) else 0.0,
        interpolated_share=float(r.get("interpolated_share") or 0.0),
        start_utc=_utc_minute(str(r.get("start") or "")),
    )


def _utc_minute(stamp: str) -> str:
    """``"2021-05-19T00"`` / ``"2021-05-19T00:00Z"`` → ``"2021-05-19 00:00"`` (as stored, no parsing of zones)."""
    day, _, rest = stamp.partition("T")
    hh, _, mm = rest.rstrip("Z").partition(":")
    return f"{day} {hh or '00'}:{(mm or '00')[:2]}" if day else ""


def proposals_awaiting(*, now: datetime) -> list[dict[str, Any]]:
    """Submitted proposals awaiting votes and emergency changes awaiting ratification."""
    qs = (
        Proposal.objects.filter(
            Q(status=ProposalStatus.SUBMITTED)
            | Q(status=ProposalStatus.ACTIVE, kind=ProposalKind.EMERGENCY, ratify_by__isnull=False)
        )
        .annotate(
            approvals=Count("votes", filter=Q(votes__decision=VoteDecision.APPROVE)),
            rejections=Count("votes", filter=Q(votes__decision=VoteDecision.REJECT)),
        )
        .order_by("created_at")
    )
    return [
        {
            "id": p.pk,
            "title": p.title,
            "kind": p.kind,
            "status": p.status,
            "proposer": p.proposer_name,
            "submitted_at": _iso(p.submitted_at),
            "deadline": _iso(p.ratify_by if p.kind == ProposalKind.EMERGENCY else p.expires_at),
            "approvals": p.approvals,
            "rejections": p.rejections,
            "impact": _impact_sections(p.impact),
        }
        for p in qs
    ]


#: What the report keeps of a proposal's frozen impact (RISK_MODEL §15): both sides and the frontier.
IMPACT_KEYS = (
    "changed_markets",
    "changed_underlyings",
    "cost",
    "protection",
    "frontier",
    "note",
    "impact_note",
    "error",
)


def _impact_sections(impact: Any) -> dict[str, Any] | None:
    """The §15 part of a frozen impact document (``None`` while none is frozen); the frozen
    figures as they are, never recomputed."""
    if not isinstance(impact, dict) or not impact:
        return None
    return {k: impact[k] for k in IMPACT_KEYS if k in impact}


def changes_activated(*, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Proposals whose parameter versions became active in ``(since, until]``."""
    qs = (
        Proposal.objects.filter(activated_at__gt=since, activated_at__lte=until)
        .prefetch_related("changes")
        .order_by("activated_at")
    )
    return [
        {
            "id": p.pk,
            "title": p.title,
            "kind": p.kind,
            "status": p.status,
            "activated_at": _iso(p.activated_at),
            "subjects": [c.subject for c in p.changes.all()],
        }
        for p in qs
    ]


def liquidation_backtest_summary() -> dict[str, Any] | None:
    """The latest stored liquidation backtest for the report: totals, the MMF sensitivity
    and the three worst misses (largest equity error), JSON-able; ``None`` when none."""
    bt = latest_backtest()
    if bt is None:
        return None
    misses = sorted(
        (e for e in bt.events if not e["predicted_liquidatable"]), key=lambda e: -abs(e["equity_error_usd"] or 0)
    )
    return {
        "id": bt.id,
        "source": bt.source,
        "parameters_name": bt.parameters_name,
        "created_at": _iso(bt.created_at),
        "totals": bt.totals,
        "sensitivity": bt.sensitivity,
        "worst_misses": [
            {k: e[k] for k in ("time", "user", "equity_error_usd", "mm_over_reported", "explanation")}
            for e in misses[:3]
        ],
    }


def report_figures(*, run: HealthRun | None, previous: Report | None, now: datetime) -> dict[str, Any]:
    """Everything a report shows, as JSON-able values (stored in ``Report.figures``)."""
    since = previous.created_at if previous else now - timedelta(days=1)
    figures: dict[str, Any] = {
        "generated_at": now.isoformat(),
        "previous_report": {"id": previous.pk, "created_at": _iso(previous.created_at)} if previous else None,
        "governance": {
            "since": since.isoformat(),
            "awaiting_vote": proposals_awaiting(now=now),
            "activated": changes_activated(since=since, until=now),
        },
        "run": None,
        "liquidation_backtest": liquidation_backtest_summary(),
    }
    if run is None:
        return figures
    snap = run.snapshot
    overview = run_overview(run).as_dict()
    prev_overview = (previous.figures or {}).get("overview") if previous else None
    figures.update(
        run={
            "id": run.pk,
            "kind": run.kind,
            "label": run.label,
            "published_at": _iso(run.published_at),
            "parameters_name": run.parameters_name,
            "parameters_version": run.parameters_version,
            "code_version": run.code_version,
            "snapshot": {
                "id": snap.pk,
                "venue": snap.venue,
                "taken_at": _iso(snap.taken_at),
                "generated": snap.generated,
                "freshness": snapshot_price_age(snapshot=snap, now=now).note,
            },
        },
        overview=overview,
        changes=overview_changes(overview, prev_overview),
        previous_run_id=((previous.figures or {}).get("run") or {}).get("id") if previous else None,
        markets=[m.as_dict() for m in riskiest_markets(run)],
        accounts=[a.as_dict() for a in riskiest_accounts(run)],
        stress=stress_tables(run).as_dict(),
        families=[t.as_dict() for t in family_tails(run)],
        worst_path=wp.as_dict() if (wp := worst_path(run)) else None,
        model_health=[m.as_dict() for m in model_health(run)],
        portfolio_margin=portfolio_margin_summary(run),
    )
    return figures


def portfolio_margin_summary(run: HealthRun) -> dict[str, Any] | None:
    """The report's PM section (RISK_MODEL §14): PM accounts, options, liquidatable, what is
    not covered yet, and per underlying the venue's delta, vega, MM, worst scenario and
    riskiest PM account, from the run's stored summary; ``None`` without PM accounts."""
    from riskgov.health.selectors import run_portfolio_margin
    from riskgov.presentation.figures.portfolio import worst_scenario_rows

    pm = run_portfolio_margin(run)
    if not pm:
        return None
    rows = []
    for symbol, b in (pm.get("underlyings") or {}).items():
        worst = worst_scenario_rows(b, 1)
        top = (b.get("riskiest") or [None])[0]
        rows.append(
            {
                "underlying": symbol,
                "accounts": b["units"],
                "delta": b["delta"],
                "vega_usd": b["vega_usd"],
                "maintenance_margin_usd": b["maintenance_margin_usd"],
                "worst_scenario": worst[0]["scenario"] if worst else None,
                "worst_loss_usd": worst[0]["loss_usd"] if worst else None,
                "riskiest_account": top["account_id"] if top else None,
                "riskiest_ratio": top["margin_ratio"] if top else None,
            }
        )
    return {
        "accounts": pm["accounts"],
        "options": pm["options"],
        "liquidatable": pm["liquidatable"],
        "not_covered": pm["not_covered"],
        "underlyings": rows,
    }


def role_members(roles: list[str] | tuple[str, ...]) -> QuerySet[Any]:
    """Active users with an e-mail address in any of ``roles`` (superusers hold every role)."""
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .exclude(email="")
        .filter(Q(groups__name__in=list(roles)) | Q(is_superuser=True))
        .distinct()
        .order_by("pk")
    )


def role_recipients(roles: list[str] | tuple[str, ...]) -> list[Any]:
    """``role_members`` with one user per e-mail address (compared case-insensitively, the
    lowest user id kept): two accounts sharing an address are one recipient."""
    seen: set[str] = set()
    out = []
    for user in role_members(roles):
        key = user.email.strip().lower()
        if key not in seen:
            seen.add(key)
            out.append(user)
    return out
