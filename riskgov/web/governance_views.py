"""Committee UI for governance: inbox, proposal forms and page, votes, policy, audit log.

Views are thin (STYLE rule 8): parse a form, call one service of
``riskgov.governance.services`` (the same ones the API calls), show its outcome. The
services decide every rule and refuse forbidden actions; a ``NotAllowed`` becomes a 403
page, other ``DomainError``s become messages or errors next to the field they name. The
``can_*`` flags computed here only decide which buttons to show.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_fsm import TransitionNotAllowed

from riskgov.core.exceptions import DomainError, NotAllowed
from riskgov.core.models import AuditEvent
from riskgov.core.roles import ADMIN, ANALYST, COMMITTEE, can_view, has_role
from riskgov.governance import selectors as gov_selectors
from riskgov.governance import services as gov
from riskgov.governance.models import Policy, Proposal, ProposalKind, ProposalStatus, VoteDecision
from riskgov.markets.models import Asset, Market
from riskgov.parameters import selectors as param_selectors
from riskgov.parameters.models import BRACKET_INPUT_FIELDS, MARKET_FIELDS, VersionStatus
from riskgov.web import forms as f
from riskgov.web.templatetags.riskgov_format import leverage, pct

FRACTION_FIELDS = {"liquidation_penalty", "initial_margin_fraction", "maintenance_margin_fraction", "haircut"}
FIELD_LABELS = {
    "liquidation_penalty": "Liquidation penalty",
    "depth_usd_per_1pct": "Depth (USD / 1 %)",
    "oi_cap_lower_usd": "OI cap lower (USD)",
    "oi_cap_upper_usd": "OI cap upper (USD)",
    "max_position_notional_usd": "Max position notional (USD)",
    "notional_floor": "notional floor (USD)",
    "initial_margin_fraction": "IMF",
    "maintenance_margin_fraction": "MMF",
    "maintenance_amount": "maintenance amount (USD)",
    "haircut": "Haircut",
}
AUDIT_PAGE_SIZE = 50
AUDIT_CSV_FIELDS = (
    "id",
    "created_at",
    "actor_id",
    "actor_name",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "from_state",
    "to_state",
    "before",
    "after",
    "comment",
    "request_id",
)


# --- access -------------------------------------------------------------------------------
def _forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "governance/forbidden.html", {"message": message}, status=403)


def role_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login and any riskgov role; a ``NotAllowed`` from a service becomes the 403 page."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_view(request.user):
            return _forbidden(request, "You have no riskgov role yet; ask an administrator.")
        try:
            return view(request, *args, **kwargs)
        except NotAllowed as exc:
            return _forbidden(request, exc.message)

    return wrapped


# --- formatting (presentation only) -------------------------------------------------------
def _money(value: Any) -> str:
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if d == d.to_integral_value():
        return f"{d:,.0f}"
    return f"{d.normalize():,f}"


def _fmt(field: str, value: Any) -> str:
    if value is None:
        return "—"
    return pct(value, 3) if field in FRACTION_FIELDS else _money(value)


def _signed_pct(value: Any) -> str:
    if value is None:
        return ""
    d = Decimal(str(value)) * 100
    return f"{d:+.2f} %"


def _field_label(path: str) -> tuple[str, str]:
    """``brackets[2].initial_margin_fraction`` → ("Bracket 2 · IMF", "initial_margin_fraction")."""
    m = re.fullmatch(r"brackets\[(\d+)\]\.(\w+)", path)
    if m:
        return f"Bracket {m.group(1)} · {FIELD_LABELS.get(m.group(2), m.group(2))}", m.group(2)
    return FIELD_LABELS.get(path, path), path


def _diff_rows(changes: list[Any]) -> list[dict[str, Any]]:
    """For each change: subject, versions and rows (field, before, after, relative change)."""
    out = []
    for c in changes:
        if c.market_version_id:
            diff = param_selectors.market_version_diff(c.base_market_version, c.market_version)
        else:
            diff = param_selectors.asset_version_diff(c.base_asset_version, c.asset_version)
        rows = []
        for fc in diff:
            d = fc.as_dict()
            label, field = _field_label(d["field"])
            lev = ""
            if field == "initial_margin_fraction":
                lev = f"{leverage(d['before']) or '—'} → {leverage(d['after']) or '—'}"
            rows.append(
                {
                    "path": d["field"],
                    "label": label,
                    "before": _fmt(field, d["before"]),
                    "after": _fmt(field, d["after"]),
                    "relative": _signed_pct(d["relative_change"]),
                    "up": d["relative_change"] is not None and Decimal(d["relative_change"]) > 0,
                    "leverage": lev,
                }
            )
        out.append({"change": c, "version": c.version, "base": c.base_version, "rows": rows})
    return out


_PAIRS = (("current", "proposed"), ("before", "after"), ("baseline", "proposed"), ("published", "proposed"))


def _as_number(v: Any) -> Decimal | None:
    if isinstance(v, bool) or v is None or isinstance(v, dict | list):
        return None
    try:
        return Decimal(str(v))
    except (InvalidOperation, ValueError):
        return None


def _impact_row(label: str, cur: Any, new: Any) -> dict[str, Any]:
    a, b = _as_number(cur), _as_number(new)
    delta = ""
    if a is not None and b is not None:
        delta = f"{b - a:+,}"
    show = lambda v: "—" if v is None else (json.dumps(v) if isinstance(v, dict | list) else str(v))  # noqa: E731
    return {"key": label, "current": show(cur), "proposed": show(new), "delta": delta}


def _impact_rows(impact: Any) -> list[dict[str, Any]]:
    """Whatever the frozen impact holds, as rows of (key, current, proposed, change).

    ``{"current": {...}, "proposed": {...}}`` at the top, or ``{"x": {"current": a,
    "proposed": b}}`` anywhere below, pair up; other values show in the proposed column.
    """
    if not impact:
        return []
    rows: list[dict[str, Any]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for a, b in _PAIRS:
                if a in value and b in value:
                    if isinstance(value[a], dict) and isinstance(value[b], dict):
                        for k in list(dict.fromkeys([*value[a], *value[b]])):
                            walk_pair(f"{prefix}.{k}" if prefix else k, value[a].get(k), value[b].get(k))
                    else:
                        rows.append(_impact_row(prefix or "value", value[a], value[b]))
                    rest = {k: v for k, v in value.items() if k not in (a, b)}
                    for k, v in rest.items():
                        walk(f"{prefix}.{k}" if prefix else k, v)
                    return
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            rows.append(_impact_row(prefix or "value", None, value))

    def walk_pair(prefix: str, cur: Any, new: Any) -> None:
        if isinstance(cur, dict) or isinstance(new, dict):
            cur, new = cur or {}, new or {}
            for k in list(dict.fromkeys([*cur, *new])):
                walk_pair(f"{prefix}.{k}", cur.get(k), new.get(k))
        else:
            rows.append(_impact_row(prefix, cur, new))

    walk("", impact)
    return rows


# --- reads --------------------------------------------------------------------------------
def _with_tally(qs: QuerySet[Proposal]) -> QuerySet[Proposal]:
    return qs.annotate(
        n_approvals=Count("votes", filter=Q(votes__decision=VoteDecision.APPROVE), distinct=True),
        n_rejections=Count("votes", filter=Q(votes__decision=VoteDecision.REJECT), distinct=True),
    ).prefetch_related("changes")


def _rows(proposals: Any, policy: Policy, committee_size: int) -> list[dict[str, Any]]:
    out = []
    for p in proposals:
        out.append(
            {
                "p": p,
                "subjects": ", ".join(c.subject for c in p.changes.all()),
                "quorum": gov_selectors.proposal_quorum(p, p.policy or policy),
                "n": committee_size,
                "effective": p.effective_at or p.requested_effective_at,
            }
        )
    return out


def _timeline(p: Proposal) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(object_type=Proposal._meta.label_lower, object_id=str(p.pk)).order_by(
        "created_at", "id"
    )


# --- inbox --------------------------------------------------------------------------------
@role_required
def proposals_inbox(request: HttpRequest) -> HttpResponse:
    """Awaiting my vote (committee), my proposals (analysts), all proposals by status."""
    user = request.user
    policy = gov.policy_current()
    n = gov_selectors.committee_members().count()
    awaiting = mine = None
    if has_role(user, COMMITTEE):
        awaiting = _rows(_with_tally(gov_selectors.proposals_awaiting_vote(member=user)), policy, n)
    if has_role(user, ANALYST):
        qs = Proposal.objects.filter(Q(proposer=user) | Q(co_authors=user)).distinct()
        mine = _rows(_with_tally(qs).select_related("policy")[:50], policy, n)
    status = request.GET.get("status", "")
    qs = Proposal.objects.all()
    if status in ProposalStatus.values:
        qs = qs.filter(status=status)
    page = Paginator(_with_tally(qs).select_related("policy"), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "governance/inbox.html",
        {
            "awaiting": awaiting,
            "mine": mine,
            "all_rows": _rows(page.object_list, policy, n),
            "page": page,
            "status": status,
            "statuses": ProposalStatus.choices,
            "can_create": has_role(user, ANALYST),
            "can_emergency": has_role(user, COMMITTEE),
        },
    )


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


_WHERE = re.compile(r"^(?P<sym>\S+) (?P<rest>.+)$")


def _place_errors(
    errors: list[dict[str, str]], *, form: Any, formset: Any, form_index: list[int]
) -> tuple[list[str], dict[int, list[str]]]:
    """Put each ``{where, rule, message}`` next to what it names: a form field, a bracket
    row, or the change/proposal as a whole. Returns (general errors, bracket row errors)."""
    general: list[str] = []
    rows: dict[int, list[str]] = {}
    market = form.cleaned_data.get("market") if hasattr(form, "cleaned_data") else None
    asset = form.cleaned_data.get("asset") if hasattr(form, "cleaned_data") else None
    for e in errors:
        where, text = e.get("where", ""), f"{e.get('message', '')} [rule: {e.get('rule', '')}]"
        if where in form.fields and where not in ("market", "asset"):
            form.add_error(where, text)
            continue
        m = _WHERE.match(where)
        if m and m.group("sym") in (market, asset):
            rest = m.group("rest")
            b = re.match(r"bracket (\d+)(?: (\w+))?$", rest)
            if b and 1 <= int(b.group(1)) <= len(form_index):
                i = form_index[int(b.group(1)) - 1]
                rows.setdefault(i, []).append(text)
                continue
            if rest in form.fields and rest not in ("market", "asset"):
                form.add_error(rest, text)
                continue
        general.append(text)
    return general, rows


def _domain_errors(exc: DomainError) -> list[dict[str, str]]:
    extra = exc.extra or {}
    if extra.get("errors") and all(isinstance(e, dict) for e in extra["errors"]):
        return list(extra["errors"])
    if isinstance(extra.get("fields"), dict):
        out = []
        for field, msgs in extra["fields"].items():
            where = "effective_at" if field == "requested_effective_at" else field
            for msg in msgs:
                out.append({"where": where, "rule": "invalid", "message": f"{field}: {msg}"})
        return out
    if extra.get("errors"):  # e.g. parameter document findings (strings)
        return [{"where": "", "rule": "invalid", "message": str(e)} for e in extra["errors"]]
    return [{"where": "", "rule": "refused", "message": exc.message}]


def _current_brackets(version: Any) -> list[dict[str, str]]:
    if version is None:
        return []
    return [
        {
            "floor": _money(b.notional_floor),
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
            specs += context.get("kept_specs", [])
            try:
                proposal = submit(form, specs)
            except NotAllowed:
                raise
            except DomainError as exc:
                general, row_errors = _place_errors(
                    _domain_errors(exc), form=form, formset=formset, form_index=form_index
                )
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


@role_required
def proposal_new(request: HttpRequest) -> HttpResponse:
    """An analyst drafts a proposal (``proposal_create``)."""
    if request.method == "GET" and not has_role(request.user, ANALYST):  # a POST is refused by the service
        return _forbidden(request, "Creating a proposal needs the analyst role.")
    symbol = request.GET.get("market") or (Market.objects.order_by("symbol").values_list("symbol", flat=True).first())
    initial, brackets = _prefill_market(symbol or "")
    initial["effective_at"] = (timezone.now() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    asset = request.GET.get("asset", "")
    if asset:
        initial.update(asset=asset, haircut=_plain(_active_haircut(asset)))

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
    out: list[dict[str, Any]] = []
    for c in changes:
        if c.market_version_id:
            fields, brackets = _version_initial(c.market_version)
            out.append({"market": c.subject, **fields, "brackets": brackets})
        else:
            out.append({"asset": c.subject, "haircut": c.asset_version.haircut})
    return out


@role_required
def proposal_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """An author edits a proposal (``proposal_update``); an edit after submission sends it
    back to draft and drops its votes (the service does, and says so)."""
    p = get_object_or_404(Proposal, pk=pk)
    if request.method == "GET" and not gov_selectors.proposal_allowed_actions(p, request.user).edit:
        return _forbidden(request, "Only the proposer or a co-author (analyst role) may edit a proposal.")
    changes = gov_selectors.proposal_changes(p)
    market_change = next((c for c in changes if c.market_version_id), None)
    asset_change = next((c for c in changes if c.asset_version_id), None)
    kept = [c for c in changes if c is not market_change and c is not asset_change]
    initial: dict[str, Any] = {
        "title": p.title,
        "rationale": p.rationale,
        "effective_at": p.requested_effective_at,
    }
    brackets: list[dict[str, Any]] = []
    symbol = request.GET.get("market")
    if symbol is not None:  # the person switched market: start from its active values
        m_initial, brackets = _prefill_market(symbol)
        initial.update(m_initial)
    elif market_change is not None:
        fields, brackets = _version_initial(market_change.market_version)
        initial.update(market=market_change.subject, **fields)
    if asset_change is not None:
        initial.update(asset=asset_change.subject, haircut=_plain(asset_change.asset_version.haircut))

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
            "kept": kept,
            "kept_specs": _specs_of(kept),
        },
        success="Proposal #{id} saved.",
    )


@role_required
def emergency_new(request: HttpRequest) -> HttpResponse:
    """A committee member activates a stricter-only change at once (``emergency_change``)."""
    if request.method == "GET" and not has_role(request.user, COMMITTEE):  # a POST is refused by the service
        return _forbidden(request, "An emergency change needs the committee role.")
    symbol = request.GET.get("market") or (Market.objects.order_by("symbol").values_list("symbol", flat=True).first())
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


# --- proposal page and actions ------------------------------------------------------------
@role_required
def proposal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Status, timeline, parameter diff, lint, frozen impact, votes, allowed actions."""
    p = get_object_or_404(Proposal.objects.select_related("policy", "proposer"), pk=pk)
    user = request.user
    policy = p.policy or gov.policy_current()
    actions = gov_selectors.proposal_allowed_actions(p, user)
    votes = list(p.votes.order_by("created_at"))
    my_vote = next((v for v in votes if v.voter_id == user.pk), None)
    emergency = p.kind == ProposalKind.EMERGENCY
    lint = gov.proposal_lint(p) if p.status == ProposalStatus.DRAFT else []
    return render(
        request,
        "governance/proposal.html",
        {
            "p": p,
            "policy": policy,
            "quorum": gov_selectors.proposal_quorum(p, policy),
            "committee_size": gov_selectors.committee_members().count(),
            "approvals": sum(v.decision == VoteDecision.APPROVE for v in votes),
            "rejections": sum(v.decision == VoteDecision.REJECT for v in votes),
            "timeline": _timeline(p),
            "diffs": _diff_rows(gov_selectors.proposal_changes(p)),
            "lint": lint,
            "impact_rows": _impact_rows(p.impact),
            "votes": votes,
            "my_vote": my_vote,
            "is_author": actions.is_author,
            "can_edit": actions.edit,
            "can_submit": actions.submit,
            "can_withdraw": actions.withdraw,
            "can_vote": actions.vote,
            "emergency": emergency,
            "vote_form": f.VoteForm(initial={"decision": my_vote.decision} if my_vote else None),
            "withdraw_form": f.CommentForm(),
        },
    )


