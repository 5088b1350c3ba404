"""Serializer and filter fields for times, limited to what PostgreSQL can store and compare."""

from datetime import UTC, datetime, timedelta

import django_filters
from django.core.exceptions import ValidationError
from rest_framework import serializers

# PostgreSQL refuses a UTC offset of 16 hours or more ("time zone displacement out of range").
MAX_UTC_OFFSET = timedelta(hours=16)
OFFSET_MESSAGE = "Time zone offset out of range: use one between -15:59 and +15:59."
RANGE_MESSAGE = "Datetime value out of range: it must fall within the years 1 to 9999 in UTC."


def datetime_problem(value: datetime) -> str | None:
    """Why an aware ``value`` cannot be stored or compared, or None."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) >= MAX_UTC_OFFSET:
        return OFFSET_MESSAGE
    try:
        value.astimezone(UTC)
    except OverflowError:
        return RANGE_MESSAGE
    return None


class DateTimeField(serializers.DateTimeField):
    """DRF's DateTimeField, refusing offsets PostgreSQL rejects; values come out in UTC."""

    default_error_messages = {"offset": OFFSET_MESSAGE, "overflow": RANGE_MESSAGE}

    def enforce_timezone(self, value):
        offset = value.utcoffset()
        if offset is not None and abs(offset) >= MAX_UTC_OFFSET:
            self.fail("offset")
        return super().enforce_timezone(value)


class IsoDateTimeFormField(django_filters.fields.IsoDateTimeField):
    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        problem = datetime_problem(value)
        if problem:
            raise ValidationError(problem, code="invalid")
        return value.astimezone(UTC)


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """django-filter's ISO 8601 filter, with the same limits as the serializers' DateTimeField."""

    field_class = IsoDateTimeFormField
