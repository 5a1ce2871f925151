"""Read queries for governance: committee, quorum, lint, fast-track findings, inboxes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from riskgov.core.roles import ANALYST, COMMITTEE, has_role
from riskgov.engine.brackets import validate_bracket_table
from riskgov.engine.types import BracketTableError
from riskgov.governance.models import EDITABLE, Policy, Proposal, ProposalChange, ProposalKind, ProposalStatus
from riskgov.governance.policy import (
    FieldDelta,
    LintError,
    MarketTerms,
    effective_at_violations,
    fast_track_violations,
    penalty_violations,
)
from riskgov.parameters.models import (
    BRACKET_INPUT_FIELDS,
    MARKET_FIELDS,
    AssetParameterVersion,
    MarketParameterVersion,
    VersionStatus,
)


def committee_members() -> QuerySet[Any]:
    """Active users in the committee group (n of "k of n")."""
    return get_user_model().objects.filter(is_active=True, groups__name=COMMITTEE).distinct()


def proposal_authors(proposal: Proposal) -> set[int]:
    """User ids of the proposer and co-authors (who may never vote on it)."""
    return {proposal.proposer_id, *proposal.co_authors.values_list("pk", flat=True)}


def proposal_quorum(proposal: Proposal, policy: Policy) -> int:
    """Approvals needed: the fast-track quorum for fast-track proposals, else the normal one
    (emergency ratification uses the normal quorum)."""
    return policy.fast_track_quorum if proposal.kind == ProposalKind.FAST_TRACK else policy.quorum


def proposal_timelock(kind: str, policy: Policy) -> timedelta:
    """The timelock a proposal of ``kind`` waits between approval and activation."""
    hours = policy.fast_track_timelock_hours if kind == ProposalKind.FAST_TRACK else policy.timelock_hours
    return timedelta(hours=hours)


def proposals_awaiting_vote(*, member: Any) -> QuerySet[Proposal]:
    """Submitted proposals (and emergencies awaiting ratification) the member may vote on."""
    return (
        Proposal.objects.filter(
            Q(status=ProposalStatus.SUBMITTED)
            | Q(status=ProposalStatus.ACTIVE, kind=ProposalKind.EMERGENCY, ratify_by__gt=timezone.now())
        )
        .exclude(proposer=member)
        .exclude(co_authors=member)
        .exclude(votes__voter=member)
        .order_by("created_at")
    )


def proposal_changes(proposal: Proposal) -> list[ProposalChange]:
    """The proposal's changes with versions, bases and brackets loaded."""
    return list(
        proposal.changes.select_related(
            "market_version__market__base_asset",
            "base_market_version",
            "asset_version__asset",
            "base_asset_version",
        ).prefetch_related("market_version__brackets", "base_market_version__brackets")
    )


# --- plain values of versions -------------------------------------------------------------
def market_terms(version: MarketParameterVersion) -> MarketTerms:
    """A market version as ``policy.MarketTerms`` (exact decimals)."""
    rows = sorted(version.brackets.all(), key=lambda b: b.index)
    return MarketTerms(
        floors=tuple(b.notional_floor for b in rows),
        imf=tuple(b.initial_margin_fraction for b in rows),
        mmf=tuple(b.maintenance_margin_fraction for b in rows),
        liquidation_penalty=version.liquidation_penalty,
        depth_usd_per_1pct=version.depth_usd_per_1pct,
        oi_cap_lower_usd=version.oi_cap_lower_usd,
        oi_cap_upper_usd=version.oi_cap_upper_usd,
        max_position_notional_usd=version.max_position_notional_usd,
    )


def _market_values(version: MarketParameterVersion | None) -> dict[str, Decimal | None]:
    if version is None:
        return {}
    values: dict[str, Decimal | None] = {f: getattr(version, f) for f in MARKET_FIELDS}
    for b in version.brackets.all():
        for f in BRACKET_INPUT_FIELDS:
            values[f"brackets[{b.index}].{f}"] = getattr(b, f)
    return values


