"""Serializers of the alerts (read-only: firings and rules)."""

from rest_framework import serializers

from riskgov.alerts.models import AlertFiring, AlertRule


class AlertRuleSerializer(serializers.ModelSerializer):
    market = serializers.SlugRelatedField(slug_field="symbol", read_only=True)
    kind = serializers.CharField(read_only=True)

    class Meta:
        model = AlertRule
        fields = ["id", "name", "kind", "threshold", "market", "enabled", "renotify_minutes", "roles"]
        read_only_fields = fields


class AlertFiringSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name", read_only=True)
    kind = serializers.CharField(source="rule.kind", read_only=True)
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = AlertFiring
        fields = [
            "id",
            "rule",
            "rule_name",
            "kind",
            "subject",
            "run",
            "value",
            "threshold",
            "message",
            "detail",
            "fired_at",
            "last_seen_at",
            "last_notified_at",
            "cleared_at",
            "active",
        ]
        read_only_fields = fields
