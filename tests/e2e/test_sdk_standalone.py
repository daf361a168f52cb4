"""The SDK is installable on its own: a CI host has neither Django nor the server's packages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from energylab_sdk.testing import dead_url

ROOT = Path(__file__).resolve().parents[2]


def test_the_sdk_installs_and_runs_in_a_venv_without_the_servers_packages(tmp_path: Path) -> None:
    venv = tmp_path / "ci-host"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(ROOT / "sdk")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    imported = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import energylab_sdk, energylab_sdk.cli, energylab_sdk.report_format, sys; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'django', 'requests'}))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.stdout.strip() == "[]", imported.stderr
    report = subprocess.run(
        [str(venv / "bin" / "energylab"), "report", "--run", "1", "--url", dead_url()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert report.returncode == 1
    assert "cannot reach" in report.stderr


def test_the_sdks_own_tests_run_without_django_as_its_readme_says() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENERGYLAB_", "DJANGO_"))}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "sdk/tests/test_sdk_config.py"),
            *("-p", "no:django", "-p", "no:cacheprovider", "-q"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:]
