"""Health-run API (``/api/v1/health-runs/``): thin views over ``health`` services/selectors.

* list / retrieve — published runs plus the user's own (admins: all); any role;
* POST — start a run on a snapshot (analyst or admin; the service checks the role);
* ``progress`` — status and %; ``results`` — totals, scenarios, tail, cascade, ADL, §12;
* ``accounts`` — paginated account rows, margin ratio descending (infinity first);
* ``export`` — the ``riskgov.health/1`` document (streamed; ``?accounts=0`` omits the arrays).
"""

from django.db import transaction
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from riskgov.api import health_serializers as hs
from riskgov.api.permissions import HasAnyRole
from riskgov.core.exceptions import Conflict, DomainError
from riskgov.health import selectors
from riskgov.health.export import health_json_chunks
from riskgov.health.models import HealthRun, RunKind
from riskgov.health.services import health_run_create
from riskgov.snapshots.models import Snapshot
from riskgov.snapshots.selectors import latest_snapshot


class HealthRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Health runs of venue snapshots (DESIGN "The main job")."""

    permission_classes = [HasAnyRole]
    serializer_class = hs.HealthRunSerializer
    filterset_fields = ["kind", "status", "snapshot"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return HealthRun.objects.none()
        return selectors.runs_visible_to(user=self.request.user)

    def _published(self):
        run = self.get_object()
        if run.published_at is None:
            raise Conflict(f"health run {run.pk} is {run.status}, not published", extra={"status": run.status})
        return run

    @extend_schema(request=hs.HealthRunCreateSerializer, responses={202: hs.HealthRunSerializer})
    def create(self, request):
        """Start a run (enqueued when the request's transaction commits)."""
        data = hs.HealthRunCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        snap_id = data.validated_data.get("snapshot")
        snapshot = Snapshot.objects.filter(pk=snap_id).first() if snap_id else latest_snapshot()
        if snapshot is None:
            raise DomainError("no such snapshot" if snap_id else "no snapshot: import one first")
        with transaction.atomic():
            run = health_run_create(
                snapshot=snapshot,
                kind=RunKind.MANUAL,
                by=request.user,
                scenario_spec=data.validated_data["scenarios"],
                label=data.validated_data["label"],
            )
        run.refresh_from_db()
        return Response(hs.HealthRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=hs.HealthRunProgressSerializer)
    @action(detail=True, methods=["get"])
    def progress(self, request, pk=None):
        """Status and progress (0–100 %)."""
        return Response(hs.HealthRunProgressSerializer(self.get_object()).data)

    @action(detail=True, methods=["get"])
    def results(self, request, pk=None):
        """Totals, scenarios and tail (§5–§10), cascade (§11), ADL (§8), recommendations (§12)."""
        run = self._published()
        return Response(
            {
                "id": run.pk,
                "totals": selectors.run_totals(run),
                "tail": selectors.run_tail(run),
                # plain rows of the serializer's fields (model instances through a ModelSerializer:
                # 0.3 s more for 3,200 scenarios)
                "scenarios": list(selectors.run_scenarios(run=run).values(*hs.ScenarioResultSerializer.Meta.fields)),
                "cascade": run.cascade,
                "adl": run.adl,
                "recommendations": run.recommendations,
                "timings": run.timings,
            }
        )

    @extend_schema(
        responses=hs.AccountResultSerializer(many=True),
        parameters=[
            OpenApiParameter(
                "rank",
                str,
                enum=list(selectors.ACCOUNT_RANKINGS),
                description="margin_ratio (default: descending, infinity first), stress_shortfall (the"
                " account's largest shortfall over the run's gap scenarios, descending; accounts where"
                " it is not computed left out) or notional (descending)",
            )
        ],
    )
    @action(detail=True, methods=["get"])
    def accounts(self, request, pk=None):
        """Account rows, riskiest first by ``?rank=`` (margin ratio descending, infinity first;
        or stress shortfall or notional descending), paginated."""
        run = self._published()
        rank = request.query_params.get("rank", "margin_ratio")
        if rank not in selectors.ACCOUNT_RANKINGS:
            raise DomainError(f"rank must be one of {', '.join(selectors.ACCOUNT_RANKINGS)}, got {rank!r}")
        page = self.paginate_queryset(selectors.run_accounts(run=run, rank=rank))
        return self.get_paginated_response(hs.AccountResultSerializer(page, many=True).data)

    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        """The ``riskgov.health/1`` document (``?accounts=0`` leaves out accounts/positions;
        ``?health=2`` gives ``riskgov.health/2``, the same keys plus families and tails)."""
        run = self._published()
        include = request.query_params.get("accounts", "1") not in ("0", "false", "no")
        version = 2 if request.query_params.get("health", "1") in ("2", "riskgov.health/2") else 1
        response = StreamingHttpResponse(
            health_json_chunks(run, include_accounts=include, version=version), content_type="application/json"
        )
        response["Content-Disposition"] = f'attachment; filename="health-run-{run.pk}.json"'
        return response
