"""Committee UI views: thin, read through selectors, every page needs a role."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Max, Min
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from riskgov.core.roles import ANALYST, can_view, has_role
from riskgov.markets.models import Asset, DailyClose
from riskgov.parameters import selectors as param_selectors
from riskgov.parameters.models import MARKET_FIELDS, MarketParameterVersion, VersionStatus
from riskgov.presentation import formats
from riskgov.web.forms import ChangeForm


def _require_viewer(request: HttpRequest) -> None:
    if not can_view(request.user):
        raise PermissionDenied("You have no riskgov role yet; ask an administrator.")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Venue overview (the health figures join here once health runs exist)."""
    _require_viewer(request)
    span = DailyClose.objects.aggregate(first=Min("date"), last=Max("date"))
    return render(
        request,
        "web/home.html",
        {
            "active_markets": param_selectors.active_market_versions().count(),
            "assets": Asset.objects.count(),
            "drafts": MarketParameterVersion.objects.filter(status=VersionStatus.DRAFT).count(),
            "closes": DailyClose.objects.count(),
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
    for name in MARKET_FIELDS:
        form_field = ChangeForm.base_fields.get(name)
        label = form_field.label if form_field is not None and form_field.label else None
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
