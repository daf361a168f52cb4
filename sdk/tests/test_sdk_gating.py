"""CI gating without a server: budgets, verdicts, JUnit XML valid against the schema CI
servers read, the markdown job summary, and the CLI's usage errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from energylab_sdk import _gate, _reports, ci_format, gating

SCHEMA = Path(__file__).parent / "junit" / "JUnit.xsd"


def report(
    run_id: int, steps: dict[str, float], scenario: str = "nightly <&> ⚡"
) -> dict[str, Any]:
    return {
        "run": {"id": run_id, "pod": "pod|7", "scenario": scenario, "commit": "3f786850e387aa"},
        "steps": [{"name": n, "energy_j": j, "duration_s": 10.0} for n, j in steps.items()],
        "total": {"energy_j": sum(steps.values()), "duration_s": 10.0 * len(steps)},
    }


def change(regressed: str | None) -> dict[str, Any]:
    def row(name: str) -> dict[str, Any]:
        hit = name == regressed
        return {
            "name": name,
            "regression": hit,
            "energy_j": {
                "a": {"mean": 100.0},
                "difference_pct": 10.0 if hit else 0.5,
                "ci_low": 8.0 if hit else -1.0,
                "ci_high": 12.0 if hit else 2.0,
                "p_value": 0.0001 if hit else 0.4,
                "effect_size": 3.1 if hit else 0.2,
            },
        }

    return {
        "a": {"set": "branch:main", "runs": [{"id": 1}, {"id": 2}]},
        "test": "Welch's t-test",
        "alpha": 0.05,
        "threshold_pct": 5.0,
        "steps": [row("build | x"), row("test")],
        "total": row("TOTAL"),
    }


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_budgets_are_read_from_json_or_yaml_with_a_default_scenario(tmp_path) -> None:
    as_json = write(tmp_path, "b.json", json.dumps({"nightly": {"total": 500, "steps": {"a": 1}}}))
    assert gating.load_budgets(as_json, "nightly").by_step == {"TOTAL": 500.0, "a": 1.0}
    as_yaml = write(tmp_path, "b.yml", "'*':\n  steps:\n    build: 2.5e3\nother: {total: 1}\n")
    assert gating.load_budgets(as_yaml, "nightly").by_step == {"build": 2500.0}
    assert gating.load_budgets(as_yaml, "other").by_step == {"TOTAL": 1.0}
    assert gating.load_budgets(as_json, "unknown").by_step == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "mapping of scenario names"),
        ('{"nightly": {"total": -1}}', "positive number of J"),
        ('{"nightly": {"totl": 1}}', "'total'"),
        ('{"nightly": {"steps": {"a": "lots"}}}', "step 'a'"),
        ("nightly: [unclosed", "neither JSON nor YAML"),
    ],
)
def test_a_budgets_file_that_cannot_be_used_says_why(tmp_path, text, message) -> None:
    with pytest.raises(gating.BudgetError, match=message):
        gating.load_budgets(write(tmp_path, "b", text), "nightly")


def test_a_missing_budgets_file_says_so(tmp_path) -> None:
    with pytest.raises(gating.BudgetError, match="cannot read budgets file"):
        gating.load_budgets(str(tmp_path / "none.yml"), "nightly")


def test_a_step_over_its_budget_fails_on_the_mean_of_the_runs() -> None:
    reports = [report(1, {"build | x": 90, "test": 50}), report(2, {"build | x": 120, "test": 50})]
    verdicts = gating.evaluate(reports, None, gating.Budgets({"build | x": 100.0}), False)
    assert [(v.name, v.energy_j, v.failed) for v in verdicts] == [
        ("build | x", 105.0, True),
        ("test", 50.0, False),
        ("TOTAL", 155.0, False),
    ]
    assert _gate.GateResult(verdicts, None).exit_code == _gate.EXIT_OVER_BUDGET


def test_a_regression_fails_only_when_asked_and_wins_over_a_budget() -> None:
    reports = [report(3, {"build | x": 90, "test": 50})]
    shown = gating.evaluate(reports, change("test"), gating.Budgets(), False)
    assert not any(v.failed for v in shown)
    verdicts = gating.evaluate(reports, change("test"), gating.Budgets({"TOTAL": 1.0}), True)
    assert [v.name for v in verdicts if v.failed] == ["test", "TOTAL"]
    assert "regression: +10.0 % energy" in verdicts[1].failures[0]
    assert _gate.GateResult(verdicts, None).exit_code == _gate.EXIT_REGRESSION


def test_junit_has_a_case_per_step_and_validates_against_the_junit_schema() -> None:
    etree = pytest.importorskip("lxml.etree")
    reports = [report(3, {"build | x": 90, "test": 50})]
    verdicts = gating.evaluate(reports, change("test"), gating.Budgets({"TOTAL": 100.0}), True)
    xml = ci_format.junit(reports, verdicts)
    suite = etree.fromstring(xml.encode())
    etree.XMLSchema(etree.parse(str(SCHEMA))).assertValid(suite)
    cases = {case.get("name"): case.find("failure") for case in suite.iter("testcase")}
    assert list(cases) == ["build | x", "test", "TOTAL"]
    assert cases["build | x"] is None
    assert "regression" in cases["test"].get("message")
    assert "over budget" in cases["TOTAL"].get("message")
    assert suite.get("failures") == "2"


def test_the_markdown_summary_is_a_table_row_per_step_whatever_the_names() -> None:
    reports = [report(3, {"build | x": 90, "test": 50})]
    verdicts = gating.evaluate(reports, change("test"), gating.Budgets(), True)
    text = ci_format.markdown(reports, verdicts, change("test"))
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 2 + 3  # header, rule, two steps and the total
    assert rows[2].startswith("| build \\| x | 90.00 | - | 100.0 | +0.5 % | -1.0 to +2.0 | 0.4 |")
    assert "regression" in rows[3]
    assert "**1 of 3 failed.**" in text


def test_the_summary_is_appended_to_the_github_step_summary(tmp_path, monkeypatch) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    reports = [report(3, {"a": 1})]
    text = _gate.summarise(
        reports, _gate.GateResult(gating.evaluate(reports, None, gating.Budgets(), False), None)
    )
    assert summary.read_text() == "earlier step\n" + text + "\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fail-on-regression"], "--fail-on-regression needs --compare-to"),
        (["--budget-j", "0"], "--budget-j must be positive"),
        (["--budget-j", "1", "--budgets", "f"], "not allowed with argument"),
    ],
)
def test_gating_options_that_make_no_sense_exit_2(args, message) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENERGY", "NODE_NAME"))}
    env.update(ENERGYLAB_API_URL="http://127.0.0.1:9", ENERGYLAB_POD="p")
    done = subprocess.run(
        [sys.executable, "-m", "energylab_sdk", "report", "--run", "1", *args],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert message in done.stderr


@pytest.mark.parametrize(
    ("given", "sent"),
    [("main", "branch:main"), ("feature/x", "branch:feature/x"), ("last:5", "last:5"),
     ("branch:last:5", "branch:last:5"), ("runs:1,2", "runs:1,2")],
)  # fmt: skip
def test_compare_to_names_a_branch_unless_it_names_a_set(given, sent) -> None:
    assert _reports.reference_set(given) == sent
