"""docs/ci.md's CI snippets work: their YAML parses, and every energylab command in them is
one the CLI accepts."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from energylab_sdk.cli import _parser

CI_MD = Path(__file__).parents[3] / "docs" / "ci.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)
# A command, with the lines that continue it (indented deeper, or after a trailing backslash).
COMMAND = re.compile(r"energylab (?:record|report)[^\n]*(?:\n[ ]+--[^\n]*|\\\n[^\n]*)*")


def blocks(language: str) -> list[str]:
    return [text for lang, text in BLOCK.findall(CI_MD.read_text()) if lang == language]


def test_the_yaml_snippets_parse() -> None:
    parsed = [yaml.safe_load(text) for text in blocks("yaml")]
    workflow = next(doc for doc in parsed if "jobs" in doc)
    assert workflow["jobs"]["energy"]["env"]["ENERGYLAB_POD"] == "pod-7"
    gitlab = next(doc for doc in parsed if "energy" in doc and "script" in doc["energy"])
    assert gitlab["energy"]["artifacts"]["reports"]["junit"] == "energy.xml"


def commands() -> list[str]:
    found = []
    for text in blocks("yaml") + blocks("groovy") + blocks("sh"):
        for match in COMMAND.findall(text):
            line = " ".join(match.replace("\\\n", " ").split())
            found.append(line.split(" > ")[0].rstrip("'"))
    return found


@pytest.mark.parametrize("command", commands())
def test_every_energylab_command_in_the_snippets_is_valid(command: str) -> None:
    args = _parser().parse_args(shlex.split(command)[1:])
    assert args.command in ("record", "report")


def test_the_snippets_gate() -> None:
    assert sum("--fail-on-regression" in c for c in commands()) >= 3
