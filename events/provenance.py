"""Where a run comes from: its commit, branch, CI job and free labels.

The limits are shared by the model, the API and the docs; the SDK keeps the same ones
(``energylab_sdk._provenance``), so that what it sends is never refused.
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.db.models.fields.json import KeyTransform

from energylab.validators import validate_name, validate_printable

_M = TypeVar("_M", bound=Model)

COMMIT_MAX_LENGTH = 64  # a SHA-256 object name; SHA-1 is 40
BRANCH_MAX_LENGTH = 255  # what git and the CI servers allow in a ref name
CI_URL_MAX_LENGTH = 2000
CI_SYSTEM_MAX_LENGTH = 32
BUILD_MAX_LENGTH = 64
LABELS_MAX = 32
LABEL_KEY_MAX_LENGTH = 64
LABEL_VALUE_MAX_LENGTH = 200
# The separator of ``?label=key:value``: a key cannot hold it, a value can.
LABEL_SEPARATOR = ":"
LABEL_KEY_REFUSED = (LABEL_SEPARATOR, '"')

#: the fields a start event may carry, in the order the API shows them
FIELDS = ("commit", "branch", "ci_url", "ci_system", "build", "labels")

#: the CI systems the SDK detects (any other name is accepted as given)
CI_SYSTEMS = ("github", "gitlab", "jenkins", "zuul")


def validate_label_key(key: str) -> None:
    """A label's name: a name (non-empty, printable), bounded, without ``:`` (the filter's
    separator) or ``"`` (SQLite cannot look such a key up in a JSON object)."""
    validate_name(key)
    if len(key) > LABEL_KEY_MAX_LENGTH:
        raise ValidationError(f"label name longer than {LABEL_KEY_MAX_LENGTH} characters")
    refused = [char for char in LABEL_KEY_REFUSED if char in key]
    if refused:
        raise ValidationError(f"label name {key!r} may not contain {refused[0]!r}")


def validate_labels(value: Any) -> None:
    """A JSON object of at most ``LABELS_MAX`` string → string pairs (names as
    :func:`validate_label_key`, values printable, at most ``LABEL_VALUE_MAX_LENGTH``)."""
    if not isinstance(value, dict):
        raise ValidationError(f"must be an object of names to strings, not {type(value).__name__}")
    if len(value) > LABELS_MAX:
        raise ValidationError(f"at most {LABELS_MAX} labels (got {len(value)})")
    for key, label in value.items():
        if not isinstance(key, str):
            raise ValidationError("label names must be strings")
        validate_label_key(key)
        if not isinstance(label, str):
            raise ValidationError(f"label {key!r} must be a string, not {type(label).__name__}")
        if len(label) > LABEL_VALUE_MAX_LENGTH:
            raise ValidationError(
                f"label {key!r} is longer than {LABEL_VALUE_MAX_LENGTH} characters"
            )
        validate_printable(label)


def validate_ci_url(value: str) -> None:
    """An http(s) URL with a host, printable, without spaces.

    Not Django's URLValidator: it refuses a host without a dot (``http://jenkins:8080/job/1/``)
    or with an underscore, which CI servers inside a lab often have.
    """
    validate_printable(value)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
        raise ValidationError("must be an http(s) URL with a host (the CI job's page)")


def with_label(runs: QuerySet[_M], key: str, value: str | None) -> QuerySet[_M]:
    """``runs`` that have the label ``key`` (with this ``value`` when given), for the API's
    ``?label=`` and the run pages' alike.

    A ``KeyTransform`` rather than ``labels__<key>``: a key may hold ``__`` or spaces. Its
    ``exact`` JSON-encodes the value, which SQLite's ``JSON_EXTRACT`` needs (a bare text value
    there is "malformed JSON").
    """
    alias = f"_label_{len(runs.query.annotations)}"  # one alias per label filtered on
    runs = runs.alias(**{alias: KeyTransform(key, "labels")}).filter(**{f"{alias}__isnull": False})
    return runs if value is None else runs.filter(**{alias: value})
