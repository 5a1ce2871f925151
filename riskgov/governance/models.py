"""Governance state: policy, proposals, their changes and votes (RISK_MODEL §13).

Models hold state only; every rule (who may do what, quorum, timelock, fast track,
stricter-only emergencies) lives in ``services.py`` and the pure checks of ``policy.py``
(STYLE rule 7). The proposal status is a django-fsm-2 ``FSMField(protected=True)``: it
cannot be assigned, only moved by the ``@transition`` methods below, which refuse an
illegal move with ``TransitionNotAllowed`` — and only services call them, under a row lock.

Proposal life::

    draft ─submit→ submitted ─approve→ approved ─schedule→ scheduled ─activate→ active
      │               ├─reject→ rejected
      │               ├─expire→ expired
      │               └─return_to_draft→ draft   (edited after submission; votes dropped)
      └─(draft/submitted/approved/scheduled) ─withdraw→ withdrawn
    emergency: draft ─activate_emergency→ active ─ratify→ ratified | ─revert→ reverted
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, FSMModelMixin, transition

from riskgov.core.subjects import subject_kind


class Policy(models.Model):
    """One version of the governance policy; exactly one row is active (partial unique index).

    Rows are append-only in practice: ``policy_update`` deactivates the current row and
    creates the next version (audited). Committee size ``n`` is not stored: it is the number
    of active users in the committee group at the time it is needed.

    The policy is also a governed subject kind (``"policy"``, :mod:`riskgov.governance.subjects`):
    a proposal may carry a ``{"policy": "policy", <fields>…}`` change, which creates a
    ``draft`` row here that the normal proposal life approves and activates. ``status``
    follows the parameter versions' lifecycle (``parameters.models.VersionStatus``) and
    ``is_active`` is kept equal to ``status == "active"`` (CHECK constraint).
    """

    version = models.PositiveIntegerField(unique=True)
    is_active = models.BooleanField(default=True)
    status = models.CharField(max_length=16, default="active", db_index=True, help_text="draft … active, superseded")
    approved_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    superseded_at = models.DateTimeField(null=True, blank=True)
    quorum = models.PositiveSmallIntegerField(default=2, help_text="approvals needed (k of n)")
    timelock_hours = models.PositiveIntegerField(default=24, help_text="minimum delay approval → activation")
    expiry_days = models.PositiveIntegerField(default=14, help_text="a submitted proposal expires after")
    fast_track_quorum = models.PositiveSmallIntegerField(default=1)
    fast_track_timelock_hours = models.PositiveIntegerField(default=2)
    fast_track_max_relative_change = models.DecimalField(
        max_digits=8, decimal_places=6, default=Decimal("0.25"), help_text="per field, |after − before| / |before|"
    )
    fast_track_min_days_since_change = models.PositiveIntegerField(
        default=7, help_text="a field changed more recently than this cannot be fast-tracked"
    )
    emergency_ratification_hours = models.PositiveIntegerField(default=48)
    comment = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        verbose_name_plural = "policies"
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_policy"),
            models.CheckConstraint(condition=Q(quorum__gte=1), name="policy_quorum_positive"),
            models.CheckConstraint(
                condition=Q(fast_track_quorum__gte=1) & Q(fast_track_quorum__lte=models.F("quorum")),
                name="policy_fast_track_quorum_range",
            ),
            models.CheckConstraint(
                condition=Q(fast_track_timelock_hours__lte=models.F("timelock_hours")),
                name="policy_fast_track_timelock_shorter",
            ),
            models.CheckConstraint(
                condition=Q(fast_track_max_relative_change__gte=0) & Q(fast_track_max_relative_change__lte=1),
                name="policy_fast_track_bound_range",
            ),
            models.CheckConstraint(condition=Q(expiry_days__gte=1), name="policy_expiry_positive"),
            models.CheckConstraint(
                condition=Q(emergency_ratification_hours__gte=1), name="policy_ratification_positive"
            ),
            models.CheckConstraint(
                condition=(Q(status="active") & Q(is_active=True)) | (~Q(status="active") & Q(is_active=False)),
                name="policy_active_is_status_active",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "approved", "active", "superseded", "discarded"]),
                name="policy_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"policy v{self.version}{' (active)' if self.is_active else ''}"

    @property
    def number(self) -> int:
        """The version number (the name every governed version uses)."""
        return self.version


class ProposalStatus(models.TextChoices):
    """States of a proposal (see the module docstring for the transitions)."""

    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    SCHEDULED = "scheduled", "Scheduled"
    ACTIVE = "active", "Active"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPIRED = "expired", "Expired"
    RATIFIED = "ratified", "Ratified"
    REVERTED = "reverted", "Reverted"


class ProposalKind(models.TextChoices):
    """Normal (quorum k, full timelock), fast track (decided by policy bounds at submission)
    or emergency (stricter-only, active at once, ratified later)."""

    NORMAL = "normal", "Normal"
    FAST_TRACK = "fast_track", "Fast track"
    EMERGENCY = "emergency", "Emergency"


S = ProposalStatus
EDITABLE = (S.DRAFT, S.SUBMITTED, S.APPROVED, S.SCHEDULED)
OPEN = (S.DRAFT, S.SUBMITTED, S.APPROVED, S.SCHEDULED)


def _is_emergency(instance: Proposal) -> bool:
    return instance.kind == ProposalKind.EMERGENCY


def _is_not_emergency(instance: Proposal) -> bool:
    return instance.kind != ProposalKind.EMERGENCY


class Proposal(FSMModelMixin, models.Model):
    """A change of one or more markets'/assets' parameters into new versions.

    ``requested_effective_at`` is what the author asked for; ``effective_at`` is set when the
    proposal is scheduled: ``max(requested, approved_at + timelock)``. ``impact`` holds the
    frozen impact results computed for revision ``impact_revision``; a vote records which
    impact revision the voter saw. ``policy`` is the policy in force at submission (its
    quorum and timelock apply to this proposal even if the policy changes later).
    """

    title = models.CharField(max_length=200)
    rationale = models.TextField()
    proposer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="proposals")
    proposer_name = models.CharField(max_length=150)
    co_authors = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="co_authored_proposals")
    kind = models.CharField(max_length=16, choices=ProposalKind.choices, default=ProposalKind.NORMAL)
    status = FSMField(default=S.DRAFT, choices=S.choices, protected=True, db_index=True)
    revision = models.PositiveIntegerField(default=1)
    requested_effective_at = models.DateTimeField()
    effective_at = models.DateTimeField(null=True, blank=True, db_index=True)
    impact = models.JSONField(null=True, blank=True)
    impact_revision = models.PositiveIntegerField(null=True, blank=True)
    policy = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.PROTECT, related_name="proposals")
    activation_error = models.TextField(blank=True, help_text="why the last activation attempt was refused")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    ratify_by = models.DateTimeField(null=True, blank=True, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="rejected/withdrawn/expired/ratified/reverted")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in ProposalStatus]), name="proposal_status_valid"
            ),
            models.CheckConstraint(condition=Q(revision__gte=1), name="proposal_revision_positive"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title} ({self.status})"

    # --- transitions (called by services only, under select_for_update) -------------------
    @transition(field=status, source=S.DRAFT, target=S.SUBMITTED, conditions=[_is_not_emergency])
    def submit(self) -> None:
        """Draft → submitted."""

    @transition(field=status, source=[S.SUBMITTED, S.APPROVED, S.SCHEDULED], target=S.DRAFT)
    def return_to_draft(self) -> None:
        """Edited after submission: back to draft (the service drops the votes)."""

    @transition(field=status, source=S.SUBMITTED, target=S.APPROVED)
    def approve(self) -> None:
        """Quorum of approvals reached."""

    @transition(field=status, source=S.APPROVED, target=S.SCHEDULED)
    def schedule(self) -> None:
        """Approved → scheduled for ``effective_at``."""

    @transition(field=status, source=S.SUBMITTED, target=S.REJECTED)
    def reject(self) -> None:
        """Quorum of rejections reached."""

    @transition(field=status, source=list(OPEN), target=S.WITHDRAWN, conditions=[_is_not_emergency])
    def withdraw(self) -> None:
        """Withdrawn by its proposer before activation."""

    @transition(field=status, source=S.SUBMITTED, target=S.EXPIRED)
    def expire(self) -> None:
        """Not approved within the policy's window."""

    @transition(field=status, source=S.SCHEDULED, target=S.ACTIVE)
    def activate(self) -> None:
        """Its versions became the active ones."""

    @transition(field=status, source=S.DRAFT, target=S.ACTIVE, conditions=[_is_emergency])
    def activate_emergency(self) -> None:
        """An emergency change is active at once."""

    @transition(field=status, source=S.ACTIVE, target=S.RATIFIED, conditions=[_is_emergency])
    def ratify(self) -> None:
        """The committee ratified an emergency change in time."""

    @transition(field=status, source=S.ACTIVE, target=S.REVERTED, conditions=[_is_emergency])
    def revert(self) -> None:
        """An emergency change was not ratified (or was rejected): the previous values are back."""


