"""Each dependency is declared where it belongs: the server's runtime, or the developer's tools."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def pins(path: str) -> set[str]:
    """The distribution names a requirements file pins (not its -r includes)."""
    lines = (ROOT / path).read_text().splitlines()
    return {
        re.split(r"[=<>\[ ]", line, maxsplit=1)[0].lower()
        for line in lines
        if re.match(r"\w", line)
    }


def test_the_server_requires_the_sdk_of_this_repository() -> None:
    # The server imports energylab_sdk (the energy report's formatter): installing the server
    # without it would fail only when a report is printed.
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    sdk_version = re.search(
        r'^__version__ = "([^"]+)"',
        (ROOT / "sdk" / "energylab_sdk" / "__init__.py").read_text(),
        re.MULTILINE,
    )
    assert sdk_version
    assert f"energylab-sdk=={sdk_version.group(1)}" in declared


def test_honcho_is_a_development_tool_only() -> None:
    # `make run` uses it (the venv has dev.txt); the image runs one process per container.
    assert "honcho" not in pins("requirements/base.txt")
    assert "honcho" in pins("requirements/dev.txt")
    for path in ("docker/Dockerfile", "docker/entrypoint.sh", "docker/compose.yaml"):
        assert "honcho" not in (ROOT / path).read_text(), path
