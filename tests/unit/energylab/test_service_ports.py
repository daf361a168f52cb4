"""InfluxDB's RPC port, and the ports of the tests' own servers, stay out of the kernel's
ephemeral port range, where outgoing connections take their local ports: influxd restarted on
a non-default port failed twice in a row with "address already in use" (its RPC port was the
HTTP port + 2, in that range)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from energylab.testing import PrivateInfluxDB, ephemeral_ports, free_port

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "services.sh"


def ports(**env: str) -> subprocess.CompletedProcess[str]:
    """``scripts/services.sh ports`` with ``env`` and none of the caller's InfluxDB settings."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYLAB_INFLUXDB")}
    return subprocess.run(
        ["bash", str(SCRIPT), "ports"],
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_rpc_port_defaults_to_influxds_own_next_to_the_default_http_port() -> None:
    answer = ports()
    assert answer.returncode == 0, answer.stderr
    assert "influxdb-http 8086\ninfluxdb-rpc 8088\n" in answer.stdout


def test_a_default_rpc_port_in_the_ephemeral_range_is_refused_naming_the_variable() -> None:
    http = ephemeral_ports().start + 100
    answer = ports(ENERGYLAB_INFLUXDB_URL=f"http://127.0.0.1:{http}")
    assert answer.returncode != 0
    assert f"would be {http + 2}" in answer.stderr
    assert "ephemeral port range" in answer.stderr
    assert "ENERGYLAB_INFLUXDB_RPC_PORT" in answer.stderr


def test_the_rpc_port_is_configurable() -> None:
    http = ephemeral_ports().start + 100
    answer = ports(
        ENERGYLAB_INFLUXDB_URL=f"http://127.0.0.1:{http}", ENERGYLAB_INFLUXDB_RPC_PORT="18088"
    )
    assert answer.returncode == 0, answer.stderr
    assert f"influxdb-http {http}\ninfluxdb-rpc 18088\n" in answer.stdout


def test_a_malformed_rpc_port_is_refused() -> None:
    for value in ("x", "0", "70000", "8086"):
        answer = ports(ENERGYLAB_INFLUXDB_RPC_PORT=value)
        assert answer.returncode != 0, value
        assert f"ENERGYLAB_INFLUXDB_RPC_PORT={value}" in answer.stderr


def test_the_tests_own_servers_get_ports_outside_the_ephemeral_range(tmp_path: Path) -> None:
    ephemeral = ephemeral_ports()
    assert not [port for port in (free_port() for _ in range(200)) if port in ephemeral]
    influxd = PrivateInfluxDB(tmp_path)  # not started: its configuration is what is checked
    assert influxd.port not in ephemeral
    assert influxd.rpc_port not in ephemeral
    assert f'bind-address = "127.0.0.1:{influxd.rpc_port}"' in influxd.config.read_text()
