"""Read queries for governance: committee, quorum, lint, fast-track findings, inboxes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from riskgov.core.roles import ANALYST, COMMITTEE, has_role
from riskgov.core.subjects import subject_kind
from riskgov.governance.models import EDITABLE, Policy, Proposal, ProposalChange, ProposalKind, ProposalStatus
from riskgov.governance.policy import (
    FieldDelta,
    LintError,
    MarketTerms,
    effective_at_violations,
    fast_track_violations,
)
from riskgov.parameters.models import MarketParameterVersion
from riskgov.parameters.subjects import MARKET


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
    """The proposal's changes with their versions and bases loaded (in bulk, per kind)."""
    changes = list(proposal.changes.all())
    load_change_versions(changes)
    return changes


def load_change_versions(changes: list[ProposalChange]) -> None:
    """Load the versions and bases of ``changes`` with one query per kind (``versions_by_id``)."""
    by_kind: dict[str, set[int]] = {}
    for c in changes:
        ids = by_kind.setdefault(c.kind, set())
        ids.add(c.version_id)
        if c.base_version_id is not None:
            ids.add(c.base_version_id)
    loaded = {kind: subject_kind(kind).versions_by_id(sorted(ids)) for kind, ids in by_kind.items()}
    for c in changes:
        c.cache_versions(loaded[c.kind])


# --- plain values of versions -------------------------------------------------------------
def market_terms(version: MarketParameterVersion) -> MarketTerms:
    """A market version as ``policy.MarketTerms`` (exact decimals)."""
    return MARKET.terms(version)


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
    kind = change.subject_kind
    hist = kind.history(change.version)
    before, after = kind.values(change.base_version), kind.values(change.version)
    values = [kind.values(v) for v in hist]
    times = [v.activated_at for v in hist]
    return [
        FieldDelta(change.subject, path, before.get(path), after.get(path), _last_changed(values, times, path))
        for path in sorted(set(before) | set(after))
    ]


def proposal_fast_track_findings(proposal: Proposal, *, policy: Policy, now: datetime) -> list[LintError]:
    """Why the proposal is not within the fast-track bounds (empty: it is). A change of a
    kind that is never fast-tracked (``fast_track_allowed = False``, e.g. the policy) is a
    finding of its own."""
    changes = proposal_changes(proposal)
    never = [
        LintError(c.subject, "ft_kind_excluded", f"{c.subject}: a {c.subject_kind.label} change is never fast-tracked")
        for c in changes
        if not getattr(c.subject_kind, "fast_track_allowed", True)
    ]
    deltas = [d for c in changes for d in change_field_deltas(c)]
    return never + fast_track_violations(
        deltas,
        max_relative_change=policy.fast_track_max_relative_change,
        min_days_since_change=policy.fast_track_min_days_since_change,
        now=now,
    )


def change_base_errors(change: ProposalChange) -> list[LintError]:
    """The base version must still be the active one (else the change is stale)."""
    base_id = change.base_version_id
    active_id = change.subject_kind.active_version_id(change.version)
    if base_id != active_id:
        base = change.base_version
        return [
            LintError(
                change.subject,
                "stale_base",
                f"{change.subject}: the change was written against "
                f"{'no active version' if base is None else f'v{base.number}'}, but the active version is now "
                f"{'none' if active_id is None else f'id {active_id}'}; edit the proposal to rebase it",
                subject=change.subject,
            )
        ]
    return []


def change_diff(change: ProposalChange) -> Any:
    """The change's diff against its base, in its kind's format (``FieldChange`` rows)."""
    return change.subject_kind.diff(change.base_version, change.version)


def _version_errors(change: ProposalChange) -> list[LintError]:
    """The one validator on the proposed values, and "a change must change something"."""
    kind = change.subject_kind
    out = kind.validate(change.subject, kind.payload_of(change.version))
    if change.base_version is not None and kind.values(change.base_version) == kind.values(change.version):
        out.append(
            LintError(
                change.subject,
                "no_change",
                f"{change.subject}: same {kind.same_what} as the active version",
                subject=change.subject,
            )
        )
    return out


def proposal_lint(proposal: Proposal, *, policy: Policy, now: datetime | None = None) -> list[LintError]:
    """Every check a proposal must pass before submission; each names the rule and where.

    The one exact validator on every change (``SubjectKind.validate``: RISK_MODEL §2
    brackets, penalty ≤ MMF₁ §8, haircut §4, …), a change must change something, the base version must still be active, the requested
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
    """Votes are open: a submitted proposal before its ``expires_at``, or an emergency change
    inside its ratification window. The deadline is checked here, not left to the expiry sweep
    (which may run late, or not at all while beat is down)."""
    if proposal.kind == ProposalKind.EMERGENCY:
        return proposal.status == ProposalStatus.ACTIVE and proposal.ratify_by is not None and now <= proposal.ratify_by
    return proposal.status == ProposalStatus.SUBMITTED and not proposal_expired(proposal, now)


def proposal_expired(proposal: Proposal, now: datetime) -> bool:
    """The proposal's voting deadline (``expires_at``) has passed."""
    return proposal.expires_at is not None and now >= proposal.expires_at


def proposal_impact_frozen(proposal: Proposal) -> bool:
    """The impact of the proposal's current revision is frozen (recorded, or its failure
    with the reason): what a normal proposal's votes wait for (``services.proposal_vote``)."""
    return proposal.impact is not None and proposal.impact_revision == proposal.revision


