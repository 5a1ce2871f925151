"""Governance write actions (RISK_MODEL §13, STYLE rules 4, 5, 7, 10).

Every action is one keyword-only function, atomic, that locks the proposal row
(``select_for_update``), checks roles and preconditions, moves the state through the
model's django-fsm transitions and records an audit event (actor, from → to, comment,
request id) in the same transaction. Notifications and Celery jobs are queued with
``transaction.on_commit`` so they only leave when the change is committed.

Rules decided here (ambiguities resolved, see also the module docstrings of ``models`` and
``policy``):

* Quorum and timelock come from the policy in force **at submission** (``proposal.policy``).
* Rejection: a proposal is rejected when rejections reach the same quorum as approvals.
  An emergency change rejected by a quorum is reverted at once.
* A vote may be changed while the proposal is still open to votes; once the quorum is met
  (approved/scheduled/rejected, or ratified/reverted) votes are closed.
* Any edit bumps ``revision``; an edit after submission (submitted, approved or scheduled)
  returns the proposal to draft, drops every vote and clears the frozen impact. Approved
  versions are immutable, so edited changes (or an approved proposal sent back) get new
  draft versions and the old ones are discarded.
* Emergency changes skip the timelock lint but must pass every other lint and be stricter
  than the active version at every notional (``policy.stricter_only_violations``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from riskgov.core.exceptions import Conflict, DomainError, NotAllowed
from riskgov.core.roles import ADMIN, ANALYST, COMMITTEE, has_role
from riskgov.core.services import audit_record
from riskgov.engine.brackets import validate_bracket_table
from riskgov.engine.types import BracketTableError
from riskgov.governance import notifications
from riskgov.governance.models import (
    EDITABLE,
    Policy,
    Proposal,
    ProposalChange,
    ProposalKind,
    ProposalStatus,
    Vote,
    VoteDecision,
)
from riskgov.governance.policy import LintError, haircut_violations, penalty_violations, stricter_only_violations
from riskgov.governance.selectors import (
    change_base_errors,
    market_terms,
    proposal_authors,
    proposal_changes,
    proposal_fast_track_findings,
    proposal_quorum,
    proposal_timelock,
)
from riskgov.governance.selectors import proposal_lint as _proposal_lint
from riskgov.markets.models import Asset, Market
from riskgov.parameters.models import (
    BRACKET_INPUT_FIELDS,
    FRACTION,
    MARKET_FIELDS,
    MONEY,
    AssetParameterVersion,
    MarketParameterVersion,
    VersionStatus,
)
from riskgov.parameters.services import (
    asset_version_create,
    asset_version_set_status,
    market_version_as_dict,
    market_version_create,
    market_version_set_status,
)

log = logging.getLogger(__name__)

POLICY_FIELDS = (
    "quorum",
    "timelock_hours",
    "expiry_days",
    "fast_track_quorum",
    "fast_track_timelock_hours",
    "fast_track_max_relative_change",
    "fast_track_min_days_since_change",
    "emergency_ratification_hours",
)
_SCALE = {f: FRACTION if f == "liquidation_penalty" else MONEY for f in MARKET_FIELDS}
_SCALE.update({"notional_floor": MONEY, "initial_margin_fraction": FRACTION, "maintenance_margin_fraction": FRACTION})


class LintFailed(DomainError):
    """A proposal (or change) fails lint; ``extra["errors"]`` lists ``{where, rule, message}``."""

    def __init__(self, errors: Sequence[LintError]):
        first = errors[0]
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first.message}{more}", extra={"errors": [e.as_dict() for e in errors]})
        self.errors = list(errors)


# --- helpers ------------------------------------------------------------------------------
def _full_clean(obj: Any) -> None:
    # clean_fields() re-assigns every field; a protected FSM field refuses that, and the
    # state is the transitions' business anyway.
    protected = [f.name for f in obj._meta.concrete_fields if getattr(f, "protected", False)]
    try:
        obj.full_clean(exclude=protected)
    except ValidationError as exc:
        raise DomainError(
            f"invalid {obj._meta.verbose_name}: {exc.messages}", extra={"fields": exc.message_dict}
        ) from exc


def _require(user: Any, *roles: str, action: str) -> None:
    if not has_role(user, *roles):
        raise NotAllowed(f"{action} needs the role {' or '.join(roles)}")


def _lock(proposal: Proposal | int) -> Proposal:
    pk = proposal if isinstance(proposal, int) else proposal.pk
    return Proposal.objects.select_for_update().get(pk=pk)


def _dump(proposal: Proposal) -> dict[str, Any]:
    return {
        "title": proposal.title,
        "rationale": proposal.rationale,
        "kind": proposal.kind,
        "revision": proposal.revision,
        "requested_effective_at": proposal.requested_effective_at.isoformat(),
        "effective_at": proposal.effective_at.isoformat() if proposal.effective_at else None,
        "co_authors": sorted(proposal.co_authors.values_list("username", flat=True)),
        "changes": [
            {
                "subject": c.subject,
                "version_id": c.version.pk,
                "base_version_id": None if c.base_version is None else c.base_version.pk,
            }
            for c in proposal.changes.all()
        ],
    }


def _audit(proposal: Proposal, *, by: Any, action: str, frm: str = "", to: str = "", **kw: Any) -> None:
    audit_record(actor=by, action=f"governance.proposal.{action}", obj=proposal, from_state=frm, to_state=to, **kw)


def _transition(proposal: Proposal, name: str, *, by: Any, comment: str = "", **kw: Any) -> None:
    """Run one fsm transition (refused by the model if illegal) and audit from → to."""
    before = proposal.status
    getattr(proposal, name)()
    proposal.save()
    _audit(proposal, by=by, action=name, frm=before, to=proposal.status, comment=comment, **kw)


def _on_commit(event: str, proposal_id: int, **extra: Any) -> None:
    transaction.on_commit(lambda: notifications.notify(event, proposal_id=proposal_id, **extra))


# --- policy -------------------------------------------------------------------------------
def _policy_dict(p: Policy) -> dict[str, Any]:
    return {"version": p.version, **{f: str(getattr(p, f)) for f in POLICY_FIELDS}}


def policy_current() -> Policy:
    """The active policy; the default one (k=2, 24 h, 14 d, fast track 1/2 h/25 %/7 d,
    ratification 48 h) is created on first use (audited)."""
    p = Policy.objects.filter(is_active=True).first()
    if p is not None:
        return p
    try:
        with transaction.atomic():
            p = Policy(version=1, is_active=True, comment="default policy")
            p.save()
            audit_record(actor=None, action="governance.policy.create", obj=p, to_state="active", after=_policy_dict(p))
            return p
    except IntegrityError:  # created meanwhile by someone else
        return Policy.objects.get(is_active=True)


@transaction.atomic
def policy_update(*, by: Any, comment: str = "", **fields: Any) -> Policy:
    """Admin only: create the next policy version from the current one with ``fields`` changed.

    Raises:
        NotAllowed: ``by`` is not an admin.
        DomainError: an unknown field or a value the policy constraints refuse.
    """
    _require(by, ADMIN, action="changing the policy")
    unknown = set(fields) - set(POLICY_FIELDS)
    if unknown:
        raise DomainError(f"unknown policy field(s): {', '.join(sorted(unknown))}")
    current = Policy.objects.select_for_update().get(pk=policy_current().pk)
    if not current.is_active:  # replaced while we waited for the lock
        current = Policy.objects.select_for_update().get(is_active=True)
    values = {f: getattr(current, f) for f in POLICY_FIELDS} | fields
    Policy.objects.filter(pk=current.pk).update(is_active=False)
    new = Policy(
        version=current.version + 1,
        is_active=True,
        comment=comment,
        created_by=by,
        created_by_name=by.get_username(),
        **values,
    )
    _full_clean(new)
    try:
        with transaction.atomic():
            new.save()
    except IntegrityError as exc:
        raise DomainError(f"policy refused by the database: {exc}") from exc
    audit_record(
        actor=by,
        action="governance.policy.update",
        obj=new,
        from_state=f"v{current.version}",
        to_state=f"v{new.version}",
        before=_policy_dict(current),
        after=_policy_dict(new),
        comment=comment,
    )
    return new


# --- changes ------------------------------------------------------------------------------
def _dec(value: Any, where: str, field: str) -> Decimal:
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise LintFailed([LintError(where, "not_a_number", f"{where}: {value!r} is not a decimal number")]) from exc
    if not d.is_finite():
        raise LintFailed([LintError(where, "not_a_number", f"{where}: {value!r} is not finite")])
    return d.quantize(Decimal(1).scaleb(-_SCALE[field]["decimal_places"]))


def _market_payload(
    i: int, spec: dict[str, Any], base: MarketParameterVersion | None
) -> tuple[dict[str, Any], list[dict[str, Decimal]]]:
    sym = spec["market"]
    unknown = set(spec) - {"market", "brackets", *MARKET_FIELDS}
    if unknown:
        raise LintFailed(
            [LintError(f"changes[{i}]", "unknown_field", f"changes[{i}] ({sym}): unknown field(s) {sorted(unknown)}")]
        )
    fields: dict[str, Any] = {}
    for f in MARKET_FIELDS:
        if f in spec:
            v = spec[f]
            fields[f] = None if v is None and f == "max_position_notional_usd" else _dec(v, f"{sym} {f}", f)
        elif base is not None:
            fields[f] = getattr(base, f)
        elif f in ("oi_cap_lower_usd", "oi_cap_upper_usd"):
            fields[f] = Decimal(0)
        elif f == "max_position_notional_usd":
            fields[f] = None
        else:
            raise LintFailed([LintError(f"{sym} {f}", "missing_field", f"{sym}: {f} is required (no active version)")])
    if "brackets" in spec:
        rows = spec["brackets"]
        if not isinstance(rows, list):
            raise LintFailed([LintError(f"{sym} brackets", "not_a_list", f"{sym}: brackets must be a list")])
        brackets = []
        for k, row in enumerate(rows, start=1):
            if not isinstance(row, dict) or set(row) != set(BRACKET_INPUT_FIELDS):
                raise LintFailed(
                    [
                        LintError(
                            f"{sym} bracket {k}",
                            "bracket_fields",
                            f"{sym} bracket {k}: needs exactly {', '.join(BRACKET_INPUT_FIELDS)}",
                        )
                    ]
                )
            brackets.append({f: _dec(row[f], f"{sym} bracket {k} {f}", f) for f in BRACKET_INPUT_FIELDS})
    elif base is not None:
        brackets = [{f: getattr(b, f) for f in BRACKET_INPUT_FIELDS} for b in base.brackets.order_by("index")]
    else:
        raise LintFailed([LintError(f"{sym} brackets", "missing_field", f"{sym}: brackets are required")])
    return fields, brackets


def _payload_errors(sym: str, fields: dict[str, Any], brackets: list[dict[str, Decimal]]) -> list[LintError]:
    """Engine bracket validation and the penalty rule, before any row is written."""
    try:
        validate_bracket_table(
            [b["notional_floor"] for b in brackets],
            [b["initial_margin_fraction"] for b in brackets],
            [b["maintenance_margin_fraction"] for b in brackets],
            market=sym,
        )
    except BracketTableError as exc:
        return [LintError(f"{sym} bracket {exc.bracket}" if exc.bracket else sym, exc.rule, str(exc))]
    return penalty_violations(sym, fields["liquidation_penalty"], brackets[0]["maintenance_margin_fraction"])


def _create_changes(proposal: Proposal, specs: Any, *, by: Any) -> list[ProposalChange]:
    """Validate every change spec, then create draft versions and ``ProposalChange`` rows.

    A spec is ``{"market": symbol, <market fields>…, "brackets": [...]}`` (fields left out
    keep the active version's values) or ``{"asset": symbol, "haircut": value}``.
    """
    if not isinstance(specs, list | tuple) or not specs:
        raise LintFailed([LintError("changes", "no_changes", "a proposal needs at least one change")])
    planned: list[tuple[str, Any, Any, Any]] = []
    errors: list[LintError] = []
    seen: set[tuple[str, str]] = set()
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict) or ("market" in spec) == ("asset" in spec):
            raise LintFailed([LintError(f"changes[{i}]", "bad_change", f"changes[{i}]: give either market or asset")])
        if "market" in spec:
            market = Market.objects.filter(symbol=spec["market"]).first()
            if market is None:
                raise LintFailed([LintError(f"changes[{i}]", "unknown_market", f"unknown market {spec['market']!r}")])
            key = ("market", market.symbol)
            base = market.versions.filter(status=VersionStatus.ACTIVE).first()
            fields, brackets = _market_payload(i, spec, base)
            errors += _payload_errors(market.symbol, fields, brackets)
            planned.append(("market", market, base, (fields, brackets)))
        else:
            asset = Asset.objects.filter(symbol=spec["asset"]).first()
            if asset is None:
                raise LintFailed([LintError(f"changes[{i}]", "unknown_asset", f"unknown asset {spec['asset']!r}")])
            if set(spec) != {"asset", "haircut"}:
                raise LintFailed([LintError(f"changes[{i}]", "unknown_field", f"{asset.symbol}: give haircut only")])
            key = ("asset", asset.symbol)
            h = _dec(spec["haircut"], f"{asset.symbol} haircut", "liquidation_penalty")
            if not Decimal(0) <= h < 1:
                errors.append(
                    LintError(f"{asset.symbol} haircut", "haircut_range", f"{asset.symbol}: haircut {h} not in [0, 1)")
                )
            planned.append(("asset", asset, asset.versions.filter(status=VersionStatus.ACTIVE).first(), h))
        if key in seen:
            raise LintFailed([LintError(f"changes[{i}]", "duplicate", f"{key[1]} is changed twice")])
        seen.add(key)
    if errors:
        raise LintFailed(errors)
    reason = f"proposal #{proposal.pk}: {proposal.title}"
    out = []
    for kind, subject, base, payload in planned:
        if kind == "market":
            fields, brackets = payload
            v = market_version_create(market=subject, fields=fields, brackets=brackets, by=by, reason=reason)
            out.append(
                ProposalChange.objects.create(
                    proposal=proposal, market_version=v, base_market_version=base, subject=subject.symbol
                )
            )
        else:
            av = asset_version_create(asset=subject, haircut=payload, by=by, reason=reason)
            out.append(
                ProposalChange.objects.create(
                    proposal=proposal, asset_version=av, base_asset_version=base, subject=subject.symbol
                )
            )
    return out


def _change_specs(proposal: Proposal) -> list[dict[str, Any]]:
    """The proposal's current changes as specs (to re-create them as fresh drafts)."""
    specs: list[dict[str, Any]] = []
    for c in proposal_changes(proposal):
        if c.market_version_id:
            v = c.market_version
            assert v is not None
            specs.append(
                {
                    "market": c.subject,
                    **{f: getattr(v, f) for f in MARKET_FIELDS},
                    "brackets": [{f: getattr(b, f) for f in BRACKET_INPUT_FIELDS} for b in v.brackets.all()],
                }
            )
        else:
            specs.append({"asset": c.subject, "haircut": c.asset_version.haircut})  # type: ignore[union-attr]
    return specs


def _set_versions(proposal: Proposal, status: str, *, by: Any, at: datetime | None = None, reason: str = "") -> None:
    """Move every version of the proposal to ``status`` (approved/discarded)."""
    for c in proposal.changes.select_related("market_version", "asset_version"):
        if c.market_version_id:
            if c.market_version.status != status:  # type: ignore[union-attr]
                market_version_set_status(version=c.market_version, status=status, by=by, at=at, reason=reason)  # type: ignore[arg-type]
        elif c.asset_version.status != status:  # type: ignore[union-attr]
            asset_version_set_status(version=c.asset_version, status=status, by=by, at=at, reason=reason)  # type: ignore[arg-type]


def _discard_changes(proposal: Proposal, *, by: Any, reason: str) -> None:
    _set_versions(proposal, VersionStatus.DISCARDED, by=by, reason=reason)


# --- proposals ----------------------------------------------------------------------------
@transaction.atomic
def proposal_create(
    *,
    by: Any,
    title: str,
    rationale: str,
    effective_at: datetime,
    changes: list[dict[str, Any]],
    co_authors: Iterable[Any] = (),
) -> Proposal:
    """An analyst drafts a proposal; each change becomes a draft parameter version.

    Raises:
        NotAllowed: ``by`` is not an analyst.
        LintFailed: a change is malformed or breaks a bracket/penalty rule (nothing written).
    """
    _require(by, ANALYST, action="creating a proposal")
    proposal = Proposal(
        title=title,
        rationale=rationale,
        proposer=by,
        proposer_name=by.get_username(),
        requested_effective_at=effective_at,
    )
    _full_clean(proposal)
    proposal.save()
    proposal.co_authors.set([u for u in co_authors if u.pk != by.pk])
    _create_changes(proposal, changes, by=by)
    _audit(proposal, by=by, action="create", to=proposal.status, after=_dump(proposal), comment=rationale)
    return proposal


@transaction.atomic
def proposal_update(
    *,
    proposal: Proposal,
    by: Any,
    title: str | None = None,
    rationale: str | None = None,
    effective_at: datetime | None = None,
    changes: list[dict[str, Any]] | None = None,
    co_authors: Iterable[Any] | None = None,
    comment: str = "",
) -> Proposal:
    """Edit a proposal (its proposer or a co-author, analyst role).

    Any edit bumps ``revision``. Editing a submitted, approved or scheduled proposal sends
    it back to draft, drops all its votes and its frozen impact (all audited).

    Raises:
        NotAllowed: ``by`` is not an author, or not an analyst.
        Conflict: the proposal is no longer editable (active, closed, emergency).
    """
    _require(by, ANALYST, action="editing a proposal")
    p = _lock(proposal)
    if by.pk not in proposal_authors(p):
        raise NotAllowed("only the proposer or a co-author may edit a proposal")
    if p.status not in EDITABLE or p.kind == ProposalKind.EMERGENCY:
        raise Conflict(f"proposal #{p.pk} is {p.status} and can no longer be edited")
    before = _dump(p)
    from_state = p.status
    if from_state != ProposalStatus.DRAFT:
        dropped = [
            {"voter": v.voter_name, "decision": v.decision, "comment": v.comment}
            for v in p.votes.order_by("created_at")
        ]
        p.votes.all().delete()
        _audit(p, by=by, action="votes_dropped", before={"votes": dropped}, comment="edited after submission")
        p.return_to_draft()
        p.kind = ProposalKind.NORMAL
        p.policy = None
        p.submitted_at = p.expires_at = p.approved_at = p.effective_at = None
        p.impact = None
        p.impact_revision = None
        p.activation_error = ""
        if changes is None and from_state in (ProposalStatus.APPROVED, ProposalStatus.SCHEDULED):
            changes = _change_specs(p)  # approved versions are frozen: copy them into new drafts
    if title is not None:
        p.title = title
    if rationale is not None:
        p.rationale = rationale
    if effective_at is not None:
        p.requested_effective_at = effective_at
    if co_authors is not None:
        p.co_authors.set([u for u in co_authors if u.pk != p.proposer_id])
    if changes is not None:
        _discard_changes(p, by=by, reason=f"proposal #{p.pk} edited")
        p.changes.all().delete()
        _create_changes(p, changes, by=by)
    p.revision += 1
    _full_clean(p)
    p.save()
    _audit(p, by=by, action="update", frm=from_state, to=p.status, before=before, after=_dump(p), comment=comment)
    return p


def proposal_lint(proposal: Proposal, *, now: datetime | None = None) -> list[LintError]:
    """Lint against the current policy (read-only; see ``selectors.proposal_lint``)."""
    return _proposal_lint(proposal, policy=policy_current(), now=now)


@transaction.atomic
def proposal_submit(*, proposal: Proposal, by: Any, now: datetime | None = None) -> Proposal:
    """Submit a draft for votes: lint must pass; fast track or normal is decided by the
    policy bounds; the expiry is set; the impact job and the notification leave on commit.

    Raises:
        NotAllowed: ``by`` is not an author (analyst role).
        LintFailed: with every lint error.
        TransitionNotAllowed: the proposal is not a draft.
    """
    _require(by, ANALYST, action="submitting a proposal")
    now = now or timezone.now()
    p = _lock(proposal)
    if by.pk not in proposal_authors(p):
        raise NotAllowed("only the proposer or a co-author may submit a proposal")
    if p.status != ProposalStatus.DRAFT:
        raise Conflict(f"proposal #{p.pk} is {p.status}, only a draft can be submitted")
    policy = policy_current()
    errors = _proposal_lint(p, policy=policy, now=now)
    if errors:
        raise LintFailed(errors)
    findings = proposal_fast_track_findings(p, policy=policy, now=now)
    p.kind = ProposalKind.NORMAL if findings else ProposalKind.FAST_TRACK
    p.policy = policy
    p.submitted_at = now
    p.expires_at = now + timedelta(days=policy.expiry_days)
    _transition(
        p,
        "submit",
        by=by,
        after={
            "kind": p.kind,
            "policy": policy.version,
            "expires_at": p.expires_at.isoformat(),
            "revision": p.revision,
            "fast_track_findings": [f.as_dict() for f in findings],
        },
    )
    pk, revision = p.pk, p.revision

    def enqueue() -> None:
        from riskgov.governance.tasks import governance_impact

        governance_impact.delay(pk, revision)

    transaction.on_commit(enqueue)
    _on_commit("submitted", pk)
    return p


@transaction.atomic
def proposal_record_impact(*, proposal: Proposal, impact: dict[str, Any], revision: int) -> Proposal:
    """Freeze impact results (computed for ``revision``) onto the proposal.

    Raises:
        Conflict: the proposal was edited since (``revision`` is stale) or is not open.
    """
    p = _lock(proposal)
    if revision != p.revision:
        raise Conflict(f"impact for revision {revision} but proposal #{p.pk} is at revision {p.revision}")
    open_ = p.status == ProposalStatus.SUBMITTED or (
        p.kind == ProposalKind.EMERGENCY and p.status == ProposalStatus.ACTIVE
    )
    if not open_:
        raise Conflict(f"proposal #{p.pk} is {p.status}; impact can no longer change")
    p.impact = impact
    p.impact_revision = revision
    p.save(update_fields=["impact", "impact_revision", "updated_at"])
    _audit(p, by=None, action="impact", after={"revision": revision}, comment="impact results frozen")
    return p


def proposal_impact_compute(*, proposal_id: int, revision: int) -> str:
    """Run the impact analysis (the ``governance.impact`` task body).

    Calls ``riskgov.health.services.health_impact_run(overrides=versions, by=None)`` when
    the health app provides it; a dict result is frozen at once with
    ``proposal_record_impact``, anything else (e.g. a queued run) is expected to call
    ``proposal_record_impact`` itself when done: for a queued ``HealthRun`` the
    ``governance.impact_collect`` task (``governance.impact``) does it once the run is
    published. Without the health function this is a logged no-op. Returns what happened (for logs and tests).
    """
    p = Proposal.objects.filter(pk=proposal_id).first()
    if p is None or p.revision != revision or p.status not in (ProposalStatus.SUBMITTED, ProposalStatus.ACTIVE):
        log.info("governance.impact: proposal %s revision %s is no longer current, skipped", proposal_id, revision)
        return "stale"
    try:
        from riskgov.health import services as health_services
    except ImportError:
        health_services = None  # type: ignore[assignment]
    run = getattr(health_services, "health_impact_run", None)
    if run is None:
        log.warning(
            "governance.impact: riskgov.health.services.health_impact_run is not available; "
            "impact of proposal %s (revision %s) not computed",
            proposal_id,
            revision,
        )
        return "no_hook"
    overrides = [c.version for c in proposal_changes(p)]
    try:
        result = run(overrides=overrides, by=None)
    except DomainError as exc:  # e.g. no snapshot yet: nothing to evaluate, not a task failure
        log.warning("governance.impact: proposal %s impact not computed: %s", proposal_id, exc.message)
        return "refused"
    if isinstance(result, dict):
        try:
            proposal_record_impact(proposal=p, impact=result, revision=revision)
        except Conflict as exc:
            log.info("governance.impact: %s", exc.message)
            return "stale"
        return "recorded"
    log.info("governance.impact: proposal %s impact run started (%r)", proposal_id, result)
    from riskgov.governance.tasks import governance_impact_collect

    transaction.on_commit(lambda: governance_impact_collect.delay(proposal_id, revision, result.pk))
    return "started"


def _open_to_votes(p: Proposal, now: datetime) -> bool:
    if p.kind == ProposalKind.EMERGENCY:
        return p.status == ProposalStatus.ACTIVE and p.ratify_by is not None and now <= p.ratify_by
    return p.status == ProposalStatus.SUBMITTED


@transaction.atomic
def proposal_vote(*, proposal: Proposal, by: Any, decision: str, comment: str, now: datetime | None = None) -> Vote:
    """A committee member approves or rejects (or ratifies an emergency change).

    Race-free: the proposal row is locked before the vote is written and the votes are
    counted inside that lock, so concurrent voters are serialized and exactly one of them
    sees the quorum met. Approvals ≥ quorum → approved and at once scheduled at
    ``max(requested, approved_at + timelock)`` (an emergency → ratified); rejections ≥
    quorum → rejected (an emergency → reverted at once).

    Raises:
        NotAllowed: not a committee member, or an author of the proposal.
        DomainError: empty comment or unknown decision.
        Conflict: votes are closed (quorum met, not submitted, ratification window over).
    """
    now = now or timezone.now()
    if decision not in VoteDecision.values:
        raise DomainError(f"decision must be one of {VoteDecision.values}")
    if not (comment or "").strip():
        raise DomainError("a vote needs a comment")
    _require(by, COMMITTEE, action="voting")
    p = _lock(proposal)
    if by.pk in proposal_authors(p):
        raise NotAllowed("the proposer and co-authors cannot vote on their own proposal (maker-checker)")
    if not _open_to_votes(p, now):
        raise Conflict(f"proposal #{p.pk} is {p.status}: votes are closed")
    vote = Vote.objects.filter(proposal=p, voter=by).first()
    if vote is None:
        vote = Vote(
            proposal=p,
            voter=by,
            voter_name=by.get_username(),
            decision=decision,
            comment=comment,
            impact_revision=p.impact_revision,
            proposal_revision=p.revision,
        )
        _full_clean(vote)
        vote.save()
        audit_record(
            actor=by,
            action="governance.vote.cast",
            obj=p,
            to_state=decision,
            comment=comment,
            after={"impact_revision": p.impact_revision, "revision": p.revision},
        )
    else:
        previous = vote.decision
        vote.decision, vote.comment = decision, comment
        vote.impact_revision, vote.proposal_revision = p.impact_revision, p.revision
        _full_clean(vote)
        vote.save()
        audit_record(
            actor=by,
            action="governance.vote.change",
            obj=p,
            from_state=previous,
            to_state=decision,
            comment=comment,
            after={"impact_revision": p.impact_revision, "revision": p.revision},
        )
    policy = p.policy or policy_current()
    quorum = proposal_quorum(p, policy)
    approvals = p.votes.filter(decision=VoteDecision.APPROVE).count()
    rejections = p.votes.filter(decision=VoteDecision.REJECT).count()
    tally = {"approvals": approvals, "rejections": rejections, "quorum": quorum}
    if p.kind == ProposalKind.EMERGENCY:
        if approvals >= quorum:
            p.closed_at = now
            _transition(p, "ratify", by=by, after=tally, comment="ratified by the committee")
            _on_commit("ratified", p.pk)
        elif rejections >= quorum:
            _emergency_revert(p, by=by, now=now, reason="rejected by the committee")
    elif approvals >= quorum:
        p.approved_at = now
        _transition(p, "approve", by=by, after=tally, comment="quorum of approvals reached")
        _set_versions(p, VersionStatus.APPROVED, by=by, at=now, reason=f"proposal #{p.pk} approved")
        p.effective_at = max(p.requested_effective_at, now + proposal_timelock(p.kind, policy))
        _transition(p, "schedule", by=by, after={"effective_at": p.effective_at.isoformat()})
        _on_commit("approved", p.pk)
    elif rejections >= quorum:
        p.closed_at = now
        _transition(p, "reject", by=by, after=tally, comment="quorum of rejections reached")
        _discard_changes(p, by=by, reason=f"proposal #{p.pk} rejected")
        _on_commit("rejected", p.pk)
    return vote


@transaction.atomic
def proposal_withdraw(*, proposal: Proposal, by: Any, comment: str = "") -> Proposal:
    """The proposer withdraws a proposal before it is active.

    Raises:
        NotAllowed: ``by`` is not the proposer.
        Conflict: already active or closed.
    """
    p = _lock(proposal)
    if by.pk != p.proposer_id:
        raise NotAllowed("only the proposer may withdraw a proposal")
    if p.status not in EDITABLE or p.kind == ProposalKind.EMERGENCY:
        raise Conflict(f"proposal #{p.pk} is {p.status} and cannot be withdrawn")
    p.closed_at = timezone.now()
    _transition(p, "withdraw", by=by, comment=comment)
    _discard_changes(p, by=by, reason=f"proposal #{p.pk} withdrawn")
    return p


def proposals_expire_due(*, now: datetime | None = None) -> list[int]:
    """Expire submitted proposals whose expiry has passed (beat task). Returns their ids."""
    now = now or timezone.now()
    done = []
    ids = list(
        Proposal.objects.filter(status=ProposalStatus.SUBMITTED, expires_at__lte=now).values_list("pk", flat=True)
    )
    for pk in ids:
        with transaction.atomic():
            p = (
                Proposal.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, status=ProposalStatus.SUBMITTED, expires_at__lte=now)
                .first()
            )
            if p is None:
                continue
            p.closed_at = now
            _transition(p, "expire", by=None, comment=f"not approved by {p.expires_at:%Y-%m-%d %H:%M} UTC")
            _discard_changes(p, by=None, reason=f"proposal #{p.pk} expired")
            _on_commit("expired", p.pk)
            done.append(pk)
    return done


