"""Health-run serializers: input for starting a run, output of runs, progress and results.

Ratios ``null`` mean infinity; prices ``null`` mean none (FORMATS.md ``riskgov.health/1``).
"""

from rest_framework import serializers

from riskgov.health.models import AccountResult, HealthRun, RunKind, RunStatus, ScenarioResult
from riskgov.health.selectors import ACCOUNT_FIELDS


class HealthRunCreateSerializer(serializers.Serializer):
    """POST body: which snapshot (default: the latest) and which scenarios."""

    snapshot = serializers.IntegerField(required=False, allow_null=True, help_text="snapshot id (default latest)")
    scenarios = serializers.CharField(required=False, default="standard", help_text="'standard', tokens or JSON")
    label = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class HealthRunSerializer(serializers.ModelSerializer):
    snapshot = serializers.PrimaryKeyRelatedField(read_only=True)
    # plain strings (documented values) rather than enums: avoids schema enum-name clashes
    kind = serializers.CharField(read_only=True, help_text=f"one of {', '.join(RunKind.values)}")
    status = serializers.CharField(read_only=True, help_text=f"one of {', '.join(RunStatus.values)}")

    class Meta:
        model = HealthRun
        fields = [
            "id",
            "snapshot",
            "kind",
            "label",
            "status",
            "progress",
            "chunks_total",
            "chunks_done",
            "created_by_name",
            "created_at",
            "started_at",
            "finished_at",
            "published_at",
            "error",
            "parameters_name",
            "parameters_version",
            "market_versions",
            "pm_versions",
            "asset_versions",
            "overrides",
            "code_version",
            "input_hash",
            "n_accounts",
            "shortfall_usd",
            "es_usd",
            "coverage_at_es",
        ]
        read_only_fields = fields


class HealthRunProgressSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True, help_text=f"one of {', '.join(RunStatus.values)}")

    class Meta:
        model = HealthRun
        fields = ["id", "status", "progress", "chunks_total", "chunks_done", "error", "published_at"]
        read_only_fields = fields


class ScenarioResultSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScenarioResult
        fields = [
            "idx",
            "name",
            "kind",
            "start_date",
            "end_date",
            "in_tail",
            "liquidatable_accounts",
            "bankrupt_accounts",
            "shortfall_usd",
            "penalties_usd",
            "insurance_fund_after_usd",
            "adl_usd",
            "coverage_ratio",
            "top2_shortfall_usd",
        ]
        read_only_fields = fields


class AccountResultSerializer(serializers.ModelSerializer):
    class Meta:
        model = AccountResult
        fields = list(ACCOUNT_FIELDS)
        read_only_fields = fields
