"""Settings for the test suite: the real settings, with test defaults for what is not set.

Tests run on the local PostgreSQL (pytest-django creates and drops ``test_energylab``) and on
Redis database 9, so a developer's running stack on database 0 is left alone.
"""

from __future__ import annotations

import os

os.environ.setdefault("ENERGYLAB_DEBUG", "true")
os.environ.setdefault("ENERGYLAB_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/energylab")
os.environ.setdefault("ENERGYLAB_REDIS_URL", "redis://127.0.0.1:6379/9")
os.environ.setdefault("ENERGYLAB_CORRELATION_DELAY", "0")
# Two test runs on one machine (a developer's beside CI's) keep to their own Redis keys.
os.environ.setdefault("ENERGYLAB_REDIS_KEY_PREFIX", f"energylab-test-{os.getpid()}")
# pytest-xdist workers inherit the controller's environment, the prefix above included: each
# keeps to keys of its own, or one worker's buffer fixture empties the stream (and forgets the
# samples seen) under another's test, and its change of access clears another's caches.
_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker and not os.environ["ENERGYLAB_REDIS_KEY_PREFIX"].endswith(f"-{_worker}"):
    os.environ["ENERGYLAB_REDIS_KEY_PREFIX"] += f"-{_worker}"

from energylab.settings import *  # noqa: E402, F403 - after the environment is set

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test users

# One test database per test process, so that two test runs on one machine (a developer's and
# CI's, or two helpers') never collide; pytest-django drops it at the end.
_database = DATABASES["default"]  # noqa: F405
if _database["ENGINE"].endswith("sqlite3"):
    # A file beside the configured one (the API suite also runs on SQLite: `make test`), so that
    # the threads of a test share it as they share a PostgreSQL database.
    _path = os.path.abspath(_database["NAME"] or "energylab.sqlite3")
    _test_name = os.path.join(
        os.path.dirname(_path), f"test_{os.getpid()}_{os.path.basename(_path)}"
    )
else:
    _test_name = f"test_{_database['NAME']}_{os.getpid()}"
_database.setdefault("TEST", {})["NAME"] = _test_name
