"""Admin: snapshots are read-only here (they are created by the import only)."""

from django.contrib import admin

from riskgov.snapshots.models import Snapshot


@admin.register(Snapshot)
class SnapshotAdmin(admin.ModelAdmin):
    list_display = ("id", "venue", "taken_at", "n_accounts", "n_positions", "n_balances", "generated", "created_at")
    list_filter = ("generated",)
    search_fields = ("venue", "source", "sha256")
    ordering = ("-taken_at", "-id")
    readonly_fields = [f.name for f in Snapshot._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
