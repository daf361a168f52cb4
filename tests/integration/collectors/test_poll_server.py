"""manage.py poll_server: any failure is one clear line and exit status 1, never a traceback."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from collectors import polling
from collectors.drivers.base import BMCEndpoint, DriverError, PowerDriver, PowerReading
from collectors.models import Pod, Server

pytestmark = pytest.mark.django_db


def server(host: str, bmc_type: str = "redfish") -> Server:
    # create() skips validation: a row stored before hosts were validated.
    pod = Pod.objects.create(name="np2")
    return Server.objects.create(pod=pod, name="ns3", bmc_type=bmc_type, host=host)


@pytest.mark.parametrize(
    ("host", "reason"), [("http://a:99999", "Port out of range"), ("http://[::1", "Invalid IPv6")]
)
def test_a_stored_unusable_host_is_a_clear_error(host: str, reason: str) -> None:
    server(host)
    with pytest.raises(CommandError, match=f"ns3: BMCSettingsError: .*{reason}"):
        call_command("poll_server", "ns3")


class _BrokenDriver(PowerDriver):
    bmc_type = "redfish"

    def read_power(self, endpoint: BMCEndpoint) -> PowerReading:
        raise RuntimeError(f"bug while talking to {endpoint.host} as {endpoint.password}")


def test_a_driver_bug_is_a_clear_error_without_the_password(monkeypatch) -> None:
    stored = server("https://bmc")
    stored.password = "hunter2"
    stored.save()
    monkeypatch.setattr(polling, "get_driver", lambda bmc_type: _BrokenDriver())
    with pytest.raises(CommandError, match="ns3: DriverError: internal error: RuntimeError") as e:
        call_command("poll_server", "ns3")
    assert "hunter2" not in str(e.value)


def test_read_now_turns_every_failure_into_a_driver_error() -> None:
    with pytest.raises(DriverError):
        polling.read_now(server("http://a:99999"))
