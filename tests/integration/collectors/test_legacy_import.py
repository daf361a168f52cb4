"""import_energyrecorder_settings: the original collector's YAML into pods and servers."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from collectors.legacy_import import LegacySettingsError, parse_settings, split_host
from collectors.models import BMCType, Pod, Server

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

FIXTURE = Path(__file__).parent / "data" / "collector-settings.yaml"
PASSWORDS = ["ipmi-s3cret", "12345", "rf:p@ss,w=rd", "calvin", "ilo-pass-1", "ilo-pass-2"]
PASSWORDS += ["snmp-c0mmunity", "snmp-auth-s3cret", "snmp-priv-s3cret", "shelly-s3cret"]
PASSWORDS += ["bridged-s3cret"]
#: the fixture's servers EnergyLab imports, and those of types it has no driver for
IMPORTED = {f"pod1-node{i}" for i in range(1, 7)} | {"pod7-node1", "pod7-meter1", "pod7-pdu2"}
IMPORTED |= {"pod7-pdu3", "pod7-plug1", "pod7-bridged1"}
UNSUPPORTED = {"pod7-dell1", "pod7-intel1", "pod7-huawei1", "pod7-pdu1", "pod7-rpi1"}
ALL_LEGACY_TYPES = {
    "ipmi",
    "redfish",
    "ilo",
    "ilo-gui",
    "idrac8-gui",
    "intel-gui",
    "ibmc-gui",
    "csvftp",
    "modbus",
    "rpimon",
    "snmp",
    "shelly",
}


def run(*args: str) -> str:
    """The command's output; a file with servers left out (exit 1 after importing the rest)
    is a normal outcome here, told by the output's summary."""
    out = io.StringIO()
    try:
        call_command("import_energyrecorder_settings", *args, stdout=out)
    except CommandError as exc:
        if "were not imported" not in str(exc):
            raise
    return out.getvalue()


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "settings.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_the_fixture_holds_every_server_type_the_legacy_doc_lists() -> None:
    plan = parse_settings(FIXTURE.read_text())
    assert {s.legacy_type for p in plan.pods for s in p.servers} == ALL_LEGACY_TYPES


def test_it_creates_pods_and_servers_of_the_supported_types() -> None:
    output = run(str(FIXTURE))

    pod1 = Pod.objects.get(name="orange-pod1")
    assert (pod1.poll_interval, pod1.active) == (10, True)
    pod7 = Pod.objects.get(name="lab pod 7")
    assert (pod7.poll_interval, pod7.active) == (5, False)

    servers = {s.name: s for s in Server.objects.all()}
    assert set(servers) == IMPORTED
    node1 = servers["pod1-node1"]
    assert (node1.bmc_type, node1.host, node1.port, node1.username) == (
        BMCType.IPMI,
        "10.1.0.11",
        None,
        "ADMIN",
    )
    assert node1.password == "ipmi-s3cret"
    assert "ipmi-s3cret" not in node1.password_encrypted
    assert servers["pod1-node2"].port == 6230
    assert servers["pod1-node2"].password == "12345"  # a number in YAML, a string here
    assert servers["pod1-node3"].password == "rf:p@ss,w=rd"
    assert servers["pod1-node4"].active is False
    assert servers["pod1-node6"].pod == pod1
    assert servers["pod7-node1"].pod == pod7
    assert "pods: 2 created" in output
    assert "servers: 12 created, 0 updated, 0 unchanged, 5 not imported" in output
    # Addresses as a person would write them: a URL's port after its host, IPv6 bracketed.
    assert "at http://10.1.0.22:8000" in output
    assert "at https://ilo-gen8.lab.example:8443" in output
    assert "[http" not in output


