"""Output serializers: decimals as strings (exact), fractions as fractions."""

from rest_framework import serializers

from riskgov.markets.models import Asset, Market
from riskgov.parameters.models import AssetParameterVersion, Bracket, MarketParameterVersion, ParameterImport


class AssetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Asset
        fields = ["id", "symbol", "name", "stable"]


class MarketSerializer(serializers.ModelSerializer):
    base_asset = serializers.SlugRelatedField(slug_field="symbol", read_only=True)

    class Meta:
        model = Market
        fields = ["id", "symbol", "base_asset"]


class BracketSerializer(serializers.ModelSerializer):
    class Meta:
        model = Bracket
        fields = [
            "index",
            "notional_floor",
            "initial_margin_fraction",
            "maintenance_margin_fraction",
            "maintenance_amount",
        ]


class MarketVersionSerializer(serializers.ModelSerializer):
    market = serializers.SlugRelatedField(slug_field="symbol", read_only=True)
    brackets = BracketSerializer(many=True, read_only=True)

    class Meta:
        model = MarketParameterVersion
        fields = [
            "id",
            "market",
            "number",
            "status",
            "liquidation_penalty",
            "depth_usd_per_1pct",
            "oi_cap_lower_usd",
            "oi_cap_upper_usd",
            "max_position_notional_usd",
            "liquidation_horizon_minutes",
            "brackets",
            "reason",
            "created_by_name",
            "created_at",
            "approved_at",
            "activated_at",
            "superseded_at",
        ]


class AssetVersionSerializer(serializers.ModelSerializer):
    asset = serializers.SlugRelatedField(slug_field="symbol", read_only=True)

    class Meta:
        model = AssetParameterVersion
        fields = ["id", "asset", "number", "status", "haircut", "reason", "created_at", "activated_at"]


class ParameterImportSerializer(serializers.ModelSerializer):
    markets = serializers.SerializerMethodField()

    class Meta:
        model = ParameterImport
        fields = [
            "id",
            "name",
            "venue",
            "source",
            "file_name",
            "sha256",
            "is_reference",
            "created_at",
            "markets",
            "findings",
        ]

    def get_markets(self, obj) -> int:
        return len(obj.document.get("markets", []))


class FieldChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    before = serializers.CharField(allow_null=True)
    after = serializers.CharField(allow_null=True)
    relative_change = serializers.CharField(allow_null=True)
