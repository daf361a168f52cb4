"""docker/: the image and the compose file, checked without a Docker engine.

`docker compose config` (or Compose v1's `docker-compose config`) validates the compose file when
a client is installed; the structural checks below run everywhere.
"""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "docker"
DOCKERFILE = (DOCKER / "Dockerfile").read_text()
COMPOSE_TEXT = (DOCKER / "compose.yaml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES = COMPOSE["services"]
ENTRYPOINT = (DOCKER / "entrypoint.sh").read_text()
#: installed by `make install` for development and tests only, never in the image
DEV_ONLY_REQUIREMENTS = {"requirements/dev.txt", "requirements/legacy-client.txt"}


def compose_client() -> list[str] | None:
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run([*command, "version"], capture_output=True, timeout=20)
        if probe.returncode == 0:
            return command
    return None


# -- the compose file ---------------------------------------------------------------------------


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    command = compose_client()
    if command is None:
        pytest.skip("no docker compose client here; the structural tests below still run")
    copy = tmp_path / "docker"
    shutil.copytree(DOCKER, copy, ignore=shutil.ignore_patterns("secrets"))
    (copy / "secrets").mkdir()
    for secret in COMPOSE["secrets"].values():
        (copy / secret["file"]).write_text("k")
    done = subprocess.run(
        [*command, "-f", "compose.yaml", "--env-file", ".env.example", "config"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert set(resolved["services"]) == set(SERVICES)


def test_it_runs_every_part_of_the_stack() -> None:
    assert set(SERVICES) == {
        "migrate",
        "web",
        "worker",
        "beat",
        "redis",
        "postgres",
        "influxdb",
        "grafana",
    }
    assert SERVICES["web"]["command"] == ["web"]
    assert SERVICES["worker"]["command"] == ["worker"]
    assert SERVICES["beat"]["command"] == ["beat"]
    assert any(str(p).endswith(":8000") for p in SERVICES["web"]["ports"])
    assert 'exec gunicorn energylab.wsgi \\\n            --bind "0.0.0.0:${port}"' in ENTRYPOINT
    assert "exec celery -A energylab worker" in ENTRYPOINT
    assert '-Q "${CELERY_QUEUES:-poll,writer,default}"' in ENTRYPOINT
    assert "exec celery -A energylab beat" in ENTRYPOINT


def test_third_party_images_are_the_expected_majors_and_pinned() -> None:
    expected = {
        "redis": "redis:7",
        "postgres": "postgres:16",
        "influxdb": "influxdb:1.8",
        "grafana": "grafana/grafana-oss:",
    }
    for service, prefix in expected.items():
        image = SERVICES[service]["image"]
        assert image.startswith(prefix), image
        assert not image.endswith(":latest")


def test_every_long_running_service_has_a_health_check() -> None:
    for name, service in SERVICES.items():
        if name == "migrate":
            assert service["restart"] == "no"
            continue
        check = service.get("healthcheck")
        assert check, name
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, name


def test_migrations_run_once_before_the_app_starts() -> None:
    assert SERVICES["migrate"]["command"] == ["migrate"]
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker", "beat"):
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        for service in ("postgres", "redis", "influxdb"):
            assert depends[service]["condition"] == "service_healthy"
    # the web server itself does not migrate (several could race)
    web_branch = ENTRYPOINT.split("    web)", 1)[1].split(";;", 1)[0]
    assert "migrate" not in web_branch


def test_secrets_come_from_files_that_docker_secrets_mount() -> None:
    top = COMPOSE["secrets"]
    for name in ("web", "worker", "beat", "migrate"):
        service = SERVICES[name]
        env = service["environment"]
        mounted = set(service["secrets"])
        for variable in ("ENERGYLAB_SECRET_KEY_FILE", "ENERGYLAB_CREDENTIALS_KEY_FILE"):
            path = env[variable]
            secret = path.removeprefix("/run/secrets/")
            assert path.startswith("/run/secrets/")
            assert secret in mounted
            assert secret in top
        assert "ENERGYLAB_SECRET_KEY" not in env
        assert "ENERGYLAB_CREDENTIALS_KEY" not in env
    ignored = (DOCKER / "secrets" / ".gitignore").read_text().split()
    assert "*" in ignored


def test_every_password_is_a_secret_file_never_an_environment_value() -> None:
    top = COMPOSE["secrets"]
    assert all(secret["file"].startswith("./secrets/") for secret in top.values())
    for name, service in SERVICES.items():
        env = service.get("environment", {})
        mounted = set(service.get("secrets", []))
        for variable, value in env.items():
            secret_like = re.search(r"PASSWORD|SECRET_KEY|CREDENTIALS_KEY", variable)
            if secret_like and variable.endswith("FILE"):
                secret = str(value).removeprefix("/run/secrets/")
                assert str(value).startswith("/run/secrets/"), (name, variable)
                assert secret in mounted, (name, variable)
                assert secret in top, (name, variable)
            elif secret_like:
                raise AssertionError(f"{name}: {variable} is a plain environment value")
        for value in env.values():
            assert not re.search(r"://[^/@\s]*:[^/@\s]*@", str(value)), (name, value)
    example = (DOCKER / ".env.example").read_text()
    assert not re.search(r"^[A-Z_]*PASSWORD=", example, re.MULTILINE)


def test_influxdb_runs_with_authentication_and_the_app_logs_in() -> None:
    influx = SERVICES["influxdb"]
    assert influx["environment"]["INFLUXDB_HTTP_AUTH_ENABLED"] == "true"
    # the image's users get their passwords from the secrets, in its entrypoint
    command = " ".join(influx["entrypoint"])
    assert "/run/secrets/influxdb_energylab_password" in command
    assert "exec /entrypoint.sh influxd" in command
    env = SERVICES["web"]["environment"]
    assert env["ENERGYLAB_INFLUXDB_USERNAME"] == influx["environment"]["INFLUXDB_ADMIN_USER"]
    assert env["ENERGYLAB_INFLUXDB_PASSWORD_FILE"] == "/run/secrets/influxdb_energylab_password"
    datasource = yaml.safe_load(
        (DOCKER / "grafana" / "provisioning" / "datasources" / "energylab.yaml").read_text()
    )["datasources"][0]
    assert datasource["user"] == influx["environment"]["INFLUXDB_READ_USER"]
    assert datasource["secureJsonData"]["password"] == "${INFLUXDB_GRAFANA_PASSWORD}"
    assert "INFLUXDB_GRAFANA_PASSWORD" in " ".join(SERVICES["grafana"]["entrypoint"])


def test_the_web_health_check_asks_healthz() -> None:
    web_check = ENTRYPOINT.split("            web)", 1)[1].split(";;", 1)[0]
    assert "/healthz" in web_check


def test_the_app_reaches_the_services_by_their_compose_names() -> None:
    env = SERVICES["web"]["environment"]
    assert env["ENERGYLAB_REDIS_URL"].startswith("redis://redis:6379/")
    assert env["ENERGYLAB_INFLUXDB_URL"] == "http://influxdb:8086"
    assert env["ENERGYLAB_INFLUXDB_DATABASE"] == "energylab"
    assert "@postgres:5432/energylab" in env["ENERGYLAB_DATABASE_URL"]


def test_grafana_mounts_the_provisioning_and_dashboards_of_the_repository() -> None:
    volumes = SERVICES["grafana"]["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in volumes
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in volumes
    datasources = DOCKER / "grafana" / "provisioning" / "datasources"
    if not datasources.is_dir():
        pytest.skip("docker/grafana/provisioning is not written yet")
    sources = [
        source
        for path in datasources.glob("*.y*ml")
        for source in yaml.safe_load(path.read_text())["datasources"]
    ]
    influx = next(s for s in sources if s["uid"] == "energylab-influxdb")
    assert influx["url"] == "http://influxdb:8086"
    assert (
        influx["jsonData"]["dbName"]
        == SERVICES["web"]["environment"]["ENERGYLAB_INFLUXDB_DATABASE"]
    )


def test_every_variable_the_compose_file_reads_is_in_the_env_example() -> None:
    example = (DOCKER / ".env.example").read_text()
    defined = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", example, re.MULTILINE))
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE_TEXT))
    assert used <= defined, used - defined
    assert "ENERGYLAB_SECRET_KEY=" not in example
    assert "ENERGYLAB_CREDENTIALS_KEY=" not in example


# -- the image ----------------------------------------------------------------------------------


def requirement_files(path: str) -> set[str]:
    """A requirements file and every file it includes with -r, as paths from the root."""
    found = {path}
    for line in (ROOT / path).read_text().splitlines():
        match = re.match(r"\s*-r\s+(\S+)", line)
        if match:
            found |= requirement_files(str(Path(path).parent / match.group(1)))
    return found


def pip_installs(text: str) -> tuple[set[str], set[str]]:
    """(requirement files, local projects) of every `pip install` in a Makefile or Dockerfile."""
    files: set[str] = set()
    projects: set[str] = set()
    for command in re.findall(r"pip install([^\n]*)", text.replace("\\\n", " ")):
        words = command.split()
        for i, word in enumerate(words):
            if word == "-r":
                files |= requirement_files(words[i + 1])
            elif word == "-e" or (word in {".", "sdk/", "./sdk"} and words[i - 1] != "-e"):
                target = words[i + 1] if word == "-e" else word
                projects.add(target.rstrip("/").removeprefix("./") or ".")
    return files, projects


def test_the_image_installs_what_make_install_installs_less_the_dev_tools() -> None:
    make_files, make_projects = pip_installs((ROOT / "Makefile").read_text())
    image_files, image_projects = pip_installs(DOCKERFILE)
    assert "requirements/base.txt" in make_files
    assert image_files == make_files - DEV_ONLY_REQUIREMENTS
    assert image_projects == make_projects == {"sdk", "."}


def test_the_dockerfile_follows_the_basics() -> None:
    base = re.findall(r"^FROM\s+(\S+)", DOCKERFILE, re.MULTILINE)
    assert len(base) == 1
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base[0]), base[0]
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE, re.MULTILINE)
    assert users
    assert users[-1].split(":")[0] not in {"0", "root"}
    assert not re.search(r"^ADD\s", DOCKERFILE, re.MULTILINE)  # COPY only, no URLs
    assert "collectstatic --no-input" in DOCKERFILE
    assert 'ENTRYPOINT ["energylab-entrypoint"]' in DOCKERFILE
    for line in re.findall(r"^COPY\s+(.+)$", DOCKERFILE, re.MULTILINE):
        sources = [w for w in line.split() if not w.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), source


