"""List filters shared by every API: an object's id."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms

from energylab.api.fields import bounded_integer


class IdFormField(forms.Field):
    """An id in a query string: digits, within the database's range, else a 400.

    django-filter's ``NumberFilter`` reads a Decimal, which takes ``1e1000000``, and the query
    then turned it into an integer of a million digits (seconds of CPU per request).
    """

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        try:
            return bounded_integer(value, minimum=1)
        except ValueError as exc:
            raise forms.ValidationError(f"is not an id: it {exc}") from None


class IdFilter(django_filters.Filter):
    """Objects whose ``field_name`` (a primary or foreign key) is the given id. (The schema
    takes its type, an integer, and its help text from the model's field.)"""

    field_class = IdFormField
