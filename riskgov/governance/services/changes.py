"""Proposal changes: draft versions created, re-created and discarded with their proposal.

Kind-generic (:mod:`riskgov.core.subjects`): a change spec names its kind by the key that
holds the subject (``{"market": …}``, ``{"asset": …}``); the kind reads the spec, asks the
one exact validator and writes the draft version. Nothing here knows markets from assets.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from riskgov.core.subjects import SpecRefused, kind_for_spec, registered_kinds
from riskgov.governance.models import (
    Proposal,
    ProposalChange,
)
from riskgov.governance.policy import LintError
from riskgov.governance.selectors import (
    proposal_changes,
)
from riskgov.governance.services._base import LintFailed

MAX_SYMBOL_LENGTH = 64  # longer than any market/asset symbol column; refused before any query


# --- changes ------------------------------------------------------------------------------
def _kinds_hint() -> str:
    return " or ".join(k.name for k in registered_kinds())


def _plan(i: int, spec: Any) -> tuple[Any, Any, Any, Any, list[LintError]]:
    """Read ``changes[i]``: (kind, subject, base version, payload, validator findings).

    Raises:
        LintFailed: the spec cannot be read (unknown kind or subject, bad field or number).
    """
    where = f"changes[{i}]"
    kind = kind_for_spec(spec) if isinstance(spec, dict) else None
    if kind is None:
        raise LintFailed([LintError(where, "bad_change", f"{where}: give either {_kinds_hint()}")])
    symbol = spec[kind.name]
    if not isinstance(symbol, str) or not symbol or len(symbol) > MAX_SYMBOL_LENGTH or "\x00" in symbol:
        shown = repr(symbol)[:40]
        msg = f"{where}.{kind.name}: {shown} is not a {kind.label} symbol (text, 1–{MAX_SYMBOL_LENGTH} characters, no NUL)"
        raise LintFailed([LintError(where, "bad_symbol", msg, field=kind.name)])
    subject = kind.find_subject(symbol)
    if subject is None:
        raise LintFailed([LintError(where, f"unknown_{kind.name}", f"unknown {kind.label} {spec[kind.name]!r}")])
    base = kind.active_version(subject)
    try:
        payload = kind.parse_spec(spec, subject=subject, base=base, where=where)
    except SpecRefused as exc:
        raise LintFailed(exc.findings) from exc
    return kind, subject, base, payload, kind.validate(spec[kind.name], payload)


def _create_changes(proposal: Proposal, specs: Any, *, by: Any) -> list[ProposalChange]:
    """Validate every change spec, then create draft versions and ``ProposalChange`` rows.

    A spec is ``{<kind name>: symbol, <the kind's fields>…}`` — e.g. ``{"market": symbol,
    <market fields>…, "brackets": [...]}`` (fields left out keep the active version's
    values) or ``{"asset": symbol, "haircut": value}``.

    Raises:
        LintFailed: every validator finding of every change (nothing written), or the first
            unreadable spec.
    """
    if not isinstance(specs, list | tuple) or not specs:
        raise LintFailed([LintError("changes", "no_changes", "a proposal needs at least one change")])
    planned = []
    errors: list[LintError] = []
    seen: set[tuple[str, str]] = set()
    for i, spec in enumerate(specs):
        kind, subject, base, payload, findings = _plan(i, spec)
        symbol = spec[kind.name]
        errors += findings
        key = (kind.name, kind.subject_symbol(base) if base is not None else symbol)
        if key in seen:
            raise LintFailed([LintError(f"changes[{i}]", "duplicate", f"{key[1]} is changed twice")])
        seen.add(key)
        planned.append((kind, subject, base, payload))
    if errors:
        raise LintFailed(errors)
    reason = f"proposal #{proposal.pk}: {proposal.title}"
    out = []
    for kind, subject, base, payload in planned:
        v = kind.create_version(subject=subject, payload=payload, by=by, reason=reason)
        out.append(
            ProposalChange.objects.create(
                proposal=proposal,
                kind=kind.name,
                subject=kind.subject_symbol(v),
                version_id=v.pk,
                base_version_id=None if base is None else base.pk,
            )
        )
    return out


def _change_specs(proposal: Proposal) -> list[dict[str, Any]]:
    """The proposal's current changes as specs (to re-create them as fresh drafts)."""
    return [c.subject_kind.spec_of(c.subject, c.version) for c in proposal_changes(proposal)]


def _set_versions(proposal: Proposal, status: str, *, by: Any, at: datetime | None = None, reason: str = "") -> None:
    """Move every version of the proposal to ``status`` (approved/discarded)."""
    for c in proposal_changes(proposal):
        if c.version.status != status:
            c.subject_kind.set_status(c.version, status=status, by=by, at=at, reason=reason)


def _discard_changes(proposal: Proposal, *, by: Any, reason: str) -> None:
    _set_versions(proposal, "discarded", by=by, reason=reason)
