"""The margin simulator page (``/margin/simulator/``): an analyst builds one account's book —
underlyings, collateral, perps and options, legs added and removed in the page — and sees its
portfolio margin (RISK_MODEL §14) with the active PM parameters, the loss grid as a heat map,
and, when a PM proposal is chosen, the same book under the proposal's parameters side by side.
Also the PM version page (``/margin/pm-versions/<pk>/``), the ``pm`` kind's version page
linked from proposals.

A Django page (not Dash): it is a form the user edits and posts, like the proposal forms;
the page computes nothing itself — it builds a ``riskgov.margin_request/1`` document and calls
the same service as the API (:func:`riskgov.portfolio.simulation.margin_simulate`). Who:
analysts, committee members and admins, as the API.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from riskgov.core.access import forbidden, role_required
from riskgov.core.roles import has_role
from riskgov.engine.margin_simulation import REQUEST_FORMAT
from riskgov.parameters.validation import decimal_str
from riskgov.portfolio.models import PMParameterVersion
from riskgov.portfolio.selectors import pm_version_diff
from riskgov.portfolio.simulation import (
    SIMULATOR_ROLES,
    MarginRequestError,
    margin_simulate,
    pm_proposals_open,
    proposal_pm_params,
)
from riskgov.presentation import formats as fmt
from riskgov.presentation import margin as pres

#: (section, request key, columns); a column is (name, label, kind)
SECTIONS: tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...] = (
    ("und", "underlyings", (("asset", "Asset", "text"), ("price", "Price (USD)", "text"), ("rate", "Rate", "text"))),
    (
        "col",
        "collateral",
        (
            ("asset", "Asset", "text"),
            ("amount", "Amount", "text"),
            ("price", "Price (USD, optional)", "text"),
            ("haircut", "Haircut (optional)", "text"),
        ),
    ),
    (
        "perp",
        "perps",
        (
            ("market", "Market", "text"),
            ("underlying", "Underlying", "text"),
            ("size", "Size (base, signed)", "text"),
            ("entry_price", "Entry price", "text"),
        ),
    ),
    (
        "opt",
        "options",
        (
            ("underlying", "Underlying", "text"),
            ("expiry", "Expiry (UTC)", "text"),
            ("strike", "Strike", "text"),
            ("kind", "Kind", "kind"),
            ("size", "Size (base, signed)", "text"),
            ("mark_iv", "Mark IV (fraction)", "text"),
        ),
    ),
)
OPTIONAL = {("underlyings", "rate"), ("collateral", "price"), ("collateral", "haircut")}


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _example() -> dict[str, list[dict[str, str]]]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    expiry = _iso((now + timedelta(days=30)).replace(hour=8, minute=0))
    return {
        "as_of": _iso(now),
        "und": [{"asset": "BTC", "price": "100000", "rate": ""}],
        "col": [{"asset": "USDC", "amount": "20000", "price": "", "haircut": ""}],
        "perp": [{"market": "BTC-PERP", "underlying": "BTC", "size": "1", "entry_price": "95000"}],
        "opt": [
            {"underlying": "BTC", "expiry": expiry, "strike": "110000", "kind": "call", "size": "-1", "mark_iv": "0.55"}
        ],
    }


def _rows_from_post(post: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"as_of": post.get("as_of", "").strip()}
    for sec, _, cols in SECTIONS:
        values = [post.getlist(f"{sec}-{name}") for name, _, _ in cols]
        n = max((len(v) for v in values), default=0)
        data[sec] = [
            {name: (v[i].strip() if i < len(v) else "") for (name, _, _), v in zip(cols, values, strict=True)}
            for i in range(n)
        ]
    return data


def _request_from_rows(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """The margin request and, per section, the page row of each request entry (empty rows skipped)."""
    req: dict[str, Any] = {"format": REQUEST_FORMAT, "as_of": data["as_of"]}
    where: dict[str, list[int]] = {}
    for sec, key, cols in SECTIONS:
        entries, rows = [], []
        for i, row in enumerate(data[sec]):
            if not any(row.get(c) for c, _, _ in cols if c != "kind"):
                continue
            entry = {c: row.get(c, "") for c, _, _ in cols if row.get(c) or (key, c) not in OPTIONAL}
            if key == "underlyings":
                entry["pm"] = None
            entries.append(entry)
            rows.append(i)
        req[key] = entries
        where[key] = rows
    return req, where


def _error_row(exc: MarginRequestError, where: dict[str, list[int]]) -> tuple[str, int] | None:
    head = exc.path.split(".", 1)[0]
    if "[" not in head:
        return None
    key, _, idx = head.partition("[")
    sec = {k: s for s, k, _ in SECTIONS}.get(key)
    try:
        return (sec, where[key][int(idx.rstrip("]"))]) if sec else None
    except (KeyError, IndexError, ValueError):
        return None


def _view_of(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "account": pres.account_rows(result),
        "underlyings": [
            {"asset": u["asset"], "rows": pres.underlying_rows(u), "grid": pres.loss_grid(u)}
            for u in result["underlyings"]
        ],
    }


@role_required
def margin_simulator(request: HttpRequest) -> HttpResponse:
    """GET: an example book; POST: simulate the posted book (and compare with a proposal)."""
    if not has_role(request.user, *SIMULATOR_ROLES):
        return forbidden(request, "The margin simulator is for analysts, committee members and admins.")
    proposals = list(pm_proposals_open()[:50])
    ctx: dict[str, Any] = {"proposals": proposals, "sections": SECTIONS, "vols": pres.VOLS}
    data = _rows_from_post(request.POST) if request.method == "POST" else _example()
    chosen = None
    if request.method == "POST" and request.POST.get("proposal"):
        chosen = next((p for p in proposals if str(p.pk) == request.POST["proposal"]), None)
    ctx.update(data=data, chosen=chosen, tables=[(sec, key, cols, data[sec]) for sec, key, cols in SECTIONS])
    if request.method == "POST":
        req, where = _request_from_rows(data)
        try:
            active = margin_simulate(request=req)
            proposed = margin_simulate(request=req, pm=proposal_pm_params(chosen)) if chosen else None
        except MarginRequestError as exc:
            ctx.update(error=f"invalid request: {exc}", error_row=_error_row(exc, where))
            return render(request, "web/margin_simulator.html", ctx, status=400)
        ctx["active"] = _view_of(active)
        if proposed is not None:
            ctx["proposed"] = _view_of(proposed)
            ctx["proposed_title"] = f"Proposal #{chosen.pk} PM parameters"
            ctx["comparison"] = pres.comparison_rows(active, proposed)
    return render(request, "web/margin_simulator.html", ctx)


#: how each PM field is read by people (RISK_MODEL §14)
PM_FIELD_LABELS = (
    ("price_range", "Price range R (largest standard move)", "pct"),
    ("buckets", "Buckets n (moves R·i/n, i = −n..n)", "plain"),
    ("vol_range_up", "Vol range up u", "plain"),
    ("vol_range_down", "Vol range down d", "plain"),
    ("short_term_vega_power", "Short-term vega power p_s (DTE < 30 days)", "plain"),
    ("long_term_vega_power", "Long-term vega power p_l", "plain"),
    ("dte_floor_days", "DTE floor (days)", "plain"),
    ("min_vol_for_shock_up", "Minimum shocked-up vol", "pct"),
    ("mm_factor", "MM factor (MM / IM)", "plain"),
    ("short_option_contingency", "Short-option contingency c_so (of spot per contract)", "pct"),
    ("perp_contingency", "Perp contingency c_p (of spot per unit)", "pct"),
)


@role_required
def pm_version(request: HttpRequest, pk: int) -> HttpResponse:
    """One PM parameter version: its values, extended table or scenario list, its diff from the
    version before it and the underlying's history (any role, like the parameters pages)."""
    version = get_object_or_404(PMParameterVersion.objects.select_related("underlying"), pk=pk)
    history = PMParameterVersion.objects.filter(underlying=version.underlying).order_by("-number")
    previous = history.filter(number__lt=version.number).first()
    rows = []
    for name, label, kind in PM_FIELD_LABELS:
        v = getattr(version, name)
        shown = decimal_str(v) if kind == "plain" else f"{fmt.percent(v, 3)} ({decimal_str(v)})"
        rows.append((label, name, shown))
    return render(
        request,
        "web/pm_version.html",
        {
            "version": version,
            "rows": rows,
            "previous": previous,
            "diff": pm_version_diff(previous, version) if previous else [],
            "history": history,
        },
    )