def test_hosts_without_a_scheme_get_https_for_redfish_and_ilo_only() -> None:
    run(str(FIXTURE))
    servers = {s.name: s for s in Server.objects.all()}
    assert (servers["pod1-node3"].host, servers["pod1-node3"].port) == ("https://10.1.0.21", None)
    assert (servers["pod1-node4"].host, servers["pod1-node4"].port) == ("http://10.1.0.22", 8000)
    assert servers["pod1-node5"].host == "https://ilo-gen9.lab.example"
    assert servers["pod1-node6"].bmc_type == BMCType.ILO  # ilo-gui -> ilo
    assert (servers["pod1-node6"].host, servers["pod1-node6"].port) == (
        "https://ilo-gen8.lab.example",
        8443,
    )
    endpoint = servers["pod1-node6"].endpoint()
    assert (endpoint.scheme, endpoint.host, endpoint.port) == (
        "https",
        "ilo-gen8.lab.example",
        8443,
    )
    ipv6 = servers["pod7-node1"]
    assert (ipv6.host, ipv6.port) == ("fd00:7::50", 623)


@pytest.mark.parametrize(
    ("value", "bmc_type", "expected"),
    [
        ("bmc1", BMCType.IPMI, ("bmc1", None)),
        ("bmc1:6230", BMCType.IPMI, ("bmc1", 6230)),
        ("bmc1:8443", BMCType.REDFISH, ("https://bmc1", 8443)),
        ("HTTP://bmc1/redfish/v1", BMCType.REDFISH, ("http://bmc1", None)),
        ("https://[fd00::1]:8443", BMCType.ILO, ("https://[fd00::1]", 8443)),
        ("fd00::1", BMCType.REDFISH, ("https://[fd00::1]", None)),
    ],
)
def test_it_splits_hosts_into_our_host_and_port(value, bmc_type, expected) -> None:
    assert split_host("here", value, bmc_type) == expected


@pytest.mark.parametrize(
    "value", ["bmc1:0", "bmc1:99999", "bmc1:x", "ftp://bmc1", "https://:443", "a b"]
)
def test_it_refuses_unusable_hosts_naming_the_place(value) -> None:
    with pytest.raises(LegacySettingsError, match=r"^PODS\[0\]\.servers\[0\]\.host: "):
        split_host("PODS[0].servers[0].host", value, BMCType.REDFISH)


def test_every_unsupported_type_is_listed_per_server_and_not_imported() -> None:
    output = run(str(FIXTURE))
    for name, legacy_type in [
        ("pod7-dell1", "idrac8-gui"),
        ("pod7-intel1", "intel-gui"),
        ("pod7-huawei1", "ibmc-gui"),
        ("pod7-pdu1", "csvftp"),
        ("pod7-rpi1", "rpimon"),
    ]:
        line = next(x for x in output.splitlines() if f"server {name!r}" in x)
        assert "NOT IMPORTED" in line
        assert f"type {legacy_type!r} is not supported" in line
        assert not Server.objects.filter(name=name).exists()


def test_a_second_run_changes_nothing_and_says_so() -> None:
    run(str(FIXTURE))
    before = {s.name: (s.pk, s.password_encrypted, s.updated) for s in Server.objects.all()}

    output = run(str(FIXTURE))

    after = {s.name: (s.pk, s.password_encrypted, s.updated) for s in Server.objects.all()}
    assert after == before
    assert Pod.objects.count() == 2
    assert "pods: 0 created, 0 updated, 2 unchanged" in output
    assert "servers: 0 created, 0 updated, 12 unchanged" in output


def test_a_changed_file_updates_servers_in_place_and_names_the_fields(tmp_path) -> None:
    run(str(FIXTURE))
    pk = Server.objects.get(name="pod1-node1").pk
    text = (
        FIXTURE.read_text()
        .replace("host: 10.1.0.11\n", "host: 10.1.0.111:6231\n")
        .replace('pass: "ipmi-s3cret"', 'pass: "new-s3cret"')
        .replace("polling_interval: 10", "polling_interval: 30")
    )

    output = run(write(tmp_path, text))

    server = Server.objects.get(name="pod1-node1")
    assert server.pk == pk
    assert (server.host, server.port, server.password) == ("10.1.0.111", 6231, "new-s3cret")
    assert Pod.objects.get(name="orange-pod1").poll_interval == 30
    assert "server 'pod1-node1': UPDATED (host, port, password)" in output
    assert "pod 'orange-pod1': UPDATED (poll_interval)" in output
    assert "new-s3cret" not in output


