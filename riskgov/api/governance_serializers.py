"""Governance API serializers: input shapes for the services, output shapes for reads.

Input serializers check types only; every business rule (roles, maker ≠ checker, quorum,
lint) is the services' (STYLE rule 8).
"""

from django.contrib.auth import get_user_model
from rest_framework import serializers

from riskgov.api.fields import UtcDateTimeField
from riskgov.core.models import AuditEvent
from riskgov.governance.models import Policy, Proposal, Vote
from riskgov.governance.selectors import change_diff, proposal_changes
from riskgov.governance.services import POLICY_FIELDS


class ChangeField(serializers.ListField):
    """A list of change specs, e.g. ``{"market": "BTC-PERP", "brackets": [...], "liquidation_penalty": "0.003"}``
    or ``{"asset": "BTC", "haircut": "0.1"}``; decimals as strings. Validated by the service."""

    child = serializers.DictField()


class ProposalInput(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    rationale = serializers.CharField()
    effective_at = UtcDateTimeField()
    changes = ChangeField(allow_empty=False)
    co_authors = serializers.ListField(child=serializers.CharField(), required=False, default=list)

    def validate_co_authors(self, value):
        users = list(get_user_model().objects.filter(username__in=value))
        missing = set(value) - {u.username for u in users}
        if missing:
            raise serializers.ValidationError(f"unknown users: {', '.join(sorted(missing))}")
        return users


class ProposalUpdateInput(ProposalInput):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for f in self.fields.values():
            f.required = False


class EmergencyInput(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, default="Emergency change")
    rationale = serializers.CharField()
    changes = ChangeField(allow_empty=False)


class VoteInput(serializers.Serializer):
    comment = serializers.CharField(help_text="required: why you approve or reject")


class CommentInput(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class VoteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Vote
        fields = [
            "id",
            "voter_name",
            "decision",
            "comment",
            "impact_revision",
            "proposal_revision",
            "created_at",
            "updated_at",
        ]


class ProposalSerializer(serializers.ModelSerializer):
    co_authors = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)
    changes = serializers.SerializerMethodField()
    votes = VoteSerializer(many=True, read_only=True)

    class Meta:
        model = Proposal
        fields = [
            "id",
            "title",
            "rationale",
            "proposer_name",
            "co_authors",
            "kind",
            "status",
            "revision",
            "requested_effective_at",
            "effective_at",
            "submitted_at",
            "expires_at",
            "approved_at",
            "activated_at",
            "ratify_by",
            "closed_at",
            "activation_error",
            "policy",
            "impact",
            "impact_revision",
            "changes",
            "votes",
            "created_at",
            "updated_at",
        ]

    def get_changes(self, obj) -> list[dict]:
        out = []
        for c in proposal_changes(obj):
            out.append(
                {
                    "subject": c.subject,
                    "kind": c.kind,
                    "version": c.version_id,
                    "base_version": c.base_version_id,
                    "diff": [d.as_dict() for d in change_diff(c)],
                }
            )
        return out


class PolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = Policy
        fields = [
            "id",
            "version",
            "is_active",
            *POLICY_FIELDS,
            "comment",
            "created_by_name",
            "created_at",
        ]


class PolicyInput(serializers.Serializer):
    quorum = serializers.IntegerField(required=False, min_value=1)
    timelock_hours = serializers.IntegerField(required=False, min_value=0)
    expiry_days = serializers.IntegerField(required=False, min_value=1)
    fast_track_quorum = serializers.IntegerField(required=False, min_value=1)
    fast_track_timelock_hours = serializers.IntegerField(required=False, min_value=0)
    fast_track_max_relative_change = serializers.DecimalField(required=False, max_digits=8, decimal_places=6)
    fast_track_min_days_since_change = serializers.IntegerField(required=False, min_value=0)
    emergency_ratification_hours = serializers.IntegerField(required=False, min_value=1)
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor_name",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "from_state",
            "to_state",
            "before",
            "after",
            "comment",
            "request_id",
        ]
