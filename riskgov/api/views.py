"""API views: thin; querysets come from selectors, writes from services."""

from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from riskgov.api import serializers as s
from riskgov.api.permissions import HasAnyRole
from riskgov.core.exceptions import DomainError
from riskgov.markets.models import Asset, Market
from riskgov.parameters import selectors
from riskgov.parameters.models import AssetParameterVersion, MarketParameterVersion, ParameterImport


class AssetViewSet(viewsets.ReadOnlyModelViewSet):
    """Assets (identity; haircuts are versioned in asset-versions)."""

    permission_classes = [HasAnyRole]
    serializer_class = s.AssetSerializer
    queryset = Asset.objects.order_by("symbol")
    filterset_fields = ["stable", "symbol"]


class MarketViewSet(viewsets.ReadOnlyModelViewSet):
    """Markets (identity; parameters are versioned in market-versions)."""

    permission_classes = [HasAnyRole]
    serializer_class = s.MarketSerializer
    queryset = Market.objects.select_related("base_asset").order_by("symbol")
    filterset_fields = ["symbol"]


class MarketVersionFilter(filters.FilterSet):
    market = filters.CharFilter(field_name="market__symbol")

    class Meta:
        model = MarketParameterVersion
        fields = ["market", "status", "number"]


class MarketVersionViewSet(viewsets.ReadOnlyModelViewSet):
    """Market parameter versions with brackets; ``diff`` compares with another version."""

    permission_classes = [HasAnyRole]
    serializer_class = s.MarketVersionSerializer
    filterset_class = MarketVersionFilter

    def get_queryset(self):
        return selectors.market_versions()

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "other", int, description="id of the version to compare with (default: the previous number)"
            )
        ],
        responses=s.FieldChangeSerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def diff(self, request, pk=None):
        """Field-by-field changes from ``other`` (or the previous version) to this version."""
        version = self.get_object()
        other_id = request.query_params.get("other")
        if other_id:
            if not (other_id.isascii() and other_id.isdigit() and len(other_id) <= 18):
                raise DomainError("other: must be a market version id (a positive integer)", extra={"field": "other"})
            before = get_object_or_404(selectors.market_versions(), pk=int(other_id))
            if before.market_id != version.market_id:
                raise DomainError("versions belong to different markets", extra={"other": other_id})
        else:
            before = selectors.market_versions().filter(market=version.market, number__lt=version.number).first()
        changes = selectors.market_version_diff(before, version)
        return Response([c.as_dict() for c in changes])


class AssetVersionViewSet(viewsets.ReadOnlyModelViewSet):
    """Asset parameter versions (haircuts)."""

    permission_classes = [HasAnyRole]
    serializer_class = s.AssetVersionSerializer
    queryset = AssetParameterVersion.objects.select_related("asset").order_by("asset__symbol", "-number")
    filterset_fields = ["status"]


class ParameterImportViewSet(viewsets.ReadOnlyModelViewSet):
    """Imported parameter files, including the venue reference tables."""

    permission_classes = [HasAnyRole]
    serializer_class = s.ParameterImportSerializer
    queryset = ParameterImport.objects.order_by("-created_at")
    filterset_fields = ["venue", "is_reference"]