def test_a_server_that_pushed_measurements_becomes_polled_by_import() -> None:
    pod = Pod.objects.create(name="orange-pod1")
    Server.objects.create(pod=pod, name="pod1-node1", bmc_type=BMCType.PUSH)

    output = run(str(FIXTURE))

    assert Server.objects.get(name="pod1-node1").bmc_type == BMCType.IPMI
    assert "server 'pod1-node1': UPDATED (bmc_type, host, username, password)" in output


def test_a_dry_run_prints_the_changes_and_writes_nothing() -> None:
    output = run(str(FIXTURE), "--dry-run")
    assert Pod.objects.count() == 0
    assert Server.objects.count() == 0
    assert "server 'pod1-node1': WOULD BE CREATED" in output
    assert "dry run, nothing written: pods: 2 created" in output


def test_passwords_are_never_printed() -> None:
    output = run(str(FIXTURE)) + run(str(FIXTURE), "--dry-run")
    for secret in [*PASSWORDS, "api-s3cret", "Admin@9000", "ftp-pass"]:
        assert secret not in output


def test_recorder_api_server_is_reported_as_ignored() -> None:
    output = run(str(FIXTURE), "--dry-run")
    assert "RECORDER_API_SERVER" in output
    assert "ignored" in output
    assert "https://recordingapi.lab.example/resources" in output


def test_servers_inside_sync_groups_of_later_releases_are_imported(tmp_path) -> None:
    text = """
PODS:
- environment: synced
  syncgroup:
  - name: default
    servers:
    - {host: 10.0.0.1, id: s1, type: ipmi, user: u, pass: p}
  - name: rack-a
    group_syncpolling_interval: 10
    servers:
    - {host: 10.0.0.2, id: s2, type: redfish, user: u, pass: p, active: false}
"""
    run(write(tmp_path, text))
    assert set(Server.objects.values_list("name", "active")) == {("s1", True), ("s2", False)}
    assert Pod.objects.get(name="synced").poll_interval == 10


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("PODS:\n- environment: a\n  servers: [x\n", "not valid YAML at line"),
        ("- a\n- b\n", "the file must be a mapping"),
        ("RECORDER_API_SERVER: {}\n", "missing 'PODS'"),
        ("PODS: {environment: a}\n", "PODS: must be a list"),
    ],
)
def test_a_file_that_is_not_the_collectors_settings_fails_naming_why(
    tmp_path, text, message
) -> None:
    with pytest.raises(CommandError) as caught:
        run(write(tmp_path, text))
    assert message in str(caught.value)
    assert "nothing was changed" in str(caught.value)


