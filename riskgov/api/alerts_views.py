"""Alerts API (``/api/v1/alerts/``, ``/api/v1/alert-rules/``).

* alerts: firings (``?active=1`` for the open ones) — any role;
* alert-rules: read-only (rules are edited in the admin).
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, viewsets

from riskgov.alerts import selectors
from riskgov.api import alerts_serializers as rs
from riskgov.api.permissions import HasAnyRole


class AlertFiringViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Alert firings, newest first (``?active=1``: only those still firing)."""

    permission_classes = [HasAnyRole]
    serializer_class = rs.AlertFiringSerializer
    filterset_fields = ["rule", "run", "subject"]

    @extend_schema(parameters=[OpenApiParameter("active", bool, description="only open firings")])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        if self.request.query_params.get("active") in ("1", "true", "yes"):
            return selectors.active_firings()
        return selectors.firings_history()


class AlertRuleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Alert rules, read-only (edited in the admin)."""

    permission_classes = [HasAnyRole]
    serializer_class = rs.AlertRuleSerializer

    def get_queryset(self):
        return selectors.alert_rules()
