"""Admin of the alerts: rules are edited here; firings and notifications are read-only (their
state changes only through ``firing`` and ``outbox``). The alert schedule is the
django-celery-beat "Periodic task" ``alerts.evaluate`` (``manage.py setup_schedules``).

Saving a rule enqueues an evaluation after commit: disabling a rule, or changing its kind or
market, closes its open firings then ("cleared" e-mail saying why, see ``riskgov.alerts``)
instead of at the next scheduled evaluation.
"""

import logging

from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import Count

from riskgov.alerts.models import AlertFiring, AlertNotification, AlertNotificationItem, AlertRule
from riskgov.core.roles import ALL_ROLES, ROLE_LABELS
from riskgov.core.services import audit_record
from riskgov.reports.admin import ReadOnlyAdmin


class AlertRuleForm(forms.ModelForm):
    """A rule's fields, with its roles as checkboxes."""

    roles = forms.MultipleChoiceField(
        choices=[(r, ROLE_LABELS[r]) for r in ALL_ROLES], widget=forms.CheckboxSelectMultiple, required=True
    )

    class Meta:
        model = AlertRule
        fields = ["name", "kind", "threshold", "market", "enabled", "renotify_minutes", "roles"]


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    """Rules are edited here; a save enqueues an evaluation after commit (module docstring)."""

    form = AlertRuleForm
    list_display = ("name", "kind", "threshold", "market", "enabled", "renotify_minutes", "roles")
    list_filter = ("kind", "enabled")
    list_editable = ("enabled",)

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        before = _rule_as_dict(AlertRule.objects.get(pk=obj.pk)) if change and obj.pk else None
        super().save_model(request, obj, form, change)
        audit_record(
            actor=getattr(request, "user", None),
            action="alerts.rule.change" if change else "alerts.rule.create",
            obj=obj,
            before=before,
            after=_rule_as_dict(obj),
        )
        transaction.on_commit(_evaluate_soon, robust=True)

    @transaction.atomic
    def delete_model(self, request, obj):
        audit_record(
            actor=getattr(request, "user", None), action="alerts.rule.delete", obj=obj, before=_rule_as_dict(obj)
        )
        super().delete_model(request, obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for rule in queryset:
            audit_record(
                actor=getattr(request, "user", None), action="alerts.rule.delete", obj=rule, before=_rule_as_dict(rule)
            )
        super().delete_queryset(request, queryset)


def _rule_as_dict(rule: AlertRule) -> dict:
    """A rule as JSON-safe data for its audit rows (edits decide who hears of what)."""
    return {
        "name": rule.name,
        "kind": rule.kind,
        "threshold": str(rule.threshold),
        "market": rule.market.symbol if rule.market_id else None,
        "enabled": rule.enabled,
        "renotify_minutes": rule.renotify_minutes,
        "roles": list(rule.roles or []),
    }


def _evaluate_soon() -> None:
    from riskgov.alerts.tasks import alerts_evaluate_task

    try:
        alerts_evaluate_task.delay()
    except Exception:  # noqa: BLE001 — the scheduled evaluation makes up for it
        logging.getLogger(__name__).exception("could not enqueue an alert evaluation after a rule edit")


@admin.register(AlertFiring)
class AlertFiringAdmin(ReadOnlyAdmin):
    """Firings, read-only (opened and closed by the evaluation)."""

    list_display = ("rule", "subject", "value", "threshold", "run", "fired_at", "last_notified_at", "cleared_at")
    list_filter = ("rule", ("cleared_at", admin.EmptyFieldListFilter))


class AlertNotificationItemInline(admin.TabularInline):
    """The firings a digest lists, read-only."""

    model = AlertNotificationItem
    fields = ("firing", "event")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(AlertNotification)
class AlertNotificationAdmin(ReadOnlyAdmin):
    """Notifications (one digest per rule per evaluation), read-only (sent by ``alerts.notify``)."""

    list_display = ("rule", "n_items", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status", "rule")
    inlines = [AlertNotificationItemInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("rule").annotate(_n_items=Count("items"))

    @admin.display(description="firings", ordering="_n_items")
    def n_items(self, obj: AlertNotification) -> int:
        return obj._n_items