GOOD_POD = "- {environment: good, servers: [{id: fine, type: ipmi, host: h}]}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("PODS:\n- {servers: []}\n", "PODS[0]: missing 'environment'"),
        ("PODS:\n- {environment: a}\n", "PODS[0]: missing 'servers'"),
        (
            "PODS:\n- {environment: a, polling_interval: often, servers: []}\n",
            "PODS[0].polling_interval: 'often' is not a number",
        ),
        (
            "PODS:\n- {environment: a, polling_interval: 0, servers: []}\n",
            "PODS[0].polling_interval: 0 must be between 1 and 86400",
        ),
        (
            "PODS:\n- {environment: a, active: maybe, servers: []}\n",
            "PODS[0].active: 'maybe' is not true or false",
        ),
        (
            'PODS:\n- {environment: "a\\nb", servers: []}\n',
            "PODS[0].environment: 'a\\nb' may not contain control characters",
        ),
        (
            "PODS:\n- {environment: a, servers: [{host: h, type: ipmi}]}\n",
            "PODS[0].servers[0]: missing 'id'",
        ),
        (
            "PODS:\n- {environment: a, servers: [{id: s, host: h}]}\n",
            "PODS[0].servers[0]: missing 'type'",
        ),
        (
            "PODS:\n- {environment: a, servers: [{id: s, type: redfish}]}\n",
            "PODS[0].servers[0]: missing 'host'",
        ),
        (
            "PODS:\n- {environment: a, servers: [{id: s, type: ipmi, host: 'h:99999'}]}\n",
            "PODS[0].servers[0].host: 'h:99999' has an invalid port",
        ),
        (
            "PODS:\n- {environment: a, servers: [{id: s, type: modbus, host: m, sensors: [{name: p, unit: W, register_address: 1, register_type: MBX}]}]}\n",
            "PODS[0].servers[0]: sensors[0].register_type: 'MBX' is not one of",
        ),
        (
            "PODS:\n- {environment: a, servers: [{id: s, type: snmp, host: p, community: c, sensors: [{name: t, oid: '1.3.6.1.2', unit: deg C}]}]}\n",
            "PODS[0].servers[0]: sensors: none is in a power unit",
        ),
        (
            "PODS:\n- {environment: good2, servers: []}\n- {environment: good2, servers: []}\n",
            "PODS[1]: environment 'good2' also at PODS[0]",
        ),
    ],
)
def test_a_bad_pod_or_server_is_skipped_with_its_reason_and_the_rest_imported(
    tmp_path, text, message
) -> None:
    path = write(tmp_path, text + GOOD_POD)
    out = io.StringIO()
    with pytest.raises(CommandError, match="were not imported") as caught:
        call_command("import_energyrecorder_settings", path, stdout=out)
    assert caught.value.returncode == 1
    assert message in out.getvalue()
    assert "SKIPPED" in out.getvalue()
    assert Server.objects.filter(name="fine").exists()


def test_a_repeated_id_skips_the_later_server_only(tmp_path) -> None:
    text = "PODS: [{environment: a, servers: [{id: s, type: ipmi, host: h}, {id: s, type: ipmi, host: g}]}]\n"
    output = run(write(tmp_path, text))
    assert "PODS[0].servers[1]: id 's' also at PODS[0].servers[0]" in output
    assert Server.objects.get(name="s").host == "h"


def test_an_error_late_in_the_file_leaves_the_rest_imported(tmp_path) -> None:
    # a third pod, inside PODS, whose only server lacks its id
    text = FIXTURE.read_text().replace(
        "RECORDER_API_SERVER:",
        "- environment: broken\n  servers:\n  - {host: h, type: ipmi}\nRECORDER_API_SERVER:",
    )
    output = run(write(tmp_path, text))
    assert "PODS[2].servers[0]: missing 'id'" in output
    assert set(Server.objects.values_list("name", flat=True)) == IMPORTED
    assert "1 skipped (wrong settings)" in output


