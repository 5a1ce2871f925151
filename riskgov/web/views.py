"""Committee UI views: thin, read through selectors, every page needs a role."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Max, Min
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from riskgov.core.roles import ANALYST, can_view, has_role
from riskgov.core.subjects import subject_kind
from riskgov.markets.models import Asset, DailyClose
from riskgov.parameters import selectors as param_selectors
from riskgov.parameters.models import MARKET_FIELDS, MarketParameterVersion, VersionStatus
from riskgov.presentation import formats
from riskgov.presentation.formats import count


def _require_viewer(request: HttpRequest) -> None:
    if not can_view(request.user):
        raise PermissionDenied("You have no riskgov role yet; ask an administrator.")


def _headline(run) -> dict | None:
    """The health headline of the latest published run: a few figures, each judged against
    the venue-wide alert rules (``alerts.selectors.figure_thresholds``), and its freshness."""
    from django.utils import timezone

    from riskgov.alerts.models import AlertKind
    from riskgov.alerts.selectors import figure_thresholds
    from riskgov.presentation import formats as f
    from riskgov.snapshots.selectors import snapshot_price_age

    if run is None:
        return None
    limits = figure_thresholds()
    liq_share = run.liquidatable_accounts / run.n_accounts if run.n_accounts else None

    def judged(kind, value):
        t = limits.get(kind)
        if t is None:
            return None, ""
        bad = t.breached(value)
        if bad is None:
            return None, ""
        limit = f.ratio(t.threshold) if kind == AlertKind.COVERAGE_AT_ES else f.share(t.threshold)
        side = "below" if t.bad_when == "below" else "above"
        return ("bad" if bad else "ok"), (f"alert when {side} {limit}")

    cov_status, cov_note = judged(AlertKind.COVERAGE_AT_ES, run.coverage_at_es)
    liq_status, liq_note = judged(AlertKind.LIQUIDATABLE_ACCOUNTS, liq_share)
    figures = [
        {
            "id": "home-equity",
            "label": "Equity",
            "value": f.money(run.equity_usd),
            "note": f"{f.count(run.n_accounts)} accounts",
        },
        {
            "id": "home-liquidatable",
            "label": "Liquidatable accounts",
            "value": f.count(run.liquidatable_accounts),
            "note": f"{f.share(liq_share)} of accounts" + (f"; {liq_note}" if liq_note else ""),
            "status": liq_status,
        },
        {
            "id": "home-es",
            "label": f"ES {run.tail_alpha or 0.99:.1%}",
            "value": f.money(run.es_usd),
            "note": "expected shortfall, historical",
        },
        {"id": "home-fund", "label": "Insurance fund", "value": f.money(run.insurance_fund_usd), "note": ""},
        {
            "id": "home-coverage",
            "label": "Coverage at ES",
            "value": f.ratio(run.coverage_at_es),
            "note": "fund / ES" + (f"; {cov_note}" if cov_note else ""),
            "status": cov_status,
        },
    ]
    bad = [x["label"] for x in figures if x.get("status") == "bad"]
    return {
        "run": run,
        "figures": figures,
        "verdict": ("Outside the alert thresholds: " + ", ".join(bad)) if bad else "Within the alert thresholds",
        "verdict_status": "bad" if bad else "ok",
        "freshness": snapshot_price_age(snapshot=run.snapshot, now=timezone.now()),
    }


def _firing_groups(firings) -> list[dict]:
    """Open firings grouped by rule: a venue-wide rule with its message, a per-market rule
    with how many markets and which (the home page stays short when every market fires)."""
    groups: dict[int, dict] = {}
    for f in firings:
        g = groups.setdefault(f.rule_id, {"rule": f.rule.name, "since": f.fired_at, "subjects": [], "message": ""})
        g["since"] = min(g["since"], f.fired_at)
        if f.subject:
            g["subjects"].append(f.subject)
        else:
            g["message"] = f.message
    return list(groups.values())


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The committee's start: the health headline of the latest published run, the alerts
    firing, the proposals awaiting my vote and the next activations; then the venue's data."""
    from riskgov.alerts.selectors import active_firings
    from riskgov.core.roles import COMMITTEE, has_role
    from riskgov.governance.selectors import proposals_awaiting_vote, proposals_next_activations
    from riskgov.health.selectors import latest_published_run

    _require_viewer(request)
    span = DailyClose.objects.aggregate(first=Min("date"), last=Max("date"))
    member = has_role(request.user, COMMITTEE)
    return render(
        request,
        "web/home.html",
        {
            "headline": _headline(latest_published_run()),
            "firing_groups": _firing_groups(active_firings()),
            "firing_count": active_firings().count(),
            "is_member": member,
            "awaiting": list(proposals_awaiting_vote(member=request.user)[:10]) if member else [],
            "activations": list(proposals_next_activations()),
            "active_markets": param_selectors.active_market_versions().count(),
            "assets": Asset.objects.count(),
            "drafts": MarketParameterVersion.objects.filter(status=VersionStatus.DRAFT).count(),
            "closes": count(DailyClose.objects.count()),
            "first_close": span["first"],
            "last_close": span["last"],
            "references": param_selectors.reference_imports().only("name", "venue", "created_at", "document"),
        },
    )


@login_required
def parameters(request: HttpRequest) -> HttpResponse:
    """The active version of every market."""
    _require_viewer(request)
    return render(request, "web/parameters.html", {"versions": param_selectors.active_market_versions()})


@login_required
def market_version(request: HttpRequest, pk: int) -> HttpResponse:
    """One version: its brackets, its diff from the version before it, the market's history."""
    _require_viewer(request)
    version = get_object_or_404(param_selectors.market_versions(), pk=pk)
    previous = (
        param_selectors.market_versions()
        .filter(market=version.market, number__lt=version.number)
        .order_by("-number")
        .first()
    )
    diff = [c.as_dict() for c in param_selectors.market_version_diff(previous, version)] if previous else []
    history = MarketParameterVersion.objects.filter(market=version.market).order_by("-number")
    return render(
        request,
        "web/market_version.html",
        {
            "version": version,
            "previous": previous,
            "diff": diff,
            "history": history,
            "fields": _market_field_rows(version),
            "can_propose": has_role(request.user, ANALYST),
        },
    )


def _market_field_rows(version: MarketParameterVersion) -> list[tuple[str, str]]:
    """Every market-level field of a version (penalty, depth, OI caps, max position…),
    labelled by the model and formatted by the one presentation rule; generic over
    ``MARKET_FIELDS`` so a new field appears without touching the page."""
    rows = []
    labels = {f.name: f.label for f in subject_kind("market").form_fields}
    for name in MARKET_FIELDS:
        label = labels.get(name)
        label = (label or str(MarketParameterVersion._meta.get_field(name).verbose_name).capitalize()).replace(
            " (fraction)", ""
        )
        value = getattr(version, name)
        if name.endswith("_usd") or "_usd_" in name:
            shown = formats.money(value) if value is not None else "unlimited"
            if name.startswith("oi_cap") and value is not None and not value:
                shown = "0 (no OI scaling)"
        elif name.endswith("_minutes"):
            shown = formats.count(value)
        else:
            shown = formats.fraction(value)
        rows.append((label, shown))
    return rows