def test_the_build_context_leaves_out_the_venv_data_and_secrets() -> None:
    ignored = (DOCKER / "Dockerfile.dockerignore").read_text().split()
    assert {".venv", "var", "docker/secrets", ".git"} <= set(ignored)


def test_the_entrypoint_is_executable_valid_sh_and_runs_any_command() -> None:
    entrypoint = DOCKER / "entrypoint.sh"
    assert entrypoint.stat().st_mode & stat.S_IXUSR
    assert subprocess.run(["sh", "-n", str(entrypoint)], timeout=10).returncode == 0
    done = subprocess.run(["sh", str(entrypoint), "echo", "hello"], capture_output=True, timeout=10)
    assert done.stdout == b"hello\n"
    unknown = subprocess.run(
        ["sh", str(entrypoint), "healthcheck", "nope"], capture_output=True, timeout=10
    )
    assert unknown.returncode == 2


def test_the_image_and_the_package_hold_every_app_of_the_project() -> None:
    # A new top-level app left out of either installs and runs here and fails in the image (a
    # missing folder) or in a process outside the checkout (a missing package).
    apps = sorted(
        path.parent.name
        for path in ROOT.glob("*/apps.py")
        if (path.parent / "__init__.py").exists()
    )
    assert {"access", "collectors", "events"} <= set(apps)
    pyproject = (ROOT / "pyproject.toml").read_text()
    for app in [*apps, "energylab"]:
        assert f"COPY {app}/ {app}/" in DOCKERFILE, app
        assert f'"{app}*"' in pyproject, app