def _act(request: HttpRequest, pk: int, action: Callable[[Proposal], str]) -> HttpResponse:
    """Run one service on the proposal; message the outcome; back to the proposal page."""
    p = get_object_or_404(Proposal, pk=pk)
    try:
        messages.success(request, action(p))
    except NotAllowed:
        raise
    except gov.LintFailed as exc:
        messages.error(request, f"Refused: {len(exc.errors)} lint error(s).")
        for e in exc.errors:
            messages.error(request, f"{e.where}: {e.message} [rule: {e.rule}]")
    except DomainError as exc:
        messages.error(request, f"Refused: {exc.message}")
    except TransitionNotAllowed as exc:
        messages.error(request, f"Refused: {exc}")
    return redirect("proposal-detail", pk=pk)


@require_POST
@role_required
def proposal_submit(request: HttpRequest, pk: int) -> HttpResponse:
    """Submit a draft for votes (``proposal_submit``)."""

    def run(p: Proposal) -> str:
        p = gov.proposal_submit(proposal=p, by=request.user)
        return f"Proposal #{p.pk} submitted ({p.get_kind_display().lower()}); the committee has been notified."

    return _act(request, pk, run)


@require_POST
@role_required
def proposal_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    """The proposer withdraws (``proposal_withdraw``)."""
    form = f.CommentForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else ""

    def run(p: Proposal) -> str:
        p = gov.proposal_withdraw(proposal=p, by=request.user, comment=comment)
        return f"Proposal #{p.pk} withdrawn."

    return _act(request, pk, run)


