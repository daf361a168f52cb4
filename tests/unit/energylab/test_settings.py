"""Settings come from the environment and fail at start-up naming the variable."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from energylab.api.throttling import SCOPES, rate_key, setting_name

ROOT = Path(__file__).resolve().parents[3]


def start(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run manage.py in a clean environment plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ENERGYLAB_", "DJANGO_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *(args or ("check",))],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_refuses_to_start_without_a_secret_key_outside_debug() -> None:
    result = start({"ENERGYLAB_DEBUG": "false"})
    assert result.returncode != 0
    assert "ENERGYLAB_SECRET_KEY is required" in result.stderr
    assert "Traceback" not in result.stderr


def test_it_refuses_to_start_without_a_credentials_key_outside_debug() -> None:
    result = start({"ENERGYLAB_DEBUG": "false", "ENERGYLAB_SECRET_KEY": "x" * 50})
    assert result.returncode != 0
    assert "ENERGYLAB_CREDENTIALS_KEY is required" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ENERGYLAB_DEBUG", "maybe", "ENERGYLAB_DEBUG='maybe' is not a boolean"),
        ("ENERGYLAB_HTTP_PORT", "eighty", "ENERGYLAB_HTTP_PORT='eighty' is not an integer"),
        ("ENERGYLAB_CORRELATION_DELAY", "-1", "ENERGYLAB_CORRELATION_DELAY=-1.0 must be at least"),
        ("ENERGYLAB_DATABASE_URL", "mongodb://x/y", "ENERGYLAB_DATABASE_URL: unsupported database"),
        (
            "ENERGYLAB_DATABASE_URL",
            "mysql://u@h/db",
            "ENERGYLAB_DATABASE_URL: unsupported database",
        ),
        ("ENERGYLAB_EVENTS_RATE", "abc", "ENERGYLAB_EVENTS_RATE='abc' is not a rate"),
        ("ENERGYLAB_MEASUREMENTS_RATE", "10/fortnight", "ENERGYLAB_MEASUREMENTS_RATE='10/fortn"),
        ("ENERGYLAB_EVENTS_RATE", "0/min", "ENERGYLAB_EVENTS_RATE='0/min' is not a rate"),
        ("ENERGYLAB_READS_RATE", "5/week", "ENERGYLAB_READS_RATE='5/week' is not a rate"),
        (
            "ENERGYLAB_ANONYMOUS_EVENTS_RATE",
            "-1/s",
            "ENERGYLAB_ANONYMOUS_EVENTS_RATE='-1/s' is not",
        ),
        ("ENERGYLAB_ANONYMOUS_MEASUREMENTS_RATE", "lots", "ENERGYLAB_ANONYMOUS_MEASUREMENTS_RATE="),
        ("ENERGYLAB_ANONYMOUS_READS_RATE", "no", "ENERGYLAB_ANONYMOUS_READS_RATE='no' is not a"),
        ("ENERGYLAB_REDIS_URL", "notaurl", "ENERGYLAB_REDIS_URL='notaurl' is not a Redis URL"),
        ("ENERGYLAB_REDIS_URL", "redis://h:99999/0", "is not a Redis URL: Port out of range"),
        ("ENERGYLAB_CREDENTIALS_KEY", "garbage", "ENERGYLAB_CREDENTIALS_KEY: key 1 of 1 is not"),
        ("ENERGYLAB_TRUSTED_PROXIES", "-1", "ENERGYLAB_TRUSTED_PROXIES=-1 must be at least 0"),
        ("ENERGYLAB_INFLUXDB_RETENTION", "bogus", "ENERGYLAB_INFLUXDB_RETENTION='bogus' is not an"),
        ("ENERGYLAB_LOG_LEVEL", "LOUD", "ENERGYLAB_LOG_LEVEL='LOUD' is not a log level"),
        ("ENERGYLAB_CELERY_POOL", "forks", "ENERGYLAB_CELERY_POOL='forks' is not one of threads"),
    ],
)
def test_a_malformed_value_is_named(variable: str, value: str, message: str) -> None:
    env = {"ENERGYLAB_DEBUG": "true", variable: value}
    result = start(env)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_secrets_are_read_from_a_file_variable(tmp_path: Path) -> None:
    secret = tmp_path / "secret_key"
    secret.write_text("from-a-file-" + "k" * 40 + "\n")
    key = tmp_path / "credentials_key"
    key.write_text("wemYV8Vjv1r6U8eSqptEd2Iv8t9SElQoZssQ_bSKfV0=\n")
    env = {
        "ENERGYLAB_DEBUG": "false",
        "ENERGYLAB_SECRET_KEY_FILE": str(secret),
        "ENERGYLAB_CREDENTIALS_KEY_FILE": str(key),
        "ENERGYLAB_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    result = start(
        env,
        "shell",
        "-c",
        "from django.conf import settings; print(settings.SECRET_KEY, settings.CREDENTIALS_KEYS)",
    )
    assert result.returncode == 0, result.stderr
    assert "from-a-file-kkk" in result.stdout
    assert "wemYV8Vjv1r6U8eSqptEd2Iv8t9SElQoZssQ_bSKfV0=" in result.stdout


def test_the_database_password_may_be_a_secret_file_apart_from_the_url(tmp_path: Path) -> None:
    password = tmp_path / "postgres_password"
    password.write_text("pg-s3cret\n")
    env = {
        "ENERGYLAB_DEBUG": "true",
        "ENERGYLAB_DATABASE_URL": "postgres://energylab@db.example:5432/energylab",
        "ENERGYLAB_DATABASE_PASSWORD_FILE": str(password),
    }
    code = "from django.conf import settings; d = settings.DATABASES['default']; "
    code += "print(d['USER'], d['PASSWORD'], d['HOST'])"
    result = start(env, "shell", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["energylab", "pg-s3cret", "db.example"]


def test_an_unreadable_secret_file_is_named(tmp_path: Path) -> None:
    result = start(
        {"ENERGYLAB_DEBUG": "true", "ENERGYLAB_SECRET_KEY_FILE": str(tmp_path / "missing")}
    )
    assert result.returncode != 0
    assert "ENERGYLAB_SECRET_KEY_FILE: cannot read" in result.stderr


def test_rotation_keys_are_newest_first(tmp_path: Path) -> None:
    keys = (
        "wemYV8Vjv1r6U8eSqptEd2Iv8t9SElQoZssQ_bSKfV0=, 3cQ0CWxCqJ6cE0JvKjQXnQ0Jwz4w6Q6GQXH1u5cQfQs="
    )
    result = start(
        {
            "ENERGYLAB_DEBUG": "true",
            "ENERGYLAB_CREDENTIALS_KEY": keys,
            "ENERGYLAB_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        },
        "shell",
        "-c",
        "from django.conf import settings; print(settings.CREDENTIALS_KEYS)",
    )
    assert result.returncode == 0, result.stderr
    assert "['wemYV8Vjv1r6U8eSqptEd2Iv8t9SElQoZssQ_bSKfV0=', '3cQ0CW" in result.stdout


def test_a_worker_is_one_process_with_threads_unless_told(tmp_path: Path) -> None:
    """Sessions and the one-request-per-BMC rule live in the process (docs/operations.md)."""
    show = (
        "from energylab.celery import app; print(app.conf.worker_pool, app.conf.worker_concurrency)"
    )
    database = {"ENERGYLAB_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    default = start({"ENERGYLAB_DEBUG": "true", **database}, "shell", "-c", show)
    assert default.returncode == 0, default.stderr
    assert default.stdout.split()[-2:] == ["threads", "4"]
    told = start(
        {
            "ENERGYLAB_DEBUG": "true",
            "ENERGYLAB_CELERY_POOL": "prefork",
            "ENERGYLAB_CELERY_CONCURRENCY": "2",
            **database,
        },
        "shell",
        "-c",
        show,
    )
    assert told.returncode == 0, told.stderr
    assert told.stdout.split()[-2:] == ["prefork", "2"]


@pytest.mark.parametrize("rate", ["6000/min", "5/s", "10/second", "100/hours", "1/day", "2/m"])
def test_rates_in_drfs_format_are_taken(rate: str, tmp_path: Path) -> None:
    result = start(
        {
            "ENERGYLAB_DEBUG": "true",
            "ENERGYLAB_EVENTS_RATE": rate,
            "ENERGYLAB_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        },
        "shell",
        "-c",
        "from rest_framework.throttling import SimpleRateThrottle as T; "
        "from django.conf import settings; "
        "print(T.parse_rate(None, settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['events']))",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("(")


@pytest.mark.parametrize("value", ["none", "None", " NONE "])
def test_a_rate_of_none_is_no_limit(value: str, tmp_path: Path) -> None:
    result = start(
        {
            "ENERGYLAB_DEBUG": "true",
            "ENERGYLAB_EVENTS_RATE": value,
            "ENERGYLAB_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        },
        "shell",
        "-c",
        "from django.conf import settings; "
        "print(repr(settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['events']))",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "None"


RATES = "from django.conf import settings; print(settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES'])"


def rates_with(env: dict[str, str], tmp_path: Path) -> dict[str, str | None]:
    result = start(
        {
            "ENERGYLAB_DEBUG": "true",
            "ENERGYLAB_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            **env,
        },
        "shell",
        "-c",
        RATES,
    )
    assert result.returncode == 0, result.stderr
    rates: dict[str, str | None] = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    return rates


def test_by_default_only_anonymous_clients_are_limited(tmp_path: Path) -> None:
    assert rates_with({}, tmp_path) == {
        "events": None,
        "measurements": None,
        "reads": None,
        "anonymous events": "6000/min",
        "anonymous measurements": "1000/s",
        "anonymous reads": "6000/min",
    }


def test_each_rate_is_set_by_the_variable_a_refusal_names(tmp_path: Path) -> None:
    keys = [rate_key(scope, anonymous) for scope in SCOPES for anonymous in (False, True)]
    names = {
        rate_key(scope, anonymous): setting_name(scope, anonymous)
        for scope in SCOPES
        for anonymous in (False, True)
    }
    rates = rates_with({name: f"{i + 1}/min" for i, name in enumerate(names.values())}, tmp_path)
    assert rates == {key: f"{i + 1}/min" for i, key in enumerate(keys)}
