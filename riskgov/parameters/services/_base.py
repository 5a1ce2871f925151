"""Shared pieces of the parameter services: the domain error, column fitting, provenance."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Max

from riskgov.core.exceptions import DomainError
from riskgov.parameters.models import VersionStatus
from riskgov.parameters.validation import ParameterError


class ParameterDocumentInvalid(DomainError):
    """The parameter document breaks the format or RISK_MODEL §2; ``extra["errors"]`` lists all.

    Raised by the version services with ``extra = {"errors": [text, …], "parameter_errors":
    [{subject, bracket, field, rule, message, kind}, …]}`` (the one validator's structure,
    :class:`riskgov.parameters.validation.ParameterError`); by the document import with
    ``extra = {"errors": [text, …]}`` (format errors have no structure).
    """

    @classmethod
    def from_errors(cls, errors: list[ParameterError]) -> ParameterDocumentInvalid:
        """The first error as the message, every error in ``extra``."""
        texts = [e.text for e in errors]
        return cls(texts[0], extra={"errors": texts, "parameter_errors": [e.as_dict() for e in errors]})


def _quantize(value: Decimal, spec: dict[str, int], where: str) -> Decimal:
    """Round to the column's scale; refuse values that do not fit the column at all.

    Raises:
        ParameterDocumentInvalid: one line naming ``where`` — too many digits for the column
            (also when the value is so large that rounding it overflows the decimal context).
    """
    try:
        q = value.quantize(Decimal(1).scaleb(-spec["decimal_places"]))
    except InvalidOperation:
        q = None
    if q is None or len(q.as_tuple().digits) > spec["max_digits"]:
        raise ParameterDocumentInvalid(
            f"{where}: {value} does not fit NUMERIC({spec['max_digits']},{spec['decimal_places']})"
        )
    return q


def _provenance(*, by: Any, status: str, now: Any) -> dict[str, Any]:
    """Who created a version, and its approval/activation time when it is born active."""
    user = by if getattr(by, "is_authenticated", False) else None
    born_active = status == VersionStatus.ACTIVE
    return {
        "created_by": user,
        "created_by_name": user.get_username() if user else "",
        "approved_at": now if born_active else None,
        "activated_at": now if born_active else None,
    }


def _next_number(model: type, **subject: Any) -> int:
    current = model.objects.filter(**subject).aggregate(n=Max("number"))["n"]
    return (current or 0) + 1
