"""The admin's server form refuses what the API refuses, naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from collectors.forms import ServerForm
from collectors.models import Pod

pytestmark = pytest.mark.django_db


def form(**fields: Any) -> ServerForm:
    pod = Pod.objects.create(name="pod 1")
    data = {"pod": pod.pk, "name": "node 1", "bmc_type": "ipmi", "host": "10.0.0.1", **fields}
    return ServerForm(data=data)


def test_a_server_with_printable_topology_is_valid() -> None:
    assert form(dc='Paris "east"', rack="R 7, = \\").is_valid()


@pytest.mark.parametrize("field", ["dc", "room", "row", "rack"])
def test_a_newline_in_a_topology_field_is_refused_by_the_admin(field: str) -> None:
    refused = form(**{field: "a\nb"})
    assert not refused.is_valid()
    assert "control characters" in refused.errors[field][0]
