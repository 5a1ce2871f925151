"""Proposal and emergency-change forms: any number of changes of every governed kind in
one submit (``riskgov.web.change_forms``), validated and stored by the same governance
services as the API (all or nothing); the views only parse, call one service and place its
findings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from riskgov.core.access import forbidden, role_required
from riskgov.core.exceptions import DomainError, NotAllowed
from riskgov.core.roles import ANALYST, COMMITTEE, has_role
from riskgov.governance import selectors as gov_selectors
from riskgov.governance import services as gov
from riskgov.governance.models import Proposal
from riskgov.web import change_forms as cf
from riskgov.web import forms as f

Change = tuple[Any, str, dict[str, Any]]  # (kind, subject symbol, spec)


def _domain_errors(exc: DomainError) -> list[dict[str, Any]]:
    """A refused service call's errors as ``{subject, bracket, field, rule, message}`` dicts."""
    extra = exc.extra or {}
    if extra.get("parameter_errors"):  # the one validator's structure (parameter services)
        return [{**e, "message": f"{e['subject']} {e['field']}: {e['message']}"} for e in extra["parameter_errors"]]
    if extra.get("errors") and all(isinstance(e, dict) for e in extra["errors"]):
        return list(extra["errors"])
    if isinstance(extra.get("fields"), dict):
        out = []
        for field, msgs in extra["fields"].items():
            where = "effective_at" if field == "requested_effective_at" else field
            for msg in msgs:
                out.append({"field": where, "rule": "invalid", "message": f"{field}: {msg}"})
        return out
    if extra.get("errors"):  # e.g. parameter document findings (strings)
        return [{"rule": "invalid", "message": str(e)} for e in extra["errors"]]
    return [{"rule": "refused", "message": exc.message}]


def _requested_changes(request: HttpRequest) -> list[Change]:
    """The changes a new form opens with: ``?market=BTC-PERP``, ``?asset=BTC``… (any
    offered kind, by its name), each from the subject's active values; else one change of
    the first kind's first subject (the first market)."""
    out: list[Change] = []
    for kind in cf.form_kinds():
        for symbol in request.GET.getlist(kind.name):
            if symbol in kind.form_subjects():
                out.append((kind, symbol, cf.active_spec(kind, symbol)))
    if not out:
        kind = next(iter(cf.form_kinds()), None)
        symbols = list(kind.form_subjects()) if kind is not None else []
        if symbols:
            out.append((kind, symbols[0], cf.active_spec(kind, symbols[0])))
    return out


def _change_page(
    request: HttpRequest,
    *,
    head_class: type[f.ChangeForm],
    head: dict[str, Any],
    changes: list[Change],
    submit: Callable[[f.ChangeForm, list[dict[str, Any]]], Proposal],
    context: dict[str, Any],
    success: str,
) -> HttpResponse:
    """GET: the form from ``head`` and ``changes``. POST with ``action=save`` (the default):
    parse every row, build the specs and call ``submit`` (one service call: every change is
    stored, or nothing is); its findings go back on the rows and fields they name, with
    everything typed kept. Any other action (add a change, load a subject's values, add a
    table row) changes the posted data and shows the page again, storing nothing."""
    general: list[str] = []
    notice = ""
    show_errors = refused = False
    if request.method == "POST":
        data = request.POST.dict()
        action = data.pop("action", "save") or "save"
        stale = cf.stale_rows(data) if action == "save" else []
        if action != "save":
            notice = cf.apply_action(data, action)
        elif stale:  # a subject switched without its values loaded (no script): load, never guess
            notice = " ".join(cf.load_row(data, i) for i in stale)
        head_form = head_class(data)
        formset = cf.ChangeFormSet(data, prefix=cf.PREFIX)
        if action == "save" and not stale:
            show_errors = True
            rows_ok = formset.is_valid()
            if head_form.is_valid() and rows_ok:
                specs, places = cf.change_specs(formset)
                try:
                    proposal = submit(head_form, specs)
                except NotAllowed:
                    raise
                except DomainError as exc:
                    general = cf.place_errors(_domain_errors(exc), head=head_form, formset=formset, places=places)
                except ValidationError as exc:
                    general = list(exc.messages)
                else:
                    messages.success(request, success.format(id=proposal.pk, title=proposal.title))
                    return redirect("proposal-detail", pk=proposal.pk)
            general += list(formset.non_form_errors())
            if not general and head_form.is_valid() and rows_ok and not _has_row_errors(formset):
                general = ["The change was refused."]
            refused = True
    else:
        data = cf.form_data(head, changes)
        head_form = head_class(data)
        formset = cf.ChangeFormSet(data, prefix=cf.PREFIX)
    return render(
        request,
        "governance/change_form.html",
        {
            "form": head_form,
            "head_fields": [
                {"bf": head_form[n], "errors": list(head_form.errors.get(n, [])) if show_errors else []}
                for n in head_form.fields
            ],
            "formset": formset,
            "rows": cf.page_rows(formset, show_errors=show_errors),
            "kinds": [{"name": k.name, "label": k.label} for k in cf.form_kinds()],
            "general_errors": general,
            "refused": refused,
            "head_errors": list(head_form.non_field_errors()) if show_errors else [],
            "notice": notice,
            **context,
        },
        status=200,
    )