def _last_changed(history: list[dict[str, Decimal | None]], times: list[datetime], path: str) -> datetime | None:
    """When the newest value of ``path`` took effect: the activation time of the oldest
    version in the run of equal values ending at the newest (the first version counts)."""
    if not history:
        return None
    current = history[-1].get(path)
    i = len(history) - 1
    while i > 0 and history[i - 1].get(path) == current:
        i -= 1
    return times[i]


def change_field_deltas(change: ProposalChange) -> list[FieldDelta]:
    """Field-by-field before (base) / after (proposed) with each field's last change time."""
    if change.market_version_id:
        new = change.market_version
        assert new is not None
        hist = list(
            MarketParameterVersion.objects.filter(market_id=new.market_id, activated_at__isnull=False)
            .filter(status__in=[VersionStatus.ACTIVE, VersionStatus.SUPERSEDED])
            .prefetch_related("brackets")
            .order_by("activated_at", "number")
        )
        before, after = _market_values(change.base_market_version), _market_values(new)
        values = [_market_values(v) for v in hist]
    else:
        av = change.asset_version
        assert av is not None
        hist = list(
            AssetParameterVersion.objects.filter(asset_id=av.asset_id, activated_at__isnull=False)
            .filter(status__in=[VersionStatus.ACTIVE, VersionStatus.SUPERSEDED])
            .order_by("activated_at", "number")
        )
        base = change.base_asset_version
        before = {} if base is None else {"haircut": base.haircut}
        after = {"haircut": av.haircut}
        values = [{"haircut": v.haircut} for v in hist]
    times = [v.activated_at for v in hist]
    return [
        FieldDelta(change.subject, path, before.get(path), after.get(path), _last_changed(values, times, path))
        for path in sorted(set(before) | set(after))
    ]


def proposal_fast_track_findings(proposal: Proposal, *, policy: Policy, now: datetime) -> list[LintError]:
    """Why the proposal is not within the fast-track bounds (empty: it is)."""
    deltas = [d for c in proposal_changes(proposal) for d in change_field_deltas(c)]
    return fast_track_violations(
        deltas,
        max_relative_change=policy.fast_track_max_relative_change,
        min_days_since_change=policy.fast_track_min_days_since_change,
        now=now,
    )


def _active_id(change: ProposalChange) -> int | None:
    if change.market_version_id:
        qs = MarketParameterVersion.objects.filter(
            market_id=change.market_version.market_id,  # type: ignore[union-attr]
            status=VersionStatus.ACTIVE,
        )
    else:
        qs = AssetParameterVersion.objects.filter(
            asset_id=change.asset_version.asset_id,  # type: ignore[union-attr]
            status=VersionStatus.ACTIVE,
        )
    return qs.values_list("pk", flat=True).first()


def change_base_errors(change: ProposalChange) -> list[LintError]:
    """The base version must still be the active one (else the change is stale)."""
    base_id = change.base_market_version_id if change.market_version_id else change.base_asset_version_id
    active_id = _active_id(change)
    if base_id != active_id:
        base = change.base_version
        return [
            LintError(
                change.subject,
                "stale_base",
                f"{change.subject}: the change was written against "
                f"{'no active version' if base is None else f'v{base.number}'}, but the active version is now "
                f"{'none' if active_id is None else f'id {active_id}'}; edit the proposal to rebase it",
            )
        ]
    return []


def _version_errors(change: ProposalChange) -> list[LintError]:
    out: list[LintError] = []
    if change.market_version_id:
        v = change.market_version
        assert v is not None
        rows = sorted(v.brackets.all(), key=lambda b: b.index)
        try:
            validate_bracket_table(
                [b.notional_floor for b in rows],
                [b.initial_margin_fraction for b in rows],
                [b.maintenance_margin_fraction for b in rows],
                market=change.subject,
            )
        except BracketTableError as exc:
            where = f"{change.subject} bracket {exc.bracket}" if exc.bracket else change.subject
            out.append(LintError(where, exc.rule, str(exc)))
        if rows:
            out += penalty_violations(change.subject, v.liquidation_penalty, rows[0].maintenance_margin_fraction)
        base = change.base_market_version
        if base is not None and not [
            d for d in change_field_deltas(change) if d.before != d.after
        ]:  # same values as the base
            out.append(LintError(change.subject, "no_change", f"{change.subject}: same values as the active version"))
    else:
        av, base = change.asset_version, change.base_asset_version
        assert av is not None
        if base is not None and base.haircut == av.haircut:
            out.append(LintError(change.subject, "no_change", f"{change.subject}: same haircut as the active version"))
    return out


