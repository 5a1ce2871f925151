"""Admin: health runs are read-only here (status changes only through services, STYLE rule 7).

The beat schedule of the scheduled run is edited in django-celery-beat's own admin
("Periodic tasks"), created by ``manage.py setup_schedules``.
"""

from django.contrib import admin

from riskgov.core.admin import ReadOnlyAdmin
from riskgov.health.models import HealthRun


@admin.register(HealthRun)
class HealthRunAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "kind",
        "status",
        "progress",
        "snapshot",
        "created_at",
        "published_at",
        "n_accounts",
        "shortfall_usd",
        "es_usd",
    )
    list_filter = ("kind", "status")
    search_fields = ("label", "input_hash")
    readonly_fields = [f.name for f in HealthRun._meta.fields]
