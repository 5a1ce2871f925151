"""Admin for PM parameter versions: read-only (they change only through services and governance)."""

from django.contrib import admin

from riskgov.parameters.admin import ReadOnlyAdmin
from riskgov.portfolio.models import PMParameterVersion


@admin.register(PMParameterVersion)
class PMParameterVersionAdmin(ReadOnlyAdmin):
    list_display = ("underlying", "number", "status", "price_range", "buckets", "mm_factor", "activated_at")
    list_filter = ("status", "underlying")
    search_fields = ("underlying__symbol", "reason", "source")