# --- activation ---------------------------------------------------------------------------
def _lock_subjects(changes: Sequence[ProposalChange]) -> None:
    """Lock the markets/assets touched (in id order) so that activations and version
    creation on the same market are serialized."""
    market_ids = sorted({c.market_version.market_id for c in changes if c.market_version_id})  # type: ignore[union-attr]
    asset_ids = sorted({c.asset_version.asset_id for c in changes if c.asset_version_id})  # type: ignore[union-attr]
    list(Market.objects.select_for_update().filter(pk__in=market_ids).order_by("pk").values_list("pk", flat=True))
    list(Asset.objects.select_for_update().filter(pk__in=asset_ids).order_by("pk").values_list("pk", flat=True))


def _swap(change: ProposalChange, *, now: datetime, by: Any, reason: str) -> None:
    """Supersede the base (active) version and activate the change's version."""
    if change.market_version_id:
        base_id = change.base_market_version_id
        if base_id is not None:
            base = MarketParameterVersion.objects.get(pk=base_id)
            market_version_set_status(version=base, status=VersionStatus.SUPERSEDED, by=by, at=now, reason=reason)
        v = MarketParameterVersion.objects.get(pk=change.market_version_id)
        if v.status == VersionStatus.DRAFT:
            v = market_version_set_status(version=v, status=VersionStatus.APPROVED, by=by, at=now, reason=reason)
        market_version_set_status(version=v, status=VersionStatus.ACTIVE, by=by, at=now, reason=reason)
    else:
        base_id = change.base_asset_version_id
        if base_id is not None:
            base_a = AssetParameterVersion.objects.get(pk=base_id)
            asset_version_set_status(version=base_a, status=VersionStatus.SUPERSEDED, by=by, at=now, reason=reason)
        av = AssetParameterVersion.objects.get(pk=change.asset_version_id)
        if av.status == VersionStatus.DRAFT:
            av = asset_version_set_status(version=av, status=VersionStatus.APPROVED, by=by, at=now, reason=reason)
        asset_version_set_status(version=av, status=VersionStatus.ACTIVE, by=by, at=now, reason=reason)


