"""Reports API (``/api/v1/reports/``; alerts: ``alerts_views``).

* reports: list, retrieve (with figures), ``html`` and ``pdf`` downloads — any role;
  ``send-now`` (POST, admins; the service checks it) — 202, built and sent by a task.
"""

from django.http import FileResponse, Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from riskgov.api import reports_serializers as rs
from riskgov.api.permissions import HasAnyRole
from riskgov.reports import selectors
from riskgov.reports.models import Report
from riskgov.reports.services import report_send_now


class ReportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Archived health reports, newest first."""

    permission_classes = [HasAnyRole]
    filterset_fields = ["status", "kind", "run"]

    def get_queryset(self):
        if self.action == "retrieve":
            return Report.objects.select_related("run")
        return selectors.reports_list()

    def get_serializer_class(self):
        return rs.ReportDetailSerializer if self.action == "retrieve" else rs.ReportSerializer

    def _file(self, which: str) -> FileResponse:
        report = self.get_object()
        f = getattr(report, which)
        if not f:
            raise Http404
        try:
            fh = f.open("rb")
        except FileNotFoundError:
            raise Http404 from None
        ctype = "text/html; charset=utf-8" if which == "html" else "application/pdf"
        return FileResponse(fh, as_attachment=True, filename=f"riskgov-report-{report.pk}.{which}", content_type=ctype)

    @extend_schema(responses={(200, "text/html"): bytes})
    @action(detail=True, methods=["get"])
    def html(self, request, pk=None):
        """The archived HTML of the report."""
        return self._file("html")

    @extend_schema(responses={(200, "application/pdf"): bytes})
    @action(detail=True, methods=["get"])
    def pdf(self, request, pk=None):
        """The archived PDF of the report."""
        return self._file("pdf")

    @extend_schema(request=rs.SendNowSerializer, responses={202: None})
    @action(detail=False, methods=["post"], url_path="send-now")
    def send_now(self, request):
        """Admins: build a report from the latest run now and e-mail it to roles (async)."""
        data = rs.SendNowSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report_send_now(by=request.user, roles=data.validated_data.get("roles"))
        return Response({"message": "report queued"}, status=status.HTTP_202_ACCEPTED)
