"""Serializers of reports and alerts (read-only; send-now takes roles)."""

from rest_framework import serializers

from riskgov.core.roles import ALL_ROLES
from riskgov.reports.models import AlertFiring, AlertRule, Report


class ReportSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(read_only=True, help_text="scheduled or manual")
    status = serializers.CharField(read_only=True, help_text="complete or incomplete")
    html_url = serializers.SerializerMethodField()
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = [
            "id",
            "run",
            "previous",
            "kind",
            "status",
            "reasons",
            "created_at",
            "created_by_name",
            "html_url",
            "pdf_url",
        ]
        read_only_fields = fields

    def _url(self, obj, name: str) -> str | None:
        if not getattr(obj, name):
            return None
        request = self.context.get("request")
        path = f"/api/v1/reports/{obj.pk}/{name}/"
        return request.build_absolute_uri(path) if request else path

    def get_html_url(self, obj) -> str | None:
        return self._url(obj, "html")

    def get_pdf_url(self, obj) -> str | None:
        return self._url(obj, "pdf")


class ReportDetailSerializer(ReportSerializer):
    class Meta(ReportSerializer.Meta):
        fields = [*ReportSerializer.Meta.fields, "figures"]
        read_only_fields = fields


class SendNowSerializer(serializers.Serializer):
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=ALL_ROLES),
        required=False,
        allow_empty=False,
        help_text="roles to e-mail (default RISKGOV_REPORT_ROLES)",
    )


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