@dataclass(frozen=True)
class ImpactStatus:
    """Where a proposal's impact analysis is (the proposal page's status partial).

    ``state``: ``"draft"`` (runs on submission), ``"recorded"``, ``"failed"`` (frozen with
    its reason in ``message``), ``"queued"`` (submitted, no run yet), ``"running"`` (run
    ``run_id`` at ``progress`` %, ``chunks_done`` of ``chunks_total`` account chunks),
    ``"collecting"`` (the run is published, its comparison is being frozen) or
    ``"not_needed"`` (closed without an impact). ``done`` is true when polling can stop.
    """

    state: str
    message: str = ""
    run_id: int | None = None
    progress: int = 0
    chunks_done: int = 0
    chunks_total: int = 0

    @property
    def done(self) -> bool:
        return self.state in ("draft", "recorded", "failed", "not_needed")


def proposal_impact_status(proposal: Proposal) -> ImpactStatus:
    """The impact analysis of the proposal's current revision: frozen, or its run's progress.

    The run is the one named by the latest ``governance.proposal.impact_started`` audit
    record of this revision (``services.proposal_impact_compute`` writes it before the run
    starts); its progress fields are the health run's (``HealthRun.progress``, chunk counts).
    """
    from riskgov.core.models import AuditEvent
    from riskgov.health.models import HealthRun, RunStatus

    if proposal_impact_frozen(proposal):
        error = (proposal.impact or {}).get("error") if isinstance(proposal.impact, dict) else None
        if error:
            return ImpactStatus("failed", message=str(error))
        return ImpactStatus("recorded", message=f"frozen for revision {proposal.impact_revision}")
    if proposal.status == ProposalStatus.DRAFT:
        return ImpactStatus("draft", message="the impact analysis runs when the proposal is submitted")
    open_ = proposal.status == ProposalStatus.SUBMITTED or (
        proposal.kind == ProposalKind.EMERGENCY and proposal.status == ProposalStatus.ACTIVE
    )
    if not open_:
        return ImpactStatus("not_needed", message=f"the proposal is {proposal.get_status_display().lower()}")
    started = (
        AuditEvent.objects.filter(
            object_type=Proposal._meta.label_lower,
            object_id=str(proposal.pk),
            action="governance.proposal.impact_started",
            after__revision=proposal.revision,
        )
        .order_by("-created_at", "-id")
        .values_list("after", flat=True)
        .first()
    )
    run = HealthRun.objects.filter(pk=(started or {}).get("run")).first() if started else None
    if run is None:
        return ImpactStatus("queued", message="the impact analysis is queued")
    counts = {"run_id": run.pk, "chunks_done": run.chunks_done, "chunks_total": run.chunks_total}
    if run.status == RunStatus.FAILED:
        return ImpactStatus(
            "collecting", message=f"the impact run failed: {run.error}", progress=run.progress, **counts
        )
    if run.status == RunStatus.SUCCEEDED:
        return ImpactStatus("collecting", message="comparing with the active parameters", progress=100, **counts)
    if run.status == RunStatus.PENDING:
        return ImpactStatus("running", message="the impact run is waiting for a worker", **counts)
    phase = "finalizing (scenarios, tail, cascade)" if run.chunks_done >= run.chunks_total else "computing accounts"
    return ImpactStatus("running", message=phase, progress=run.progress, **counts)


@dataclass(frozen=True)
class ProposalActions:
    """Which actions a user may take on a proposal now (the services enforce the same rules;
    this only decides what the UI offers)."""

    is_author: bool
    edit: bool
    submit: bool
    withdraw: bool
    vote: bool
    #: why a committee member who is not an author cannot vote now ("" when they can)
    vote_reason: str = ""


def proposal_allowed_actions(proposal: Proposal, user: Any, *, now: datetime | None = None) -> ProposalActions:
    """The maker-checker rules of ``services`` as flags: authors (analysts) edit and submit,
    the proposer withdraws, committee members who are not authors vote while votes are open
    and — on a normal or fast-track proposal — once its impact is frozen (``vote_reason``
    says why not)."""
    author = user.pk in proposal_authors(proposal)
    analyst = has_role(user, ANALYST)
    checker = has_role(user, COMMITTEE) and not author
    vote = checker and proposal_open_to_votes(proposal, now or timezone.now())
    reason = ""
    if vote and proposal_votes_wait_for_impact(proposal):
        vote, reason = False, IMPACT_PENDING
    return ProposalActions(
        is_author=author,
        edit=author and analyst and proposal_editable(proposal),
        submit=author and analyst and proposal.status == ProposalStatus.DRAFT,
        withdraw=user.pk == proposal.proposer_id and proposal_editable(proposal),
        vote=vote,
        vote_reason=reason,
    )


#: why votes wait (services.proposal_vote and the proposal page say the same)
IMPACT_PENDING = "votes open when the impact analysis of this revision is recorded"


def proposal_votes_wait_for_impact(proposal: Proposal) -> bool:
    """A normal or fast-track proposal's votes wait for its impact (approvers sign the
    frozen figures); an emergency change is already active, so its ratification does not."""
    return proposal.kind != ProposalKind.EMERGENCY and not proposal_impact_frozen(proposal)


def proposals_next_activations(*, limit: int = 5) -> QuerySet[Proposal]:
    """Approved and scheduled proposals, the soonest activation first (``effective_at``,
    else the requested time): what will change next (the home page)."""
    return Proposal.objects.filter(status__in=[ProposalStatus.APPROVED, ProposalStatus.SCHEDULED]).order_by(
        F("effective_at").asc(nulls_last=True), "requested_effective_at", "id"
    )[:limit]