def _has_row_errors(formset: Any) -> bool:
    return any(getattr(r, "change_errors", None) or getattr(r, "table_row_errors", None) for r in formset.forms)


def _action_refused(request: HttpRequest) -> bool:
    """A GET, or a POST that only rearranges the form (no service call to refuse it)."""
    return request.method == "GET" or (request.POST.get("action") or "save") != "save"


@role_required
def proposal_new(request: HttpRequest) -> HttpResponse:
    """An analyst drafts a proposal with any number of changes (``proposal_create``)."""
    if _action_refused(request) and not has_role(request.user, ANALYST):  # a save is refused by the service
        return forbidden(request, "Creating a proposal needs the analyst role.")
    effective = (timezone.now() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)

    def submit(form: f.ChangeForm, specs: list[dict[str, Any]]) -> Proposal:
        d = form.cleaned_data
        return gov.proposal_create(
            by=request.user, title=d["title"], rationale=d["rationale"], effective_at=d["effective_at"], changes=specs
        )

    return _change_page(
        request,
        head_class=f.ProposalForm,
        head={"title": "", "rationale": "", "effective_at": effective.strftime(f.DATETIME_LOCAL)},
        changes=_requested_changes(request) if request.method == "GET" else [],
        submit=submit,
        context={"heading": "New proposal", "button": "Save draft"},
        success="Proposal #{id} saved as a draft. Check the lint results, then submit it.",
    )


@role_required
def proposal_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """An author edits a proposal — every change of it, adding and removing changes
    (``proposal_update``); an edit after submission sends it back to draft and drops its
    votes (the service does, and says so)."""
    p = get_object_or_404(Proposal, pk=pk)
    if _action_refused(request) and not gov_selectors.proposal_allowed_actions(p, request.user).edit:
        return forbidden(request, "Only the proposer or a co-author (analyst role) may edit this proposal now.")
    changes: list[Change] = []
    if request.method == "GET":
        for c in gov_selectors.proposal_changes(p):
            kind = cf.form_kind(c.kind)
            if kind is not None:
                changes.append((kind, c.subject, kind.spec_of(c.subject, c.version)))
    effective = p.requested_effective_at
    head = {
        "title": p.title,
        "rationale": p.rationale,
        "effective_at": effective.astimezone(UTC).strftime(f.DATETIME_LOCAL) if effective else "",
    }

    def submit(form: f.ChangeForm, specs: list[dict[str, Any]]) -> Proposal:
        d = form.cleaned_data
        return gov.proposal_update(
            proposal=p,
            by=request.user,
            title=d["title"],
            rationale=d["rationale"],
            effective_at=d["effective_at"],
            changes=specs,
            comment="edited in the web UI",
        )

    return _change_page(
        request,
        head_class=f.ProposalForm,
        head=head,
        changes=changes,
        submit=submit,
        context={"heading": f"Edit proposal #{p.pk}", "button": "Save changes", "proposal": p},
        success="Proposal #{id} saved.",
    )


@role_required
def emergency_new(request: HttpRequest) -> HttpResponse:
    """A committee member activates stricter-only changes at once (``emergency_change``)."""
    if _action_refused(request) and not has_role(request.user, COMMITTEE):  # a save is refused by the service
        return forbidden(request, "An emergency change needs the committee role.")

    def submit(form: f.ChangeForm, specs: list[dict[str, Any]]) -> Proposal:
        d = form.cleaned_data
        return gov.emergency_change(by=request.user, title=d["title"], rationale=d["rationale"], changes=specs)

    return _change_page(
        request,
        head_class=f.EmergencyForm,
        head={"title": "Emergency change", "rationale": ""},
        changes=_requested_changes(request) if request.method == "GET" else [],
        submit=submit,
        context={"heading": "Emergency change", "button": "Activate now", "emergency": True},
        success="Emergency change #{id} is active. The committee must ratify it.",
    )
