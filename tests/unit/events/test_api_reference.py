"""docs/openapi.yaml, the API reference in the repository, is the schema the code serves."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import yaml
from django.core.management import call_command

REFERENCE = Path(__file__).resolve().parents[3] / "docs" / "openapi.yaml"


def test_the_committed_api_reference_matches_the_code() -> None:
    out = StringIO()
    call_command("spectacular", stdout=out)
    assert yaml.safe_load(out.getvalue()) == yaml.safe_load(REFERENCE.read_text()), (
        "docs/openapi.yaml is out of date: run `make docs-api`"
    )
