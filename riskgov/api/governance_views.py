"""Governance API (issue 4): proposals and their actions, votes, policy, audit trail.

Thin: input serializer → one service → output serializer. Roles, maker ≠ checker, quorum
and lint are enforced by ``riskgov.governance.services``; a refused action comes back as
``{"message", "extra"}`` with 400/403/409 (``riskgov.core.exceptions``).
"""

import json

from django.http import StreamingHttpResponse
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from riskgov.api import governance_serializers as s
from riskgov.api.fields import UtcIsoDateTimeFilter
from riskgov.api.permissions import HasAnyRole
from riskgov.core.exceptions import Conflict
from riskgov.core.models import AuditEvent
from riskgov.governance import services
from riskgov.governance.models import Policy, Proposal, Vote, VoteDecision
from riskgov.governance.selectors import proposal_lint
from riskgov.governance.services import policy_current
from riskgov.presentation.exports import csv_writer


class ProposalFilter(filters.FilterSet):
    market = filters.CharFilter(field_name="changes__subject")
    awaiting_my_vote = filters.BooleanFilter(method="filter_awaiting")

    class Meta:
        model = Proposal
        fields = ["status", "kind", "market"]

    def filter_awaiting(self, queryset, name, value):
        if not value:
            return queryset
        from riskgov.governance.selectors import proposals_awaiting_vote

        return queryset.filter(pk__in=proposals_awaiting_vote(member=self.request.user).values("pk"))


class ProposalViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Proposals: CRUD while draft, then ``submit``, ``approve``, ``reject``, ``withdraw``,
    ``ratify`` (emergencies), ``lint``; ``emergency`` creates and activates a stricter-only change."""

    permission_classes = [HasAnyRole]
    serializer_class = s.ProposalSerializer
    filterset_class = ProposalFilter

    def get_queryset(self):
        return (
            Proposal.objects.prefetch_related("co_authors", "votes", "changes")
            .order_by("-created_at", "-id")
            .distinct()
        )

    def _out(self, proposal, code=status.HTTP_200_OK):
        proposal = self.get_queryset().get(pk=proposal.pk)
        return Response(s.ProposalSerializer(proposal).data, status=code)

    @extend_schema(request=s.ProposalInput, responses={201: s.ProposalSerializer})
    def create(self, request):
        data = s.ProposalInput(data=request.data)
        data.is_valid(raise_exception=True)
        proposal = services.proposal_create(by=request.user, **data.validated_data)
        return self._out(proposal, status.HTTP_201_CREATED)

    @extend_schema(request=s.ProposalUpdateInput, responses=s.ProposalSerializer)
    def partial_update(self, request, pk=None):
        data = s.ProposalUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        proposal = services.proposal_update(proposal=self.get_object(), by=request.user, **data.validated_data)
        return self._out(proposal)

    @extend_schema(request=None, responses={204: None})
    def destroy(self, request, pk=None):
        """Delete a draft: it is withdrawn, not erased (the audit trail keeps its history).

        Only drafts; a submitted proposal is withdrawn with ``withdraw``.
        """
        proposal = self.get_object()
        if proposal.status != "draft":
            raise Conflict(f"proposal #{proposal.pk} is {proposal.status}; only drafts can be deleted (use withdraw)")
        services.proposal_withdraw(proposal=proposal, by=request.user, comment="draft deleted")
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=s.ProposalSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        return self._out(services.proposal_submit(proposal=self.get_object(), by=request.user))

    def _vote(self, request, decision):
        data = s.VoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        proposal = self.get_object()
        services.proposal_vote(proposal=proposal, by=request.user, decision=decision, **data.validated_data)
        return self._out(proposal)

    @extend_schema(request=s.VoteInput, responses=s.ProposalSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._vote(request, VoteDecision.APPROVE)

    @extend_schema(request=s.VoteInput, responses=s.ProposalSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._vote(request, VoteDecision.REJECT)

    @extend_schema(request=s.VoteInput, responses=s.ProposalSerializer)
    @action(detail=True, methods=["post"])
    def ratify(self, request, pk=None):
        """Ratify an emergency change (an approving vote counted against the normal quorum)."""
        return self._vote(request, VoteDecision.APPROVE)

    @extend_schema(request=s.CommentInput, responses=s.ProposalSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        data = s.CommentInput(data=request.data)
        data.is_valid(raise_exception=True)
        return self._out(services.proposal_withdraw(proposal=self.get_object(), by=request.user, **data.validated_data))

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def lint(self, request, pk=None):
        """Every rule the proposal breaks now (empty list = ready to submit)."""
        proposal = self.get_object()
        errors = proposal_lint(proposal, policy=proposal.policy or policy_current())
        return Response({"errors": [e.as_dict() for e in errors]})

    @extend_schema(request=s.EmergencyInput, responses={201: s.ProposalSerializer})
    @action(detail=False, methods=["post"])
    def emergency(self, request):
        data = s.EmergencyInput(data=request.data)
        data.is_valid(raise_exception=True)
        proposal = services.emergency_change(by=request.user, **data.validated_data)
        return self._out(proposal, status.HTTP_201_CREATED)


class VoteFilter(filters.FilterSet):
    voter = filters.CharFilter(field_name="voter_name")

    class Meta:
        model = Vote
        fields = ["proposal", "decision", "voter"]


class VoteViewSet(viewsets.ReadOnlyModelViewSet):
    """Votes across proposals (cast through the proposal's ``approve``/``reject``/``ratify``)."""

    permission_classes = [HasAnyRole]
    serializer_class = s.VoteSerializer
    filterset_class = VoteFilter
    queryset = Vote.objects.order_by("-created_at", "-id")


class PolicyViewSet(viewsets.ReadOnlyModelViewSet):
    """Policy versions (history); ``current`` and ``update`` (admins)."""

    permission_classes = [HasAnyRole]
    serializer_class = s.PolicySerializer

    queryset = Policy.objects.order_by("-version")

    def get_queryset(self):
        if not getattr(self, "swagger_fake_view", False):
            policy_current()  # the default policy exists once anyone looks
        return super().get_queryset()

    @action(detail=False, methods=["get"])
    def current(self, request):
        return Response(s.PolicySerializer(policy_current()).data)

    @extend_schema(request=s.PolicyInput, responses={201: s.PolicySerializer})
    @action(detail=False, methods=["post"], url_path="update")
    def update_policy(self, request):
        data = s.PolicyInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = {k: v for k, v in data.validated_data.items() if k in request.data}
        comment = fields.pop("comment", "")
        policy = services.policy_update(by=request.user, comment=comment, **fields)
        return Response(s.PolicySerializer(policy).data, status=status.HTTP_201_CREATED)


class AuditEventFilter(filters.FilterSet):
    since = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    actor = filters.CharFilter(field_name="actor_name")
    action = filters.CharFilter(field_name="action", lookup_expr="startswith")

    class Meta:
        model = AuditEvent
        fields = ["action", "object_type", "object_id", "actor", "request_id", "since", "until"]


class _Echo:
    def write(self, value):
        return value


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The append-only audit trail: filter it, page it, export it as CSV."""

    permission_classes = [HasAnyRole]
    serializer_class = s.AuditEventSerializer
    filterset_class = AuditEventFilter
    queryset = AuditEvent.objects.order_by("-created_at", "-id")

    @extend_schema(responses={(200, "text/csv"): str})
    @action(detail=False, methods=["get"])
    def export(self, request):
        """The filtered audit events as CSV (every field; before/after as JSON)."""
        rows = self.filter_queryset(self.get_queryset())
        fields = s.AuditEventSerializer.Meta.fields
        writer = csv_writer(_Echo())

        def lines():
            yield writer.writerow(fields)
            for e in rows.iterator(chunk_size=2000):
                values = [getattr(e, f) for f in fields]
                yield writer.writerow(
                    [
                        json.dumps(v, sort_keys=True) if f in ("before", "after") and v is not None else v
                        for f, v in zip(fields, values, strict=True)
                    ]
                )

        response = StreamingHttpResponse(lines(), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="riskgov-audit.csv"'
        return response
