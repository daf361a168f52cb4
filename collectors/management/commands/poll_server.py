"""Read one server's power now: ``python manage.py poll_server NAME [--json]``."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from collectors.drivers.base import DriverError
from collectors.models import Server
from collectors.polling import read_now
from energylab.timestamps import from_ns, rfc3339


class Command(BaseCommand):
    help = "Read a server's power from its BMC now and print it with the source that answered."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the server's name")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--timeout", type=float, default=5.0, help="seconds (default 5)")

    def handle(self, *args: Any, **options: Any) -> None:
        server = Server.objects.select_related("pod").filter(name=options["name"]).first()
        if server is None:
            raise CommandError(f"no server named {options['name']!r}")
        try:
            reading = read_now(server, timeout=options["timeout"])
        except DriverError as exc:
            raise CommandError(f"{server.name}: {type(exc).__name__}: {exc}") from None
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "server": server.name,
                        "pod": server.pod.name,
                        "watts": reading.watts,
                        "source": reading.source,
                        "read_at": rfc3339(from_ns(reading.read_at_ns)),
                        "bmc_timestamp": rfc3339(from_ns(reading.bmc_timestamp_ns))
                        if reading.bmc_timestamp_ns is not None
                        else None,
                        "energy_j": reading.energy_j,
                        # a sum's parts (PDU outlets, meter sensors): each one's share
                        "parts": [{"name": n, "watts": w} for n, w in reading.parts],
                    },
                    ensure_ascii=False,
                )
            )
        else:
            counter = f", counter {reading.energy_j:.0f} J" if reading.energy_j is not None else ""
            parts = "".join(f"\n  {name}: {watts:.1f} W" for name, watts in reading.parts)
            self.stdout.write(
                f"{server.name}: {reading.watts:.1f} W from {reading.source}{counter}{parts}"
            )