def test_snmp_modbus_and_shelly_servers_import_with_their_sensors_as_written() -> None:
    run(str(FIXTURE))
    servers = {s.name: s for s in Server.objects.all()}
    v2 = servers["pod7-pdu2"]
    assert (v2.bmc_type, v2.host, v2.port, v2.password) == (
        BMCType.SNMP,
        "10.7.0.41",
        161,
        "snmp-c0mmunity",
    )
    assert v2.source_settings["sensors"] == [
        {"name": "PDU power", "oid": "1.3.6.1.4.1.318.1.1.12.1.16.0", "unit": "W"}
    ]
    v3 = servers["pod7-pdu3"]
    assert (v3.username, v3.password, v3.privacy_password) == (
        "nrj4it",
        "snmp-auth-s3cret",
        "snmp-priv-s3cret",
    )
    assert "snmp-priv-s3cret" not in v3.privacy_password_encrypted
    assert v3.source_settings["auth_protocol"] == "SHA"
    assert v3.source_settings["privacy_protocol"] == "AES"
    assert len(v3.source_settings["sensors"]) == 2  # the temperature is kept, not read
    meter = servers["pod7-meter1"]
    assert (meter.bmc_type, meter.host, meter.port) == (BMCType.MODBUS, "10.7.0.40", 502)
    assert meter.source_settings["sensors"][0]["register_type"] == "MBUL"
    plug = servers["pod7-plug1"]
    assert (plug.bmc_type, plug.host, plug.password) == (
        BMCType.SHELLY,
        "http://10.7.0.42",
        "shelly-s3cret",
    )
    for server in (v2, v3, meter, plug):
        server.full_clean()  # what the admin and the API would accept


def test_an_ipmi_host_with_a_bridge_address_is_bridged_not_refused() -> None:
    output = run(str(FIXTURE))
    bridged = Server.objects.get(name="pod7-bridged1")
    assert (bridged.host, bridged.port) == ("10.7.0.44", None)
    assert bridged.source_settings == {"bridge_address": 0x82}
    assert "bridged to 0x82" in output


def test_a_missing_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(CommandError, match="cannot read"):
        run(str(tmp_path / "nope.yaml"))


def test_the_command_exits_1_without_a_traceback_on_a_bad_file(tmp_path) -> None:
    # (A skipped server exits 1 too: CommandError's returncode, tested above.)
    path = write(tmp_path, "PODS: {environment: a}\n")
    done = subprocess.run(
        [sys.executable, "manage.py", "import_energyrecorder_settings", path, "--dry-run"],
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
        timeout=60,
        env={"ENERGYLAB_DEBUG": "true", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1
    assert "PODS: must be a list" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_host_with_a_line_break_inside_is_skipped_naming_the_place(tmp_path) -> None:
    text = 'PODS: [{environment: a, servers: [{id: s, type: ipmi, host: "bmc\\nx"}]}]\n'
    output = run(write(tmp_path, text))
    assert re.search(r"PODS\[0\]\.servers\[0\]: .*control characters", output)
    assert not Server.objects.exists()


def test_a_password_written_as_a_list_is_skipped_naming_the_place(tmp_path) -> None:
    text = "PODS: [{environment: a, servers: [{id: s, type: ipmi, host: h, pass: [1, 2]}]}]\n"
    output = run(write(tmp_path, text), "--dry-run")
    assert "PODS[0].servers[0].pass: must be a string" in output


def test_the_originals_sample_file_imports_every_supported_server_and_never_aborts() -> None:
    sample = Path(__file__).parent / "data" / "original-sample-filled.yaml"
    out = io.StringIO()
    with pytest.raises(CommandError, match="were not imported") as caught:
        call_command("import_energyrecorder_settings", str(sample), stdout=out)
    assert caught.value.returncode == 1
    imported = dict(Server.objects.values_list("name", "bmc_type"))
    assert imported == {
        "sample-server-1": BMCType.ILO,
        "sample-server-2": BMCType.ILO,
        "sample-server-6": BMCType.REDFISH,
        "sample-server-7": BMCType.IPMI,
        "sample-server-9": BMCType.MODBUS,
        "simulator": BMCType.SNMP,
        "sample-server-11": BMCType.SHELLY,
    }
    assert Server.objects.get(name="sample-server-7").source_settings == {"bridge_address": 0x82}
    output = out.getvalue()
    for name in ("sample-server-3", "sample-server-4", "sample-server-5", "sample-server-8"):
        assert f"server {name!r}: NOT IMPORTED" in output
    assert "server 'sample-server-10': NOT IMPORTED: type 'rpimon' is not supported" in output
    assert "/write" in output  # the push alternative is named
