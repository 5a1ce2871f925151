"""Margin simulator API: ``POST /api/v1/margin/simulate`` (FORMATS.md "Margin simulation").

The body is a ``riskgov.margin_request/1`` document, the answer ``riskgov.margin_result/1``;
``pm: null`` uses the active governed PM parameters of that underlying. A bad request is a
400 ``{"message": "invalid request: <field path>: <why>", "extra": {"field", "why"}}``.

Who: analysts, committee members and admins (a what-if, DESIGN "Roles"; committee members
compare a PM proposal's effect before they vote). Viewers read dashboards and reports only.
Nothing is stored.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from riskgov.core.roles import has_role
from riskgov.portfolio.simulation import SIMULATOR_ROLES, MarginRequestError, margin_simulate


class CanSimulateMargin(BasePermission):
    """Analyst, committee member or admin."""

    message = "The margin simulator is for analysts, committee members and admins."

    def has_permission(self, request, view) -> bool:
        return has_role(request.user, *SIMULATOR_ROLES)


class MarginSimulateView(APIView):
    """One account's portfolio margin (RISK_MODEL §14) from a margin request."""

    permission_classes = [CanSimulateMargin]

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT})
    def post(self, request):
        try:
            result = margin_simulate(request=request.data)
        except MarginRequestError as exc:
            return Response(
                {"message": f"invalid request: {exc}", "extra": {"field": exc.path, "why": exc.why}}, status=400
            )
        return Response(result)
