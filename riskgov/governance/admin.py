"""Admin: policy changes go through ``policy_update`` (audited); proposals and votes are read-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied

from riskgov.core.exceptions import DomainError
from riskgov.governance.models import Policy, Proposal, ProposalChange, Vote
from riskgov.governance.services import POLICY_FIELDS, policy_update


class PolicyForm(forms.ModelForm):
    class Meta:
        model = Policy
        fields = [*POLICY_FIELDS, "comment"]

    def validate_constraints(self) -> None:  # the service checks them on the new row
        return None


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    """Adding a policy creates the next version through the service; rows are never edited."""

    form = PolicyForm
    list_display = ("version", "is_active", "quorum", "timelock_hours", "expiry_days", "created_by_name", "created_at")

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def get_changeform_initial_data(self, request: Any) -> dict[str, Any]:
        current = Policy.objects.filter(is_active=True).first()
        return {f: getattr(current, f) for f in POLICY_FIELDS} if current else {}

    def save_model(self, request: Any, obj: Policy, form: Any, change: bool) -> None:
        try:
            new = policy_update(
                by=request.user,
                **{f: form.cleaned_data[f] for f in POLICY_FIELDS},
                comment=form.cleaned_data.get("comment", ""),
            )
        except DomainError as exc:
            if exc.status_code == 403:
                raise PermissionDenied(exc.message) from exc
            self.message_user(request, exc.message, messages.ERROR)
            raise
        obj.pk = new.pk


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


class ProposalChangeInline(admin.TabularInline):
    model = ProposalChange
    extra = 0
    can_delete = False
    fields = ("kind", "subject", "version_id", "base_version_id")
    readonly_fields = fields

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Proposal)
class ProposalAdmin(ReadOnlyAdmin):
    list_display = ("id", "title", "kind", "status", "proposer_name", "revision", "effective_at", "created_at")
    list_filter = ("status", "kind")
    search_fields = ("title", "rationale", "proposer_name")
    inlines = [ProposalChangeInline]


@admin.register(Vote)
class VoteAdmin(ReadOnlyAdmin):
    list_display = ("proposal", "voter_name", "decision", "impact_revision", "created_at", "updated_at")
    list_filter = ("decision",)
