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
from riskgov.markets.models import Asset, Market
from riskgov.parameters.models import BRACKET_INPUT_FIELDS, MARKET_FIELDS, VersionStatus
from riskgov.presentation import formats

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


def _decimal(label: str, *, help_text: str = "") -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "class": "num", "autocomplete": "off"}),
    )


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


def _fraction(label: str, *, help_text: str | None = None) -> FractionField:
    return FractionField(
        label=label,
        required=False,
        help_text="a percent (0.5 %) or a fraction (0.005)" if help_text is None else help_text,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "class": "num", "autocomplete": "off"}),
    )


def _market_choices() -> list[tuple[str, str]]:
    symbols = (
        Market.objects.filter(versions__status=VersionStatus.ACTIVE).order_by("symbol").values_list("symbol", flat=True)
    )
    return [("", "— no market change —"), *[(s, s) for s in symbols.distinct()]]


def _asset_choices() -> list[tuple[str, str]]:
    symbols = (
        Asset.objects.filter(versions__status=VersionStatus.ACTIVE).order_by("symbol").values_list("symbol", flat=True)
    )
    return [("", "— no haircut change —"), *[(s, s) for s in symbols.distinct()]]


class ChangeForm(forms.Form):
    """One market's fields (brackets come from ``BracketFormSet``) and optionally one asset's haircut.

    Fraction fields accept a percent or a fraction (``1.25 %`` or ``0.0125``; stored as the
    fraction, RISK_MODEL §1); the page shows the percent and the active values next to them.
    """

    title = forms.CharField(max_length=200)
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}))
    market = forms.ChoiceField(required=False, choices=_market_choices)
    liquidation_penalty = _fraction("Liquidation penalty")
    depth_usd_per_1pct = _decimal("Depth (USD per 1 % move)")
    oi_cap_lower_usd = _decimal("OI cap, lower (USD)", help_text="0 = no OI scaling")
    oi_cap_upper_usd = _decimal("OI cap, upper (USD)", help_text="0 = no OI scaling")
    max_position_notional_usd = _decimal("Max position notional (USD)", help_text="empty = unlimited")
    liquidation_horizon_minutes = _decimal(
        "Liquidation horizon (minutes)", help_text="time to detect and close a position (RISK_MODEL §12)"
    )
    asset = forms.ChoiceField(required=False, choices=_asset_choices, label="Collateral asset")
    haircut = _fraction("Haircut")

    def market_spec(self, brackets: list[dict[str, Any]] | None) -> dict[str, Any] | None:
        """The market change as a service spec, or None when no market is selected.

        A field left empty is left out (the service keeps the active value), except the
        max position notional, where empty means unlimited.
        """
        data = self.cleaned_data
        if not data.get("market"):
            return None
        spec: dict[str, Any] = {"market": data["market"]}
        for f in MARKET_FIELDS:
            value = data.get(f)
            if value is not None:
                spec[f] = value
            elif f == "max_position_notional_usd":
                spec[f] = None
        if brackets is not None:
            spec["brackets"] = brackets
        return spec

    def asset_spec(self) -> dict[str, Any] | None:
        """The haircut change as a service spec, or None when no asset is selected."""
        data = self.cleaned_data
        if not data.get("asset"):
            return None
        return {"asset": data["asset"], "haircut": "" if data.get("haircut") is None else data["haircut"]}


class ProposalForm(ChangeForm):
    """A normal proposal: the change plus the requested effective time."""

    effective_at = forms.DateTimeField(
        label="Requested effective time (UTC)",
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
    )

    field_order = ["title", "rationale", "effective_at"]


class EmergencyForm(ChangeForm):
    """An emergency change: active at once, so no effective time."""

    title = forms.CharField(max_length=200, initial="Emergency change")


class BracketForm(forms.Form):
    """One bracket row: notional floor (USD), IMF and MMF (fractions)."""

    notional_floor = _decimal("Notional floor (USD)")
    initial_margin_fraction = _fraction("IMF", help_text="")
    maintenance_margin_fraction = _fraction("MMF", help_text="")

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return all(data.get(f) is None for f in BRACKET_INPUT_FIELDS)

    def as_spec(self) -> dict[str, Any]:
        # An empty cell is sent as "", so the service names the bracket and the field.
        return {f: "" if self.cleaned_data.get(f) is None else self.cleaned_data[f] for f in BRACKET_INPUT_FIELDS}


BracketFormSet = forms.formset_factory(BracketForm, extra=2, can_delete=True, max_num=40, absolute_max=60)


def bracket_specs(formset: Any) -> tuple[list[dict[str, Any]], list[int]]:
    """The bracket rows to send (blank and removed rows skipped), and for each of them the
    index of its form, so that "bracket k" in a finding can be put on the right row."""
    rows, form_index = [], []
    for i, form in enumerate(formset.forms):
        if formset.can_delete and formset._should_delete_form(form):
            continue
        if form.is_blank():
            continue
        rows.append(form.as_spec())
        form_index.append(i)
    return rows, form_index


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
