"""Admin: the audit trail is read-only; ``ReadOnlyAdmin`` for every risk input.

Risk inputs (markets, assets, prices, snapshots, runs, reports, firings) change only through
services that audit them; the admin lists and shows them, never adds, edits or deletes
(issue 13.4).
"""

from django.contrib import admin

from riskgov.core.models import AuditEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """Listed and viewed only: no add, change or delete (the services write these rows)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor_name", "action", "object_repr", "from_state", "to_state")
    list_filter = ("action", "object_type")
    search_fields = ("object_repr", "actor_name", "comment", "request_id")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _install_audited_unlock() -> None:
    """Unlocking a locked-out user (deleting django-axes' access attempts) is audited."""
    from axes.admin import AccessAttemptAdmin
    from axes.models import AccessAttempt
    from django.db import transaction

    from riskgov.core.services import audit_record

    class AuditedAccessAttemptAdmin(AccessAttemptAdmin):
        """Access attempts (django-axes): deleting a row unlocks that user/address, audited."""

        def _audit(self, request, attempt):
            audit_record(
                actor=request.user,
                action="auth.unlock",
                object_type="auth.user",
                object_id=(attempt.username or "")[:64],
                object_repr=attempt.username or attempt.ip_address or "",
                before={
                    "username": attempt.username,
                    "address": attempt.ip_address,
                    "failures": attempt.failures_since_start,
                },
            )

        @transaction.atomic
        def delete_model(self, request, obj):
            self._audit(request, obj)
            super().delete_model(request, obj)

        @transaction.atomic
        def delete_queryset(self, request, queryset):
            for attempt in queryset:
                self._audit(request, attempt)
            super().delete_queryset(request, queryset)

    if admin.site.is_registered(AccessAttempt):
        admin.site.unregister(AccessAttempt)
    admin.site.register(AccessAttempt, AuditedAccessAttemptAdmin)


_install_audited_unlock()
