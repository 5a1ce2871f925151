"""Serializers of reports (read-only; send-now takes roles); alerts: ``alerts_serializers``."""

from rest_framework import serializers

from riskgov.core.roles import ALL_ROLES
from riskgov.reports.models import Report


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