def _activate_locked(p: Proposal, *, now: datetime) -> None:
    """Activate a locked, scheduled proposal or raise ``Conflict`` (nothing changed)."""
    policy = p.policy or policy_current()
    earliest = p.approved_at + proposal_timelock(p.kind, policy)  # type: ignore[operator]
    if now < earliest or now < p.effective_at:  # type: ignore[operator]
        raise Conflict(f"proposal #{p.pk} cannot be active before {max(earliest, p.effective_at):%Y-%m-%d %H:%M} UTC")  # type: ignore[type-var]
    changes = proposal_changes(p)
    _lock_subjects(changes)
    errors = [e for c in changes for e in change_base_errors(c)]
    if errors:
        raise Conflict("; ".join(e.message for e in errors), extra={"errors": [e.as_dict() for e in errors]})
    for c in changes:
        _swap(c, now=now, by=None, reason=f"proposal #{p.pk} activated")
    p.activated_at = now
    p.activation_error = ""
    _transition(p, "activate", by=None, comment=f"effective_at {p.effective_at:%Y-%m-%d %H:%M} UTC reached")  # type: ignore[str-format]


def proposals_activate_due(*, now: datetime | None = None) -> list[int]:
    """Activate every scheduled proposal whose ``effective_at`` has come (beat task).

    Idempotent and safe with several workers: each proposal is re-read under
    ``select_for_update(skip_locked=True)`` and only a still-scheduled, due one is touched;
    superseding the old versions and activating the new ones happen in one transaction, so
    exactly one version per market is active at any instant. A proposal whose base version
    is no longer active stays scheduled; the refusal is audited and notified once.
    Returns the ids activated.
    """
    now = now or timezone.now()
    done = []
    ids = list(
        Proposal.objects.filter(status=ProposalStatus.SCHEDULED, effective_at__lte=now)
        .order_by("effective_at", "pk")
        .values_list("pk", flat=True)
    )
    for pk in ids:
        with transaction.atomic():
            p = (
                Proposal.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, status=ProposalStatus.SCHEDULED, effective_at__lte=now)
                .first()
            )
            if p is None:
                continue
            try:
                with transaction.atomic():
                    _activate_locked(p, now=now)
            except Conflict as exc:  # the savepoint rolled back; the proposal stays scheduled
                if p.activation_error != exc.message:
                    Proposal.objects.filter(pk=p.pk).update(activation_error=exc.message)
                    _audit(
                        p,
                        by=None,
                        action="activation_refused",
                        frm=p.status,
                        to=p.status,
                        comment=exc.message,
                        after=exc.extra or None,
                    )
                    _on_commit("activation_refused", p.pk, reason=exc.message)
                continue
            _on_commit("activated", p.pk)
            done.append(pk)
    return done


