"""Governed subject kinds: the protocol every kind implements and the registry (DESIGN "Governed subjects").

Everything a committee changes — market parameters, asset parameters, next the policy itself
and portfolio-margin parameters per underlying — is a *subject kind*, registered once by the
app that owns its version model (``riskgov.parameters.subjects`` registers ``"market"`` and
``"asset"`` from ``ParametersConfig.ready``). Proposals, votes, timelock, activation, audit,
diff and impact (``riskgov.governance``) are written once for all kinds: they look the kind
up here by name (``ProposalChange.kind``, or the key of a change spec) and never branch on
market vs asset.

Pure Python, no Django import (so it can be imported anywhere); a kind's methods may of
course use the ORM of their own app.

A change spec (API ``POST /api/v1/proposals/`` ``changes[i]``, web forms) names its kind by
the key that holds the subject: ``{"market": "BTC-PERP", …}``, ``{"asset": "BTC", …}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "Finding",
    "FormField",
    "FormTable",
    "SpecRefused",
    "SubjectKind",
    "UnknownSubjectKind",
    "kind_for_spec",
    "register",
    "registered_kinds",
    "subject_kind",
    "unregister",
]


@dataclass(frozen=True)
class Finding:
    """One failed check on a governed subject (governance calls it ``LintError``).

    Attributes:
        where: human place, e.g. ``"BTC-PERP bracket 2"``, ``"BTC haircut"``, ``"effective_at"``.
        rule: machine name of the rule (``mmf_below_imf``, ``stale_base``, …).
        message: what people read.
        subject: the subject symbol (``""`` for proposal-level findings).
        bracket: 1-based bracket index when the finding is about one bracket, else None.
        field: the field it is about (``maintenance_margin_fraction``, ``haircut``,
            ``effective_at``…), ``""`` when none — forms put the error next to this field.
    """

    where: str
    rule: str
    message: str
    subject: str = ""
    bracket: int | None = None
    field: str = ""

    def as_dict(self) -> dict[str, Any]:
        """``{where, rule, message, subject, bracket, field}`` (JSON-safe; API ``extra.errors``)."""
        return {
            "where": self.where,
            "rule": self.rule,
            "message": self.message,
            "subject": self.subject,
            "bracket": self.bracket,
            "field": self.field,
        }


@dataclass(frozen=True)
class FormField:
    """One input of a kind's change in the committee forms (optional kind attribute
    ``form_fields``: a tuple of these; the web UI builds its rows from them, never per kind).

    Attributes:
        name: the change-spec key (``liquidation_penalty``, ``haircut``, ``quorum``…).
        label: shown to people, with its unit (``"Depth (USD per 1 % move)"``).
        unit: ``"fraction"`` (typed as a percent ``0.5 %`` or a decimal ``0.005``, sent as the
            fraction), ``"number"`` (a plain decimal) or ``"choice"`` (one of ``choices``).
        help: a short hint under the input.
        empty: what an empty input sends — ``"omit"`` (left out: the kind keeps the base
            version's value), ``"null"`` (``None``, e.g. no position limit) or ``"blank"``
            (``""``, so the validator names the missing field).
        choices: the allowed values of a ``"choice"`` input.
    """

    name: str
    label: str
    unit: str = "number"
    help: str = ""
    empty: str = "omit"
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class FormTable:
    """A list-valued spec key edited as a table of rows (optional kind attribute ``form_tables``).

    Attributes:
        name: the change-spec key (``brackets``, ``extended``, ``scenarios``); each row is a
            dict of ``columns`` names.
        label: the table's heading.
        columns: the inputs of one row.
        numbered: findings' ``bracket`` k (1-based) is the k-th non-blank row of this table.
        empty: what a table without rows sends — ``"omit"`` (keep the base version's rows) or
            ``"null"`` (``None``, e.g. PM scenarios: the standard grid).
        max_rows: rows accepted at most (bounded input).
    """

    name: str
    label: str
    columns: tuple[FormField, ...]
    numbered: bool = False
    empty: str = "omit"
    max_rows: int = 40


class SpecRefused(ValueError):
    """A change spec cannot be read (unknown field, not a number, missing value…).

    Attributes:
        findings: every problem, as :class:`Finding`.
    """

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = list(findings)
        super().__init__("; ".join(f.message for f in self.findings))


class UnknownSubjectKind(LookupError):
    """No kind is registered under that name."""


@runtime_checkable
class SubjectKind(Protocol):
    """What a governed subject kind declares (one module per kind).

    Attributes:
        name: registry key; also ``ProposalChange.kind`` and the change-spec key naming the
            subject (``"market"``, ``"asset"``, ``"policy"``).
        label: shown to people (``"market"``).
        version_model: the Django model of its immutable versions (one active per subject).
        same_what: what "no change" means in messages ("values", "haircut").
        version_url_name: URL name of a version page taking ``pk``, or ``""`` for none.
        fast_track_allowed: False when a change of this kind always needs the normal quorum
            and timelock (the policy itself).
    """

    name: str
    label: str
    version_model: type
    same_what: str
    version_url_name: str
    fast_track_allowed: bool

    # -- subjects and versions ---------------------------------------------------------
    def find_subject(self, symbol: str) -> Any | None:
        """The subject row named ``symbol``, or None."""

    def subject_symbol(self, version: Any) -> str:
        """The symbol of the subject a version belongs to."""

    def active_version(self, subject: Any) -> Any | None:
        """The subject's active version, or None."""

    def active_version_id(self, version: Any) -> int | None:
        """Id of the active version of the subject ``version`` belongs to (None: none active)."""

    def lock_subjects(self, versions: Sequence[Any]) -> None:
        """``SELECT … FOR UPDATE`` the subjects of ``versions`` in id order (serializes
        activations and version creation on one subject)."""

    def versions_by_id(self, ids: Sequence[int]) -> dict[int, Any]:
        """Versions by id, with whatever their values need loaded (brackets…)."""

    # -- proposed values -----------------------------------------------------------------
    def parse_spec(self, spec: Mapping[str, Any], *, subject: Any, base: Any | None) -> Any:
        """Read a change spec into the kind's payload (fields left out keep ``base``'s values).

        Raises:
            SpecRefused: the spec cannot be read.
        """

    def validate(self, symbol: str, payload: Any) -> list[Finding]:
        """The one validator's verdict on a payload (empty: valid)."""

    def create_version(self, *, subject: Any, payload: Any, by: Any, reason: str) -> Any:
        """Write a draft version (audited by the owning app's service)."""

    def payload_of(self, version: Any) -> Any:
        """A version's values as a payload (to re-create it as a fresh draft or to revert)."""

    def spec_of(self, symbol: str, version: Any) -> dict[str, Any]:
        """A version as a change spec (``{name: symbol, …}``)."""

    # -- lifecycle -----------------------------------------------------------------------
    def set_status(self, version: Any, *, status: str, by: Any, at: Any, reason: str) -> Any:
        """Move a version along the allowed status transitions (audited)."""

    # -- comparison ----------------------------------------------------------------------
    def values(self, version: Any | None) -> dict[str, Decimal | None]:
        """Governed fields by path (``liquidation_penalty``, ``brackets[2].initial_margin_fraction``,
        ``haircut``); ``{}`` for None (fast track, "no change" lint)."""

    def history(self, version: Any) -> list[Any]:
        """Versions of the same subject that were ever active, oldest activation first."""

    def diff(self, base: Any | None, new: Any) -> Any:
        """The diff shown on proposal pages and in the API (the owning app's format)."""

    def stricter_violations(self, symbol: str, base: Any, new: Any) -> list[Finding]:
        """Why ``new`` is not at least as strict as ``base`` everywhere (emergencies); empty: it is."""

    def as_audit(self, version: Any) -> dict[str, Any]:
        """A version as JSON-safe data for audit rows."""

    # -- engine --------------------------------------------------------------------------
    def engine_overrides(self, versions: Sequence[Any]) -> list[Any]:
        """The versions to overlay on the active engine parameter set for an impact run
        (``[]`` for kinds the risk engine does not read, e.g. the policy)."""

    # Optional, for the committee forms (a kind without them is not offered there):
    #   form_fields: tuple[FormField, ...]; form_tables: tuple[FormTable, ...];
    #   def form_subjects(self) -> list[str]: symbols a change may name (with an active version).


_KINDS: dict[str, SubjectKind] = {}


def register(kind: SubjectKind) -> SubjectKind:
    """Register ``kind`` under ``kind.name`` (idempotent for the same object).

    Raises:
        ValueError: another kind is already registered under that name.
    """
    current = _KINDS.get(kind.name)
    if current is not None and current is not kind:
        raise ValueError(f"a subject kind named {kind.name!r} is already registered")
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Remove a kind (tests)."""
    _KINDS.pop(name, None)


def subject_kind(name: str) -> SubjectKind:
    """The kind registered as ``name``.

    Raises:
        UnknownSubjectKind: none is.
    """
    try:
        return _KINDS[name]
    except KeyError:
        raise UnknownSubjectKind(f"unknown subject kind {name!r} (registered: {', '.join(sorted(_KINDS))})") from None


def registered_kinds() -> tuple[SubjectKind, ...]:
    """Every registered kind, in registration order."""
    return tuple(_KINDS.values())


def kind_for_spec(spec: Mapping[str, Any]) -> SubjectKind | None:
    """The one kind whose name is a key of ``spec``; None when none or several are."""
    found = [k for name, k in _KINDS.items() if name in spec]
    return found[0] if len(found) == 1 else None
