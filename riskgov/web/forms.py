"""Committee UI forms: they parse what people type, nothing more.

Every business rule (bracket monotonicity, penalty ≤ MMF₁, timelock, stricter-only, who may
act, a vote needs a comment, policy bounds) is decided by ``riskgov.governance.services``,
the same functions the API calls (STYLE rules 4, 7, 8). The forms only turn text into
``Decimal``/``datetime`` values and the values into the services' change specs; the views
put the services' ``LintFailed``/``DomainError`` findings back next to the fields they name.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import django_filters
from django import forms

from riskgov.core.models import AuditEvent
from riskgov.governance.models import Policy, VoteDecision
from riskgov.governance.services import POLICY_FIELDS
from riskgov.presentation import formats

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class FractionField(forms.DecimalField):
    """A fraction typed either way: ``0.5 %`` or ``0.005`` (both stored as ``0.005``,
    ``formats.parse_fraction``); a bad input is one error naming what was typed."""

    def to_python(self, value: Any) -> Decimal | None:
        if value in self.empty_values:
            return None
        try:
            return formats.parse_fraction(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc

    def prepare_value(self, value: Any) -> Any:
        """A stored fraction (an initial ``Decimal``) is shown as exact percent text
        (``formats.fraction_input``: ``0.25`` → ``25 %``); text as typed stays as typed."""
        if isinstance(value, Decimal | float | int) and not isinstance(value, bool):
            return formats.fraction_input(value)
        return super().prepare_value(value)


def _fraction(label: str, *, help_text: str | None = None) -> FractionField:
    return FractionField(
        label=label,
        required=False,
        help_text="a percent (0.5 %) or a fraction (0.005)" if help_text is None else help_text,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "class": "num", "autocomplete": "off"}),
    )


class ChangeForm(forms.Form):
    """The proposal's own fields (title, rationale); its changes are the change rows of
    :mod:`riskgov.web.change_forms` (any number, every governed kind)."""

    title = forms.CharField(max_length=200)
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}))


class ProposalForm(ChangeForm):
    """A normal proposal: title, rationale and the requested effective time."""

    effective_at = forms.DateTimeField(
        label="Requested effective time (UTC)",
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
    )

    field_order = ["title", "rationale", "effective_at"]


class EmergencyForm(ChangeForm):
    """An emergency change: active at once, so no effective time."""

    title = forms.CharField(max_length=200, initial="Emergency change")


class VoteForm(forms.Form):
    """Decision and comment. The comment is required by ``proposal_vote`` (and by the page's
    ``required`` attribute for convenience), not by this form."""

    decision = forms.ChoiceField(choices=VoteDecision.choices, widget=forms.RadioSelect)
    comment = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3, "required": True, "placeholder": "Why?"})
    )


class CommentForm(forms.Form):
    """An optional comment (withdraw)."""

    comment = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "Comment (optional)"}))


def _policy_fields() -> dict[str, forms.Field]:
    fields = forms.fields_for_model(Policy, fields=POLICY_FIELDS)
    fields["fast_track_max_relative_change"] = _fraction(
        fields["fast_track_max_relative_change"].label, help_text=fields["fast_track_max_relative_change"].help_text
    )
    for f in fields.values():
        f.validators = []  # bounds are the service's (and the database's) business
        if hasattr(f, "min_value"):
            f.min_value = None
            f.widget.attrs.pop("min", None)
    return fields


class PolicyForm(forms.Form):
    """The next policy version: every policy field plus a comment (``policy_update``)."""

    comment = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "Why this change"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields = _policy_fields()
        self.fields = {**fields, "comment": self.fields["comment"]}

    def policy_values(self) -> dict[str, Any]:
        return {f: self.cleaned_data[f] for f in POLICY_FIELDS if self.cleaned_data.get(f) is not None}


def _object_type_choices() -> list[tuple[str, str]]:
    types = AuditEvent.objects.order_by("object_type").values_list("object_type", flat=True).distinct()
    return [(t, t) for t in types]


def _actor_choices() -> list[tuple[str, str]]:
    names = AuditEvent.objects.exclude(actor_name="").order_by("actor_name").values_list("actor_name", flat=True)
    return [(n, n) for n in names.distinct()]


class AuditEventFilter(django_filters.FilterSet):
    """Audit log filters by what people read: action (prefix), object type, object (its
    name, e.g. "BTC-PERP" or "Proposal #12"), actor (a list of names), date range, request
    id. ``object_id`` is still accepted from links (the proposal page's), but not shown."""

    action = django_filters.CharFilter(field_name="action", lookup_expr="startswith", label="Action starts with")
    object_type = django_filters.ChoiceFilter(choices=_object_type_choices, label="Object type")
    object = django_filters.CharFilter(
        field_name="object_repr", lookup_expr="icontains", label="Object (name contains)"
    )
    object_id = django_filters.CharFilter(field_name="object_id", widget=forms.HiddenInput)
    actor = django_filters.ChoiceFilter(
        field_name="actor_name", lookup_expr="iexact", choices=_actor_choices, label="Actor", empty_label="anyone"
    )
    created = django_filters.DateFromToRangeFilter(
        field_name="created_at",
        label="Date (from – to)",
        widget=django_filters.widgets.RangeWidget(attrs={"type": "date"}),
    )
    request_id = django_filters.CharFilter(field_name="request_id", label="Request id")

    class Meta:
        model = AuditEvent
        fields: list[str] = []
