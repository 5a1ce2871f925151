"""Date-time inputs normalised to UTC before they reach PostgreSQL.

An ISO time with an offset PostgreSQL does not accept (beyond ±15:59, e.g. ``+17:03``) was a
500 (DataError) from the audit filters; a time that leaves the representable range when moved
to UTC (year 1 with a negative offset) an OverflowError. Both are now a 400 naming the field.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django import forms
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from rest_framework import serializers


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC)


class UtcIsoDateTimeFormField(IsoDateTimeField):
    """django-filter's ISO field, converted to UTC (out-of-range → invalid)."""

    def to_python(self, value):  # noqa: ANN001, ANN201 — Django's signature
        try:
            return _utc(super().to_python(value))
        except (OverflowError, ValueError) as exc:
            raise forms.ValidationError("not a representable date-time", code="invalid") from exc


class UtcIsoDateTimeFilter(filters.IsoDateTimeFilter):
    """An ``IsoDateTimeFilter`` whose value is in UTC."""

    field_class = UtcIsoDateTimeFormField


class UtcDateTimeField(serializers.DateTimeField):
    """A DRF date-time converted to UTC (out-of-range → 400 naming the field)."""

    def to_internal_value(self, value):  # noqa: ANN001, ANN201 — DRF's signature
        parsed = super().to_internal_value(value)
        try:
            return _utc(parsed)
        except (OverflowError, ValueError):
            self.fail("invalid", format="ISO 8601 within years 1–9999")
