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

from riskgov.governance.services._base import POLICY_FIELDS, LintFailed
from riskgov.governance.services.activation import proposals_activate_due
from riskgov.governance.services.emergency import emergencies_revert_due, emergency_change
from riskgov.governance.services.impact_sweep import proposal_impacts_sweep
from riskgov.governance.services.policies import policy_current, policy_update
from riskgov.governance.services.proposals import (
    proposal_create,
    proposal_impact_compute,
    proposal_lint,
    proposal_record_impact,
    proposal_submit,
    proposal_update,
    proposal_withdraw,
    proposals_expire_due,
)
from riskgov.governance.services.votes import proposal_vote

__all__ = [
    "LintFailed",
    "POLICY_FIELDS",
    "emergencies_revert_due",
    "emergency_change",
    "policy_current",
    "policy_update",
    "proposal_create",
    "proposal_impact_compute",
    "proposal_impacts_sweep",
    "proposal_lint",
    "proposal_record_impact",
    "proposal_submit",
    "proposal_update",
    "proposal_vote",
    "proposal_withdraw",
    "proposals_activate_due",
    "proposals_expire_due",
]