class GovernedKind(models.Model):
    """A subject kind the database knows: its name and the table of its versions.

    One row per kind registered in :mod:`riskgov.core.subjects`, written by the kind's
    migration (``riskgov.governance.subject_sql.kind_operations``). On PostgreSQL the
    ``proposal_change`` trigger reads it to check that a change's versions exist in that
    table, and a ``BEFORE DELETE`` trigger on that table refuses to delete a version a
    change refers to (what ``on_delete=PROTECT`` did for the per-kind foreign keys).
    """

    name = models.CharField(max_length=32, primary_key=True)
    version_table = models.CharField(max_length=63)

    def __str__(self) -> str:
        return self.name


class ProposalChange(models.Model):
    """One governed subject changed by a proposal: its kind, the proposed and the base version.

    Kind-generic: ``kind`` names a registered subject kind (``"market"``, ``"asset"``,
    :mod:`riskgov.core.subjects`), ``subject`` the subject's symbol, ``version_id`` the
    proposed version and ``base_version_id`` the version that was active when the change was
    written (None for a subject with no active version yet), both ids in the kind's version
    model. Activation refuses when the base is no longer the active version.

    Integrity: a foreign key cannot point into "the kind's table", so the database guards
    the pair itself (migration ``0002_proposalchange_kind``, PostgreSQL): an insert or
    update is refused unless ``kind`` is a ``GovernedKind`` and both versions exist in its
    ``version_table``; deleting a referenced version is refused by a trigger on that table.
    A per-kind mapping in Python alone would let a raw SQL write orphan a change; a
    per-kind column pair would bring back the branching this model removes. Adding a kind
    is its module plus one migration calling ``kind_operations``.

    ``version``/``base_version`` load through the kind (cached; ``proposal_changes`` loads
    them in bulk). The old per-kind names (``market_version``, ``asset_version_id``…) stay
    as read-only properties for callers written before the registry.
    """

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="changes")
    kind = models.CharField(max_length=32, help_text="registered subject kind (market, asset, …)")
    subject = models.CharField(max_length=40, help_text="market or asset symbol")
    version_id = models.PositiveBigIntegerField(help_text="id of the proposed version in the kind's version model")
    base_version_id = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="id of the version active when the change was written"
    )

    class Meta:
        ordering = ["proposal", "id"]
        constraints = [
            models.UniqueConstraint(fields=["proposal", "kind", "subject"], name="proposal_change_subject_once"),
            models.CheckConstraint(
                condition=Q(base_version_id__isnull=True) | ~Q(base_version_id=models.F("version_id")),
                name="proposal_change_base_differs",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.proposal_id}: {self.kind} {self.subject}"

    @property
    def subject_kind(self) -> Any:
        """The registered :class:`riskgov.core.subjects.SubjectKind` of this change."""
        return subject_kind(self.kind)

    def _load(self, pk: int | None) -> Any:
        cache = self.__dict__.setdefault("_versions", {})
        if pk is None:
            return None
        if pk not in cache:
            cache.update(self.subject_kind.versions_by_id([pk]))
        return cache.get(pk)

    def cache_versions(self, versions: dict[int, Any]) -> None:
        """Give the change its versions (``proposal_changes`` loads them per kind in bulk)."""
        self.__dict__.setdefault("_versions", {}).update(
            {pk: v for pk, v in versions.items() if pk in (self.version_id, self.base_version_id)}
        )

    @property
    def version(self) -> Any:
        """The proposed version (a row of the kind's version model)."""
        return self._load(self.version_id)

    @property
    def base_version(self) -> Any | None:
        """The version that was active when the change was written, or None."""
        return self._load(self.base_version_id)

    # --- read-only names of the per-kind foreign keys this model had before the registry ---
    def _of(self, kind: str, pk: int | None, base: bool = False) -> Any:
        if self.kind != kind or pk is None:
            return None
        return self.base_version if base else self.version

    @property
    def market_version_id(self) -> int | None:
        return self.version_id if self.kind == "market" else None

    @property
    def base_market_version_id(self) -> int | None:
        return self.base_version_id if self.kind == "market" else None

    @property
    def asset_version_id(self) -> int | None:
        return self.version_id if self.kind == "asset" else None

    @property
    def base_asset_version_id(self) -> int | None:
        return self.base_version_id if self.kind == "asset" else None

    @property
    def market_version(self) -> Any:
        return self._of("market", self.version_id)

    @property
    def base_market_version(self) -> Any:
        return self._of("market", self.base_version_id, base=True)

    @property
    def asset_version(self) -> Any:
        return self._of("asset", self.version_id)

    @property
    def base_asset_version(self) -> Any:
        return self._of("asset", self.base_version_id, base=True)


class VoteDecision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class Vote(models.Model):
    """A committee member's vote on a proposal (one per member, by constraint)."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="votes")
    voter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="governance_votes")
    voter_name = models.CharField(max_length=150)
    decision = models.CharField(max_length=8, choices=VoteDecision.choices)
    comment = models.TextField()
    impact_revision = models.PositiveIntegerField(null=True, blank=True, help_text="impact the voter saw")
    proposal_revision = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["proposal", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["proposal", "voter"], name="one_vote_per_member"),
            models.CheckConstraint(condition=Q(decision__in=["approve", "reject"]), name="vote_decision_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.voter_name} {self.decision} #{self.proposal_id}"