@require_POST
@role_required
def proposal_vote(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve / reject (ratify / reject an emergency) with a comment (``proposal_vote``)."""
    form = f.VoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose approve or reject.")
        return redirect("proposal-detail", pk=pk)

    def run(p: Proposal) -> str:
        vote = gov.proposal_vote(
            proposal=p, by=request.user, decision=form.cleaned_data["decision"], comment=form.cleaned_data["comment"]
        )
        p.refresh_from_db()
        return f"Your vote ({vote.get_decision_display().lower()}) is recorded; proposal #{p.pk} is {p.get_status_display().lower()}."

    return _act(request, pk, run)


# --- policy -------------------------------------------------------------------------------
@role_required
def policy_page(request: HttpRequest) -> HttpResponse:
    """The policy in force and its history; admins edit it (``policy_update``)."""
    current = gov.policy_current()
    is_admin = has_role(request.user, ADMIN)
    form = f.PolicyForm(initial={fld: getattr(current, fld) for fld in gov.POLICY_FIELDS})
    general: list[str] = []
    if request.method == "POST":
        form = f.PolicyForm(request.POST)
        if form.is_valid():
            try:
                new = gov.policy_update(by=request.user, comment=form.cleaned_data["comment"], **form.policy_values())
            except NotAllowed:
                raise
            except DomainError as exc:
                for e in _domain_errors(exc):
                    if e["where"] in form.fields:
                        form.add_error(e["where"], e["message"])
                    else:
                        general.append(e["message"])
            else:
                messages.success(request, f"Policy version {new.version} is in force.")
                return redirect("policy")
    return render(
        request,
        "governance/policy.html",
        {
            "current": current,
            "history": Policy.objects.order_by("-version"),
            "fields": [
                (Policy._meta.get_field(fld).verbose_name, getattr(current, fld), Policy._meta.get_field(fld).help_text)
                for fld in gov.POLICY_FIELDS
            ],
            "form": form if is_admin or request.method == "POST" else None,
            "general_errors": general,
            "committee_size": gov_selectors.committee_members().count(),
        },
    )


# --- audit --------------------------------------------------------------------------------
def _audit_filter(request: HttpRequest) -> f.AuditEventFilter:
    return f.AuditEventFilter(request.GET or None, queryset=AuditEvent.objects.order_by("-created_at", "-id"))


@role_required
def audit_log(request: HttpRequest) -> HttpResponse:
    """The audit trail, filtered and paged."""
    fs = _audit_filter(request)
    page = Paginator(fs.qs, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    actions = AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct()
    return render(
        request,
        "governance/audit.html",
        {"filter": fs, "page": page, "query": query.urlencode(), "actions": actions},
    )


class _Echo:
    """A file-like object whose ``write`` returns the line (for a streaming CSV)."""

    def write(self, value: str) -> str:
        return value


def _csv_value(event: AuditEvent, field: str) -> Any:
    value = getattr(event, field)
    if field in ("before", "after"):
        return "" if value is None else json.dumps(value, sort_keys=True, default=str)
    if field == "created_at":
        return value.isoformat()
    return "" if value is None else value


@role_required
def audit_export(request: HttpRequest) -> HttpResponse:
    """The filtered audit events as CSV, streamed (every field; before/after as JSON)."""
    fs = _audit_filter(request)
    if fs.is_bound and not fs.form.is_valid():  # never export more than was asked for
        return HttpResponse(f"invalid filter: {fs.form.errors.as_text()}", status=400, content_type="text/plain")
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(AUDIT_CSV_FIELDS)
        for event in fs.qs.iterator(chunk_size=2000):
            yield writer.writerow([_csv_value(event, fld) for fld in AUDIT_CSV_FIELDS])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="riskgov-audit-{stamp}.csv"'
    return response
