"""pyghmi's patches: applied once at start, idempotent, refused on a pyghmi they were not tested with.

What each patch fixes is tested in test_ipmi_driver.py (each of those tests fails without it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pyghmi.ipmi.private import session as pyghmi_session

from collectors.drivers import pyghmi_patches

ROOT = Path(__file__).resolve().parents[3]


def in_fresh_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter with the test settings (nothing patched yet)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "energylab.settings_test"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def patched() -> tuple[object, object, object]:
    return pyghmi_session.WAITING_SESSIONS, pyghmi_session._io_wait, pyghmi_session.select


def test_the_patches_are_in_place_after_django_setup() -> None:
    result = in_fresh_python(
        """
        import django
        from pyghmi.ipmi.private import session

        unpatched_wait = session._io_wait
        django.setup()
        assert session.WAITING_SESSIONS is session.KEEPALIVE_SESSIONS
        assert session._io_wait is not unpatched_wait
        assert session._io_wait.__module__ == "collectors.drivers.pyghmi_patches"
        assert session.select.__name__ == "_PollSelect"
        print("patched")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "patched"


def test_applying_again_changes_nothing() -> None:
    before = patched()
    pyghmi_patches.apply()
    pyghmi_patches.apply()
    assert patched() == before
    # The sliced wait wraps pyghmi's own, never itself (that would recurse forever).
    assert pyghmi_patches._original_io_wait is not pyghmi_patches._io_wait_sliced
    assert pyghmi_patches._original_io_wait.__module__ == "pyghmi.ipmi.private.session"


def test_it_refuses_a_pyghmi_version_it_was_not_tested_with(monkeypatch) -> None:
    monkeypatch.setattr(pyghmi_patches, "_installed_version", lambda: "1.7.0")
    with pytest.raises(pyghmi_patches.UnsupportedPyghmiVersion) as raised:
        pyghmi_patches.apply()
    assert "pyghmi 1.7.0 is installed" in str(raised.value)
    assert "tested with pyghmi 1.6.19" in str(raised.value)


def test_an_unknown_version_stops_the_start_before_anything_is_patched() -> None:
    result = in_fresh_python(
        """
        import django
        from pyghmi.ipmi.private import session

        from collectors.drivers import pyghmi_patches

        unpatched = (session.WAITING_SESSIONS, session._io_wait, session.select)
        pyghmi_patches._installed_version = lambda: "2.0.0"
        try:
            django.setup()
        except Exception as exc:
            print(type(exc).__name__, exc)
        assert (session.WAITING_SESSIONS, session._io_wait, session.select) == unpatched
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("UnsupportedPyghmiVersion pyghmi 2.0.0 is installed")


def test_the_tested_version_is_the_pinned_one() -> None:
    pins = (ROOT / "requirements" / "base.txt").read_text().splitlines()
    assert [f"pyghmi=={v}" for v in pyghmi_patches.TESTED_VERSIONS] == [
        line for line in pins if line.startswith("pyghmi==")
    ]
