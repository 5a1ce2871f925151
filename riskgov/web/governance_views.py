"""Committee UI for governance: inbox, proposal forms and page, votes, policy, audit log.

Views are thin (STYLE rule 8): parse a form, call one service of
``riskgov.governance.services`` (the same ones the API calls), show its outcome. The
services decide every rule and refuse forbidden actions; a ``NotAllowed`` becomes a 403
page, other ``DomainError``s become messages or errors next to the field they name. The
``can_*`` flags computed here only decide which buttons to show.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_fsm import TransitionNotAllowed

from riskgov.core.access import role_required
from riskgov.core.exceptions import DomainError, NotAllowed
from riskgov.core.models import AuditEvent
from riskgov.core.roles import ANALYST, COMMITTEE, has_role
from riskgov.governance import selectors as gov_selectors
from riskgov.governance import services as gov
from riskgov.governance.models import Policy, Proposal, ProposalKind, ProposalStatus, VoteDecision
from riskgov.governance.read_models import proposal_impact
from riskgov.presentation import formats
from riskgov.presentation import impact as impact_presentation
from riskgov.presentation.fields import FRACTION_FIELDS
from riskgov.web import forms as f
from riskgov.web.templatetags.riskgov_format import leverage

#: the committee pages' labels of parameter fields (the kinds come from presentation.fields)
FIELD_LABELS = {
    "liquidation_penalty": "Liquidation penalty",
    "depth_usd_per_1pct": "Depth (USD / 1 %)",
    "oi_cap_lower_usd": "OI cap lower (USD)",
    "oi_cap_upper_usd": "OI cap upper (USD)",
    "max_position_notional_usd": "Max position notional (USD)",
    "liquidation_horizon_minutes": "Liquidation horizon (min)",
    "notional_floor": "notional floor (USD)",
    "initial_margin_fraction": "IMF",
    "maintenance_margin_fraction": "MMF",
    "maintenance_amount": "maintenance amount (USD)",
    "haircut": "Haircut",
}


# --- formatting (presentation only: riskgov.presentation) ----------------------------------
def _fmt(field: str, value: Any) -> str:
    """A stored parameter value: fractions as percent (3 places), the rest exact."""
    if value is None:
        return "—"
    return formats.fraction(value) if field in FRACTION_FIELDS else formats.exact(value)


def _signed_pct(value: Any) -> str:
    """A relative change as a signed percent with 2 places; empty when there is none."""
    return "" if value is None else formats.percent(value, 2, signed=True)


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
        diff = gov_selectors.change_diff(c)
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
        url_name = c.subject_kind.version_url_name
        out.append(
            {
                "change": c,
                "version": c.version,
                "base": c.base_version,
                "rows": rows,
                "version_url": reverse(url_name, args=[c.version_id]) if url_name else "",
            }
        )
    return out


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
    qs = Proposal.objects.order_by("-pk")
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
    impact = proposal_impact(p)
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
            "impact": impact,
            "frontier_csv_url": reverse("proposal-impact-frontier-csv", args=[p.pk]) if impact.frontiers else "",
            "votes": votes,
            "my_vote": my_vote,
            "is_author": actions.is_author,
            "can_edit": actions.edit,
            "can_submit": actions.submit,
            "can_withdraw": actions.withdraw,
            "can_vote": actions.vote,
            "vote_reason": actions.vote_reason,
            "impact_status": gov_selectors.proposal_impact_status(p),
            "emergency": emergency,
            "vote_form": f.VoteForm(initial={"decision": my_vote.decision} if my_vote else None),
            "withdraw_form": f.CommentForm(),
        },
    )


@role_required
def proposal_impact_frontier_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """The §15 frontier points frozen on the proposal as CSV (raw USD; empty with a header
    when the impact holds no frontier)."""
    p = get_object_or_404(Proposal, pk=pk)
    response = HttpResponse(impact_presentation.frontier_csv(p.impact), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="proposal-{p.pk}-frontier.csv"'
    return response


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
        return (
            f"Proposal #{p.pk} submitted ({p.get_kind_display().lower()}); the committee has been notified. "
            "The impact analysis is running; votes open when it is recorded."
        )

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


@role_required
def proposal_impact_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The impact analysis's status partial alone (the proposal page polls it until done)."""
    p = get_object_or_404(Proposal, pk=pk)
    return render(
        request,
        "governance/_impact_status.html",
        {"p": p, "impact_status": gov_selectors.proposal_impact_status(p), "fragment": True},
    )
