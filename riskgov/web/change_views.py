"""Proposal and emergency-change forms: validated by the same governance services as the API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from riskgov.core.access import forbidden, role_required
from riskgov.core.exceptions import DomainError, NotAllowed
from riskgov.core.roles import ANALYST, COMMITTEE, has_role
from riskgov.governance import selectors as gov_selectors
from riskgov.governance import services as gov
from riskgov.governance.models import Proposal
from riskgov.markets.models import Asset, Market
from riskgov.parameters import selectors as param_selectors
from riskgov.parameters.models import BRACKET_INPUT_FIELDS, MARKET_FIELDS, VersionStatus
from riskgov.presentation.formats import exact
from riskgov.web import forms as f
from riskgov.web.templatetags.riskgov_format import leverage, pct


# --- change forms -------------------------------------------------------------------------
def _plain(value: Decimal | None) -> str | None:
    """``Decimal('0E-10')`` → ``'0'``, ``300000.0000000000`` → ``'300000'`` (for form inputs)."""
    return None if value is None else format(value.normalize(), "f")


def _version_initial(version: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    fields = {fld: _plain(getattr(version, fld)) for fld in MARKET_FIELDS}
    brackets = [
        {fld: _plain(getattr(b, fld)) for fld in BRACKET_INPUT_FIELDS} for b in version.brackets.order_by("index")
    ]
    return fields, brackets


def _active_market_version(symbol: str) -> Any:
    return (
        param_selectors.market_versions().filter(market__symbol=symbol, status=VersionStatus.ACTIVE).first()
        if symbol
        else None
    )


def _active_haircut(symbol: str) -> Decimal | None:
    if not symbol:
        return None
    a = Asset.objects.filter(symbol=symbol).first()
    v = a.versions.filter(status=VersionStatus.ACTIVE).first() if a else None
    return None if v is None else v.haircut


def _place_errors(
    errors: list[dict[str, Any]], *, form: Any, form_index: list[int]
) -> tuple[list[str], dict[int, list[str]]]:
    """Put each error next to what its structure names — ``{subject, bracket, field, rule,
    message}`` (the one validator's, riskgov.core.subjects.Finding): a bracket row of this
    form's subject, a form field, or else the change/proposal as a whole. Never parses the
    message text. Returns (general errors, bracket row errors by form row)."""
    general: list[str] = []
    rows: dict[int, list[str]] = {}
    data = getattr(form, "cleaned_data", {}) or {}
    mine = {s for s in (data.get("market"), data.get("asset")) if s}
    for e in errors:
        text = f"{e.get('message', '')} [rule: {e.get('rule', '')}]"
        subject, bracket, field = e.get("subject") or "", e.get("bracket"), e.get("field") or ""
        if subject and subject not in mine:
            general.append(text)
        elif isinstance(bracket, int) and 1 <= bracket <= len(form_index):
            rows.setdefault(form_index[bracket - 1], []).append(text)
        elif field in form.fields and field not in ("market", "asset"):
            form.add_error(field, text)
        else:
            general.append(text)
    return general, rows


def _domain_errors(exc: DomainError) -> list[dict[str, Any]]:
    """A refused service call's errors as ``{subject, bracket, field, rule, message}`` dicts."""
    extra = exc.extra or {}
    if extra.get("parameter_errors"):  # the one validator's structure (parameter services)
        return [{**e, "message": f"{e['subject']} {e['field']}: {e['message']}"} for e in extra["parameter_errors"]]
    if extra.get("errors") and all(isinstance(e, dict) for e in extra["errors"]):
        return list(extra["errors"])
    if isinstance(extra.get("fields"), dict):
        out = []
        for field, msgs in extra["fields"].items():
            where = "effective_at" if field == "requested_effective_at" else field
            for msg in msgs:
                out.append({"field": where, "rule": "invalid", "message": f"{field}: {msg}"})
        return out
    if extra.get("errors"):  # e.g. parameter document findings (strings)
        return [{"rule": "invalid", "message": str(e)} for e in extra["errors"]]
    return [{"rule": "refused", "message": exc.message}]


def _current_brackets(version: Any) -> list[dict[str, str]]:
    if version is None:
        return []
    return [
        {
            "floor": exact(b.notional_floor),
            "imf": pct(b.initial_margin_fraction),
            "mmf": pct(b.maintenance_margin_fraction),
            "leverage": leverage(b.initial_margin_fraction),
        }
        for b in version.brackets.order_by("index")
    ]


def _change_page(
    request: HttpRequest,
    *,
    form_class: type[f.ChangeForm],
    initial: dict[str, Any],
    bracket_initial: list[dict[str, Any]],
    submit: Callable[[f.ChangeForm, list[dict[str, Any]]], Proposal],
    context: dict[str, Any],
    success: str,
) -> HttpResponse:
    """GET: the prefilled form; POST: parse, build specs, call ``submit`` (one service)."""
    general: list[str] = []
    row_errors: dict[int, list[str]] = {}
    if request.method == "POST":
        form = form_class(request.POST)
        formset = f.BracketFormSet(request.POST, prefix="brackets")
        if form.is_valid() and formset.is_valid():
            rows, form_index = f.bracket_specs(formset)
            specs = [s for s in (form.market_spec(rows if rows else None), form.asset_spec()) if s is not None]
            # the proposal's other changes stay, unless ticked "remove" or re-entered in the form
            edited = {_spec_key(s) for s in specs} | set(request.POST.getlist("remove_change"))
            specs += [s for s in context.get("kept_specs", []) if _spec_key(s) not in edited]
            try:
                proposal = submit(form, specs)
            except NotAllowed:
                raise
            except DomainError as exc:
                general, row_errors = _place_errors(_domain_errors(exc), form=form, form_index=form_index)
            except ValidationError as exc:
                general = list(exc.messages)
            else:
                messages.success(request, success.format(id=proposal.pk, title=proposal.title))
                return redirect("proposal-detail", pk=proposal.pk)
        if not general and not row_errors and form.is_valid() and formset.is_valid():
            general = ["The change was refused."]
    else:
        form = form_class(initial=initial)
        formset = f.BracketFormSet(initial=bracket_initial, prefix="brackets")
    symbol = form["market"].value() or ""
    active = _active_market_version(symbol)
    bracket_rows = [
        {"form": bf, "errors": row_errors.get(i, []), "number": i + 1} for i, bf in enumerate(formset.forms)
    ]
    return render(
        request,
        "governance/change_form.html",
        {
            "form": form,
            "formset": formset,
            "bracket_rows": bracket_rows,
            "general_errors": general,
            "active": active,
            "active_brackets": _current_brackets(active),
            "active_haircut": _active_haircut(form["asset"].value() or ""),
            **context,
        },
        status=200,
    )


def _prefill_market(symbol: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    version = _active_market_version(symbol)
    if version is None:
        return {}, []
    fields, brackets = _version_initial(version)
    return {"market": symbol, **fields}, brackets


def _change_key(kind: str, subject: str) -> str:
    """``market:BTC-PERP`` — how a change of the proposal is named in the edit page's links."""
    return f"{kind}:{subject}"


def _spec_key(spec: dict[str, Any]) -> str:
    kind = next((k for k in ("market", "asset", "policy") if k in spec), "")
    return _change_key(kind, str(spec.get(kind, "")))


def _typed(request: HttpRequest, form_class: type[f.ChangeForm]) -> dict[str, Any]:
    """What the person had typed before the page reloaded on a market switch (the page's
    script carries every non-market field in the query string). Generic over the form's
    fields: the market's own fields (``MARKET_FIELDS``, whatever they are) come from the
    newly chosen market instead."""
    skip = {"market", *MARKET_FIELDS}
    return {k: request.GET[k] for k in form_class.base_fields if k not in skip and k in request.GET}


def _requested_market(request: HttpRequest) -> str | None:
    """``?market=`` of the request, else the first market by symbol (what the form opens on)."""
    return request.GET.get("market") or Market.objects.order_by("symbol").values_list("symbol", flat=True).first()


@role_required
def proposal_new(request: HttpRequest) -> HttpResponse:
    """An analyst drafts a proposal (``proposal_create``)."""
    if request.method == "GET" and not has_role(request.user, ANALYST):  # a POST is refused by the service
        return forbidden(request, "Creating a proposal needs the analyst role.")
    symbol = _requested_market(request)
    initial, brackets = _prefill_market(symbol or "")
    initial["effective_at"] = (timezone.now() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    asset = request.GET.get("asset", "")
    if asset:
        initial.update(asset=asset, haircut=_plain(_active_haircut(asset)))
    initial.update(_typed(request, f.ProposalForm))

    def submit(form: f.ChangeForm, specs: list[dict[str, Any]]) -> Proposal:
        d = form.cleaned_data
        return gov.proposal_create(
            by=request.user, title=d["title"], rationale=d["rationale"], effective_at=d["effective_at"], changes=specs
        )

    return _change_page(
        request,
        form_class=f.ProposalForm,
        initial=initial,
        bracket_initial=brackets,
        submit=submit,
        context={"heading": "New proposal", "button": "Save draft"},
        success="Proposal #{id} saved as a draft. Check the lint results, then submit it.",
    )


def _specs_of(changes: list[Any]) -> list[dict[str, Any]]:
    """Changes the form does not show, as specs (kept as they are on save)."""
    return [c.subject_kind.spec_of(c.subject, c.version) for c in changes]


@role_required
def proposal_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """An author edits a proposal (``proposal_update``); an edit after submission sends it
    back to draft and drops its votes (the service does, and says so)."""
    p = get_object_or_404(Proposal, pk=pk)
    if request.method == "GET" and not gov_selectors.proposal_allowed_actions(p, request.user).edit:
        return forbidden(request, "Only the proposer or a co-author (analyst role) may edit a proposal.")
    changes = gov_selectors.proposal_changes(p)
    symbol = request.GET.get("market")
    asset = request.GET.get("asset")
    # The form edits one market change and one asset change at a time: the one named by
    # ?market= / ?asset= (a change of the proposal, or a new one from the active values),
    # else the first. Every other change is listed with a link to edit it and a "remove" box.
    markets = [c for c in changes if c.kind == "market"]
    assets = [c for c in changes if c.kind == "asset"]
    market_change = next(
        (c for c in markets if c.subject == symbol), None if symbol is not None else next(iter(markets), None)
    )
    asset_change = next((c for c in assets if c.subject == asset), None if asset else next(iter(assets), None))
    kept = [c for c in changes if c is not market_change and c is not asset_change]
    initial: dict[str, Any] = {
        "title": p.title,
        "rationale": p.rationale,
        "effective_at": p.requested_effective_at,
    }
    brackets: list[dict[str, Any]] = []
    if market_change is not None:
        fields, brackets = _version_initial(market_change.version)
        initial.update(market=market_change.subject, **fields)
    elif symbol:  # a market the proposal does not change yet: start from its active values
        m_initial, brackets = _prefill_market(symbol)
        initial.update(m_initial)
    if asset_change is not None:
        initial.update(asset=asset_change.subject, haircut=_plain(asset_change.version.haircut))
    elif asset:
        initial.update(asset=asset, haircut=_plain(_active_haircut(asset)))
    initial.update(_typed(request, f.ProposalForm))
    kept_rows = [
        {"change": c, "key": _change_key(c.kind, c.subject), "param": c.kind if c.kind in ("market", "asset") else ""}
        for c in kept
    ]

    def submit(form: f.ChangeForm, specs: list[dict[str, Any]]) -> Proposal:
        d = form.cleaned_data
        return gov.proposal_update(
            proposal=p,
            by=request.user,
            title=d["title"],
            rationale=d["rationale"],
            effective_at=d["effective_at"],
            changes=specs,
            comment="edited in the web UI",
        )

    return _change_page(
        request,
        form_class=f.ProposalForm,
        initial=initial,
        bracket_initial=brackets,
        submit=submit,
        context={
            "heading": f"Edit proposal #{p.pk}",
            "button": "Save changes",
            "proposal": p,
            "kept": kept_rows,
            "kept_specs": _specs_of(kept),
        },
        success="Proposal #{id} saved.",
    )


@role_required
def emergency_new(request: HttpRequest) -> HttpResponse:
    """A committee member activates a stricter-only change at once (``emergency_change``)."""
    if request.method == "GET" and not has_role(request.user, COMMITTEE):  # a POST is refused by the service
        return forbidden(request, "An emergency change needs the committee role.")
    symbol = _requested_market(request)
    initial, brackets = _prefill_market(symbol or "")
    initial["title"] = "Emergency change"

    def submit(form: f.ChangeForm, specs: list[dict[str, Any]]) -> Proposal:
        d = form.cleaned_data
        return gov.emergency_change(by=request.user, title=d["title"], rationale=d["rationale"], changes=specs)

    return _change_page(
        request,
        form_class=f.EmergencyForm,
        initial=initial,
        bracket_initial=brackets,
        submit=submit,
        context={"heading": "Emergency change", "button": "Activate now", "emergency": True},
        success="Emergency change #{id} is active. The committee must ratify it.",
    )