# --- emergencies --------------------------------------------------------------------------
@transaction.atomic
def emergency_change(
    *,
    by: Any,
    rationale: str,
    changes: list[dict[str, Any]],
    title: str = "Emergency change",
    now: datetime | None = None,
) -> Proposal:
    """A committee member activates a stricter-only change at once; the normal quorum must
    ratify it (``proposal_vote``) before ``ratify_by`` or it is reverted.

    Raises:
        NotAllowed: not a committee member.
        LintFailed: a change is invalid or not stricter everywhere (every finding listed).
    """
    _require(by, COMMITTEE, action="an emergency change")
    if not (rationale or "").strip():
        raise DomainError("an emergency change needs a rationale")
    now = now or timezone.now()
    policy = policy_current()
    p = Proposal(
        title=title,
        rationale=rationale,
        proposer=by,
        proposer_name=by.get_username(),
        requested_effective_at=now,
        kind=ProposalKind.EMERGENCY,
        policy=policy,
    )
    _full_clean(p)
    p.save()
    created = _create_changes(p, changes, by=by)
    _lock_subjects(created)
    errors: list[LintError] = []
    for c in proposal_changes(p):
        errors += change_base_errors(c)
        base = c.base_version
        if base is None:
            errors.append(LintError(c.subject, "no_active_version", f"{c.subject}: nothing active to tighten"))
        elif c.market_version_id:
            errors += stricter_only_violations(c.subject, market_terms(base), market_terms(c.market_version))  # type: ignore[arg-type]
        else:
            errors += haircut_violations(c.subject, base.haircut, c.asset_version.haircut)  # type: ignore[union-attr]
    if errors:
        raise LintFailed(errors)
    _audit(p, by=by, action="create", to=ProposalStatus.DRAFT, after=_dump(p), comment=rationale)
    for c in proposal_changes(p):
        _swap(c, now=now, by=by, reason=f"emergency proposal #{p.pk}")
    p.submitted_at = p.approved_at = p.activated_at = p.effective_at = now
    p.ratify_by = now + timedelta(hours=policy.emergency_ratification_hours)
    _transition(p, "activate_emergency", by=by, comment=rationale, after={"ratify_by": p.ratify_by.isoformat()})
    _on_commit("emergency", p.pk)
    return p