def proposal_lint(proposal: Proposal, *, policy: Policy, now: datetime | None = None) -> list[LintError]:
    """Every check a proposal must pass before submission; each names the rule and where.

    Engine bracket validation (RISK_MODEL §2) per market, penalty ≤ MMF₁ (§8), a change
    must change something, the base version must still be active, the requested
    ``effective_at`` must leave the timelock (the fast-track timelock when the proposal is
    within the fast-track bounds), and enough eligible committee members must exist to
    reach the quorum (the proposer and co-authors cannot vote).
    """
    now = now or timezone.now()
    changes = proposal_changes(proposal)
    out: list[LintError] = []
    if not changes:
        out.append(LintError("proposal", "no_changes", "the proposal changes no market or asset"))
    for c in changes:
        out += _version_errors(c)
        out += change_base_errors(c)
    fast = bool(changes) and not proposal_fast_track_findings(proposal, policy=policy, now=now)
    kind = ProposalKind.FAST_TRACK if fast else ProposalKind.NORMAL
    out += effective_at_violations(
        requested=proposal.requested_effective_at,
        now=now,
        timelock_hours=int(proposal_timelock(kind, policy).total_seconds() // 3600),
        kind_label="fast-track" if fast else "normal",
    )
    quorum = policy.fast_track_quorum if fast else policy.quorum
    eligible = committee_members().exclude(pk__in=proposal_authors(proposal)).count()
    if eligible < quorum:
        out.append(
            LintError(
                "committee",
                "quorum_unreachable",
                f"only {eligible} committee member(s) may vote on this proposal (authors excluded), quorum is {quorum}",
            )
        )
    return out


def proposals_with_impact() -> QuerySet[Proposal]:
    """Proposals whose impact results are frozen (``impact`` set), newest first."""
    return Proposal.objects.filter(impact__isnull=False).order_by("-updated_at", "-id")


# --- what a user may do with a proposal -----------------------------------------------------
def proposal_editable(proposal: Proposal) -> bool:
    """Still open to edits and withdrawal: not active or closed, and not an emergency change."""
    return proposal.status in EDITABLE and proposal.kind != ProposalKind.EMERGENCY


def proposal_open_to_votes(proposal: Proposal, now: datetime) -> bool:
    """Votes are open: a submitted proposal, or an emergency change inside its ratification window."""
    if proposal.kind == ProposalKind.EMERGENCY:
        return proposal.status == ProposalStatus.ACTIVE and proposal.ratify_by is not None and now <= proposal.ratify_by
    return proposal.status == ProposalStatus.SUBMITTED


@dataclass(frozen=True)
class ProposalActions:
    """Which actions a user may take on a proposal now (the services enforce the same rules;
    this only decides what the UI offers)."""

    is_author: bool
    edit: bool
    submit: bool
    withdraw: bool
    vote: bool


def proposal_allowed_actions(proposal: Proposal, user: Any, *, now: datetime | None = None) -> ProposalActions:
    """The maker-checker rules of ``services`` as flags: authors (analysts) edit and submit,
    the proposer withdraws, committee members who are not authors vote while votes are open."""
    author = user.pk in proposal_authors(proposal)
    analyst = has_role(user, ANALYST)
    return ProposalActions(
        is_author=author,
        edit=author and analyst and proposal_editable(proposal),
        submit=author and analyst and proposal.status == ProposalStatus.DRAFT,
        withdraw=user.pk == proposal.proposer_id and proposal_editable(proposal),
        vote=has_role(user, COMMITTEE) and not author and proposal_open_to_votes(proposal, now or timezone.now()),
    )
