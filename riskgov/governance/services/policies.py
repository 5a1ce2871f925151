"""Policy: the current policy and its versioned updates (admins)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from riskgov.core.exceptions import DomainError
from riskgov.core.roles import ADMIN
from riskgov.core.services import audit_record
from riskgov.governance.models import (
    Policy,
)
from riskgov.governance.policy import LintError, policy_errors, policy_stricter_violations
from riskgov.governance.services._base import POLICY_FIELDS, LintFailed, _full_clean, _require


# --- policy -------------------------------------------------------------------------------
def _policy_values(p: Policy) -> dict[str, Decimal]:
    return {f: Decimal(str(getattr(p, f))) for f in POLICY_FIELDS}


def _needs_proposal(e: LintError, current: Policy) -> LintError:
    """A ``policy_weaker`` finding that says how the change is made instead."""
    return LintError(
        e.where,
        e.rule,
        f"{e.message}: a weakening change is made by a policy proposal, approved by {current.quorum} "
        f"committee members and active after the {current.timelock_hours} h timelock",
        subject=e.subject,
        field=e.field,
    )


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
            p = Policy(version=1, is_active=True, comment="default policy", activated_at=timezone.now())
            p.save()
            audit_record(actor=None, action="governance.policy.create", obj=p, to_state="active", after=_policy_dict(p))
            return p
    except IntegrityError:  # created meanwhile by someone else
        return Policy.objects.get(is_active=True)


@transaction.atomic
def policy_update(*, by: Any, comment: str = "", **fields: Any) -> Policy:
    """Admin only: **strengthen** the policy at once — the next version, audited.

    The policy is itself governed (RISK_MODEL §13, issue 13.2): a change that weakens it in
    any field (lower quorum, shorter timelock, longer expiry, wider fast-track bounds, longer
    ratification window — ``policy.policy_stricter_violations``) is refused here and must be
    proposed as a ``{"policy": "policy", …}`` change: that proposal needs the current
    policy's quorum of committee members and waits its timelock (never fast-tracked). A
    change that is at least as strict everywhere may be immediate: no single admin can
    loosen the rules, but one can tighten them in a hurry.

    Raises:
        NotAllowed: ``by`` is not an admin.
        LintFailed: the one policy validator (``policy.policy_errors``) refuses the values,
            or (rule ``policy_weaker``) the change weakens the policy; each finding names
            its ``field``.
        DomainError: an unknown field or a value the model refuses.
    """
    _require(by, ADMIN, action="changing the policy")
    unknown = set(fields) - set(POLICY_FIELDS)
    if unknown:
        raise DomainError(f"unknown policy field(s): {', '.join(sorted(unknown))}")
    current = Policy.objects.select_for_update().get(pk=policy_current().pk)
    if not current.is_active:  # replaced while we waited for the lock
        current = Policy.objects.select_for_update().get(is_active=True)
    values = {f: getattr(current, f) for f in POLICY_FIELDS} | fields
    try:
        exact = {f: Decimal(str(v)) for f, v in values.items()}
    except ArithmeticError:
        exact = None  # not numbers: the model's field validation names them below
    errors = policy_errors(exact) if exact is not None else []
    if errors:
        raise LintFailed(errors)
    if exact is not None:
        weaker = policy_stricter_violations(_policy_values(current), exact)
        if weaker:
            raise LintFailed([_needs_proposal(e, current) for e in weaker])
    now = timezone.now()
    Policy.objects.filter(pk=current.pk).update(is_active=False, status="superseded", superseded_at=now)
    new = Policy(
        version=(Policy.objects.aggregate(n=Max("version"))["n"] or 0) + 1,
        is_active=True,
        status="active",
        approved_at=now,
        activated_at=now,
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