def _emergency_revert(p: Proposal, *, by: Any, now: datetime, reason: str) -> None:
    """Restore the base values as new active versions (where the emergency version is
    still active), mark the proposal reverted, notify everyone."""
    restored, skipped = [], []
    changes = proposal_changes(p)
    _lock_subjects(changes)
    for c in changes:
        v = type(c.version).objects.get(pk=c.version.pk)
        if v.status != VersionStatus.ACTIVE:
            skipped.append(c.subject)  # replaced since by another change: leave it alone
            continue
        base = c.base_version
        why = f"revert of emergency proposal #{p.pk}: {reason}"
        if c.market_version_id:
            assert isinstance(base, MarketParameterVersion)
            new = market_version_create(
                market=base.market,
                fields={f: getattr(base, f) for f in MARKET_FIELDS},
                brackets=[{f: getattr(b, f) for f in BRACKET_INPUT_FIELDS} for b in base.brackets.order_by("index")],
                by=by,
                reason=why,
            )
            market_version_set_status(version=v, status=VersionStatus.SUPERSEDED, by=by, at=now, reason=why)
            new = market_version_set_status(version=new, status=VersionStatus.APPROVED, by=by, at=now, reason=why)
            market_version_set_status(version=new, status=VersionStatus.ACTIVE, by=by, at=now, reason=why)
            restored.append(
                {
                    "subject": c.subject,
                    "version_id": new.pk,
                    "copied_from": base.pk,
                    "values": market_version_as_dict(new),
                }
            )
        else:
            assert isinstance(base, AssetParameterVersion)
            new_a = asset_version_create(asset=base.asset, haircut=base.haircut, by=by, reason=why)
            asset_version_set_status(version=v, status=VersionStatus.SUPERSEDED, by=by, at=now, reason=why)
            new_a = asset_version_set_status(version=new_a, status=VersionStatus.APPROVED, by=by, at=now, reason=why)
            asset_version_set_status(version=new_a, status=VersionStatus.ACTIVE, by=by, at=now, reason=why)
            restored.append({"subject": c.subject, "version_id": new_a.pk, "copied_from": base.pk})
    p.closed_at = now
    _transition(p, "revert", by=by, comment=reason, after={"restored": restored, "skipped": skipped})
    _on_commit("reverted", p.pk, reason=reason)


def emergencies_revert_due(*, now: datetime | None = None) -> list[int]:
    """Revert every emergency change not ratified by ``ratify_by`` (beat task). Idempotent."""
    now = now or timezone.now()
    done = []
    ids = list(
        Proposal.objects.filter(
            kind=ProposalKind.EMERGENCY, status=ProposalStatus.ACTIVE, ratify_by__lt=now
        ).values_list("pk", flat=True)
    )
    for pk in ids:
        with transaction.atomic():
            p = (
                Proposal.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, kind=ProposalKind.EMERGENCY, status=ProposalStatus.ACTIVE, ratify_by__lt=now)
                .first()
            )
            if p is None:
                continue
            _emergency_revert(p, by=None, now=now, reason=f"not ratified by {p.ratify_by:%Y-%m-%d %H:%M} UTC")
            done.append(pk)
    return done
