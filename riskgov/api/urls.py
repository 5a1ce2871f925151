"""REST API v1 routing (DRF) and the OpenAPI schema (drf-spectacular)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from riskgov.api import alerts_views, governance_views, health_views, margin_views, reports_views, views

router = DefaultRouter()
router.register("assets", views.AssetViewSet, basename="asset")
router.register("markets", views.MarketViewSet, basename="market")
router.register("market-versions", views.MarketVersionViewSet, basename="market-version")
router.register("asset-versions", views.AssetVersionViewSet, basename="asset-version")
router.register("parameter-imports", views.ParameterImportViewSet, basename="parameter-import")
router.register("health-runs", health_views.HealthRunViewSet, basename="health-run")
router.register("proposals", governance_views.ProposalViewSet, basename="proposal")
router.register("votes", governance_views.VoteViewSet, basename="vote")
router.register("policy", governance_views.PolicyViewSet, basename="policy")
router.register("audit-events", governance_views.AuditEventViewSet, basename="audit-event")
router.register("reports", reports_views.ReportViewSet, basename="report")
router.register("alerts", alerts_views.AlertFiringViewSet, basename="alert")
router.register("alert-rules", alerts_views.AlertRuleViewSet, basename="alert-rule")

urlpatterns = [
    path("", include(router.urls)),
    path("margin/simulate", margin_views.MarginSimulateView.as_view(), name="margin-simulate"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # the split view serves its JavaScript from a URL (no inline script): works under the CSP
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
]
