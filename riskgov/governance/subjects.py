"""The ``policy`` governed subject kind: the governance policy changed by proposal (RISK_MODEL §13).

Registered from ``GovernanceConfig.ready`` into :mod:`riskgov.core.subjects`. The subject
is the one policy (symbol ``"policy"``); its versions are ``Policy`` rows. A change spec is
``{"policy": "policy", <POLICY_FIELDS>…}`` — fields left out keep the active policy's
values. The validator is :func:`riskgov.governance.policy.policy_errors`, the stricter-than
test :func:`riskgov.governance.policy.policy_stricter_violations` (an emergency may only
tighten the policy), the engine reads nothing from it and a policy change is never
fast-tracked (``fast_track_allowed = False``): weakening the policy needs the current
policy's quorum and waits its timelock, like any normal proposal.

``policy_update`` (admins, immediate, audited) only **strengthens** the policy; it refuses a
weakening change, which must come through a proposal of this kind. A proposal whose base
policy was replaced meanwhile is stale and refused at activation, as for any kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from riskgov.core.exceptions import Conflict
from riskgov.core.services import audit_record
from riskgov.core.subjects import Finding, FormField, SpecRefused, register
from riskgov.governance.models import Policy
from riskgov.governance.policy import POLICY_STRICTER, policy_errors, policy_stricter_violations
from riskgov.parameters.selectors import field_change
from riskgov.parameters.services import VERSION_TRANSITIONS

SYMBOL = "policy"
FIELDS = tuple(POLICY_STRICTER)
_INT_FIELDS = tuple(f for f in FIELDS if f != "fast_track_max_relative_change")
_STAMP = {"approved": "approved_at", "active": "activated_at", "superseded": "superseded_at"}


@dataclass(frozen=True)
class PolicySubject:
    """The one governed policy (what ``find_subject("policy")`` returns)."""

    symbol: str = SYMBOL


def _values(p: Policy) -> dict[str, Decimal]:
    return {f: Decimal(str(getattr(p, f))) for f in FIELDS}


#: The policy change's inputs in the committee forms (labels and hints from the model).
FORM_FIELDS = tuple(
    FormField(
        f,
        str(Policy._meta.get_field(f).verbose_name).capitalize(),
        "fraction" if f == "fast_track_max_relative_change" else "number",
        str(Policy._meta.get_field(f).help_text),
    )
    for f in FIELDS
)


class PolicyKind:
    """The governance policy (quorum, timelock, expiry, fast-track bounds, ratification window)."""

    name = "policy"
    label = "policy"
    version_model = Policy
    same_what = "values"
    version_url_name = ""
    fast_track_allowed = False
    form_fields = FORM_FIELDS
    form_tables = ()

    def form_subjects(self) -> list[str]:
        """The one policy."""
        return [SYMBOL]

    def find_subject(self, symbol: str) -> PolicySubject | None:
        return PolicySubject() if symbol == SYMBOL else None

    def subject_symbol(self, version: Policy) -> str:
        return SYMBOL

    def active_version(self, subject: PolicySubject) -> Policy | None:
        from riskgov.governance.services.policies import policy_current

        return policy_current()

    def active_version_id(self, version: Policy) -> int | None:
        return Policy.objects.filter(is_active=True).values_list("pk", flat=True).first()

    def lock_subjects(self, versions: Sequence[Policy]) -> None:
        list(Policy.objects.select_for_update().filter(is_active=True).values_list("pk", flat=True))

    def versions_by_id(self, ids: Sequence[int]) -> dict[int, Policy]:
        return Policy.objects.in_bulk(list(ids))

    def parse_spec(
        self, spec: Mapping[str, Any], *, subject: PolicySubject, base: Policy | None, where: str = ""
    ) -> dict[str, Decimal]:
        unknown = set(spec) - {"policy", *FIELDS}
        if unknown:
            msg = f"{where or SYMBOL} (policy): unknown field(s) {sorted(unknown)}"
            raise SpecRefused([Finding(where or SYMBOL, "unknown_field", msg, SYMBOL)])
        values = _values(base) if base is not None else {}
        for f in FIELDS:
            if f in spec:
                try:
                    d = Decimal(str(spec[f]))
                except ArithmeticError as exc:
                    msg = f"policy {f}: {spec[f]!r} is not a number"
                    raise SpecRefused([Finding(f"policy {f}", "not_a_number", msg, SYMBOL, None, f)]) from exc
                if not d.is_finite():
                    msg = f"policy {f}: {spec[f]!r} is not finite"
                    raise SpecRefused([Finding(f"policy {f}", "not_a_number", msg, SYMBOL, None, f)])
                values[f] = d
        return values

    def validate(self, symbol: str, payload: dict[str, Decimal]) -> list[Finding]:
        return policy_errors(payload)

    @transaction.atomic
    def create_version(self, *, subject: PolicySubject, payload: dict[str, Decimal], by: Any, reason: str) -> Policy:
        user = by if getattr(by, "is_authenticated", False) else None
        values: dict[str, Any] = {f: int(payload[f]) for f in _INT_FIELDS}
        values["fast_track_max_relative_change"] = payload["fast_track_max_relative_change"]
        p = Policy(
            version=(Policy.objects.aggregate(n=Max("version"))["n"] or 0) + 1,
            is_active=False,
            status="draft",
            comment=reason,
            created_by=user,
            created_by_name=user.get_username() if user else "",
            **values,
        )
        p.full_clean()
        p.save()
        audit_record(
            actor=by, action="governance.policy.create", obj=p, to_state="draft", after=self.as_audit(p), comment=reason
        )
        return p

    def payload_of(self, version: Policy) -> dict[str, Decimal]:
        return _values(version)

    def spec_of(self, symbol: str, version: Policy) -> dict[str, Any]:
        return {"policy": SYMBOL, **{f: str(v) for f, v in _values(version).items()}}

    @transaction.atomic
    def set_status(self, version: Policy, *, status: str, by: Any, at: Any, reason: str) -> Policy:
        locked = Policy.objects.select_for_update().get(pk=version.pk)
        if status not in VERSION_TRANSITIONS[locked.status]:
            raise Conflict(f"{locked}: cannot go from {locked.status} to {status}")
        before = locked.status
        locked.status, locked.is_active = status, status == "active"
        fields = ["status", "is_active"]
        if status in _STAMP:
            setattr(locked, _STAMP[status], at or timezone.now())
            fields.append(_STAMP[status])
        locked.save(update_fields=fields)
        audit_record(
            actor=by, action="governance.policy.status", obj=locked, from_state=before, to_state=status, comment=reason
        )
        return locked

    def values(self, version: Policy | None) -> dict[str, Decimal | None]:
        return {} if version is None else dict(_values(version))

    def history(self, version: Policy) -> list[Policy]:
        return list(
            Policy.objects.filter(activated_at__isnull=False, status__in=["active", "superseded"]).order_by(
                "activated_at", "version"
            )
        )

    def diff(self, base: Policy | None, new: Policy) -> list[Any]:
        old = {} if base is None else _values(base)
        changes = [field_change(f, old.get(f), v) for f, v in _values(new).items()]
        return [c for c in changes if c is not None]

    def stricter_violations(self, symbol: str, base: Policy, new: Policy) -> list[Finding]:
        return policy_stricter_violations(_values(base), _values(new))

    def as_audit(self, version: Policy) -> dict[str, Any]:
        return {
            "version": version.version,
            "status": version.status,
            **{f: str(v) for f, v in _values(version).items()},
        }

    def engine_overrides(self, versions: Sequence[Policy]) -> list[Any]:
        return []


POLICY = register(PolicyKind())
