"""Start simulated BMCs and meters on loopback, and optionally register them as a pod to poll.

``python manage.py simulate_lab --pod NAME --ipmi N --redfish M [--ilo K] [--snmp P]
[--modbus Q] [--shelly R] [--profile FILE] [--register]`` runs until Ctrl-C (or SIGTERM). Each
speaks its real protocol (IPMI over LAN, Redfish over HTTP, SNMP, Modbus TCP, Shelly's HTTP
API), so a running EnergyLab, ``ipmitool``, ``snmpget``, a Modbus client or any Redfish client
can read it. An SNMP server is fed by two outlets of one simulated PDU (APC preset), each
drawing half its profile; a Modbus meter holds its power in holding register 10 (MBF); Shelly
plugs alternate Gen2 and Gen1.
"""

from __future__ import annotations

import itertools
import json
import signal
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from collectors.models import BMCType, Pod, Server
from collectors.simulators.ipmi import IPMISimulatorGroup
from collectors.simulators.modbus import ModbusSimulator
from collectors.simulators.profile import PowerProfile
from collectors.simulators.redfish import FLAVOURS, RedfishSimulator
from collectors.simulators.shelly import ShellySimulator
from collectors.simulators.snmp import SNMPSimulator

# The simulated PDUs' SNMP community (a server's password is its community)
SIM_COMMUNITY = "public"

# Types whose address is a bare host (the others are URLs with their scheme)
_BARE_HOSTS = {BMCType.IPMI, BMCType.SNMP, BMCType.MODBUS}

# Redfish flavours a simulated lab cycles through, so every generation of BMC is exercised.
REDFISH_FLAVOURS = ["environment-metrics", "legacy-power", "power-subsystem"]


class Command(BaseCommand):
    help = "Start simulated IPMI, Redfish and iLO BMCs on free loopback ports until Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--pod", required=True, help="the pod's name (and servers' prefix)")
        parser.add_argument("--ipmi", type=int, default=0, help="IPMI (DCMI) BMCs")
        parser.add_argument("--redfish", type=int, default=0, help="Redfish BMCs")
        parser.add_argument("--ilo", type=int, default=0, help="iLO-flavoured Redfish BMCs")
        parser.add_argument(
            "--snmp", type=int, default=0, help="servers fed by two outlets of a simulated PDU"
        )
        parser.add_argument("--modbus", type=int, default=0, help="Modbus TCP power meters")
        parser.add_argument("--shelly", type=int, default=0, help="Shelly plugs (Gen2, Gen1...)")
        parser.add_argument(
            "--redfish-flavour",
            choices=[*FLAVOURS, "cycle"],
            default="cycle",
            help="where Redfish BMCs keep power (default: cycle through the generations)",
        )
        parser.add_argument(
            "--profile",
            default="250",
            help="watts, 'seconds:watts,...' segments, or a CSV file of seconds,watts lines",
        )
        parser.add_argument(
            "--epoch",
            type=float,
            default=None,
            help="POSIX time the profile starts at (default: now); lets a script line up its "
            "steps with the profile",
        )
        parser.add_argument("--refresh", type=float, default=1.0, help="BMC refresh period (s)")
        parser.add_argument("--noise", type=float, default=0.0, help="noise amplitude (W)")
        parser.add_argument("--spread", type=float, default=0.0, help="W added per server index")
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default="password")
        parser.add_argument("--register", action="store_true", help="create the pod and servers")
        parser.add_argument("--interval", type=int, default=None, help="pod poll interval (s)")
        parser.add_argument("--json-out", help="write the lab's description to this file")

    def handle(self, *args: Any, **options: Any) -> None:
        kinds = ("ipmi", "redfish", "ilo", "snmp", "modbus", "shelly")
        if sum(options[kind] for kind in kinds) <= 0:
            raise CommandError(
                "nothing to simulate: give --ipmi, --redfish, --ilo, --snmp, --modbus or --shelly"
            )
        if min(options[kind] for kind in kinds) < 0:
            raise CommandError("counts cannot be negative")

        def profile(index: int) -> PowerProfile:
            base = PowerProfile.from_spec(
                options["profile"],
                refresh=options["refresh"],
                noise=options["noise"],
                seed=index,
                epoch=options["epoch"],
            )
            if options["spread"]:
                base = PowerProfile(
                    [(s.seconds, s.watts + options["spread"] * index) for s in base.segments],
                    refresh=base.refresh,
                    noise=base.noise,
                    seed=index,
                    epoch=base.epoch,
                )
            return base

        try:
            profile(0)
        except (ValueError, OSError) as exc:
            raise CommandError(f"--profile: {exc}") from None

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        pod = options["pod"]
        credentials = {"username": options["username"], "password": options["password"]}
        lab: list[dict[str, Any]] = []
        counter = itertools.count()
        with ExitStack() as stack:
            if options["ipmi"]:
                group = stack.enter_context(IPMISimulatorGroup())
                for i in range(options["ipmi"]):
                    sim = group.create(1, profile=profile(next(counter)), **credentials)[0]
                    lab.append(self._entry(f"{pod}-ipmi-{i + 1}", BMCType.IPMI, sim.port, "dcmi"))
            flavours = itertools.cycle(
                REDFISH_FLAVOURS
                if options["redfish_flavour"] == "cycle"
                else [options["redfish_flavour"]]
            )
            for kind, count in (
                (BMCType.REDFISH, options["redfish"]),
                (BMCType.ILO, options["ilo"]),
            ):
                for i in range(count):
                    flavour = next(flavours) if kind == BMCType.REDFISH else "ilo5"
                    redfish = RedfishSimulator(
                        profile(next(counter)), flavour=flavour, **credentials
                    )
                    stack.enter_context(redfish)  # starts it, and stops it on the way out
                    lab.append(self._entry(f"{pod}-{kind}-{i + 1}", kind, redfish.port, flavour))
            self._meters(stack, lab, pod, options, lambda: profile(next(counter)))
            for bmc in lab:
                self.stdout.write(
                    f"{bmc['type']:8} {bmc['name']:30} {bmc['host']}:{bmc['port']} ({bmc['flavour']})"
                )
            if options["json_out"]:
                Path(options["json_out"]).write_text(
                    json.dumps({"pod": pod, "bmcs": lab, **credentials}, indent=2), encoding="utf-8"
                )
            if options["register"]:
                self._register(pod, lab, options)
                self.stdout.write(f"registered pod {pod!r} with {len(lab)} servers")
            self.stdout.write("ready: Ctrl-C stops the simulated lab", ending="\n")
            self.stdout.flush()
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
            finally:
                if options["register"]:
                    # Stopped BMCs would only fail their polls: stop polling them. (One save
                    # each, not update(): the saves are what take them off beat's schedule.)
                    for server in Server.objects.filter(name__in=[b["name"] for b in lab]):
                        server.active = False
                        server.save(update_fields=["active"])
                    self.stdout.write("simulated lab stopped; its servers are now inactive")

    @staticmethod
    def _meters(
        stack: ExitStack,
        lab: list[dict[str, Any]],
        pod: str,
        options: dict[str, Any],
        next_profile: Any,
    ) -> None:
        """Start the SNMP PDUs, Modbus meters and Shelly plugs, adding them to ``lab``."""
        for i in range(options["snmp"]):
            whole = next_profile()
            half = PowerProfile(
                [(s.seconds, s.watts / 2) for s in whole.segments],
                refresh=whole.refresh,
                noise=whole.noise / 2,
                seed=whole.seed,
                epoch=whole.epoch,
            )
            pdu = stack.enter_context(SNMPSimulator([half, half], communities=[SIM_COMMUNITY]))
            entry = Command._entry(f"{pod}-snmp-{i + 1}", BMCType.SNMP, pdu.port, "apc #1 + #2")
            entry["source_settings"] = {"pdu": "apc", "outlets": [1, 2]}
            entry["password"] = SIM_COMMUNITY
            lab.append(entry)
        for i in range(options["modbus"]):
            meter = stack.enter_context(ModbusSimulator(next_profile()))
            entry = Command._entry(f"{pod}-modbus-{i + 1}", BMCType.MODBUS, meter.port, "MBF")
            entry["source_settings"] = {
                "sensors": [
                    {
                        "name": "power",
                        "unit": "W",
                        "register_address": 10,
                        "register_type": "MBF",
                    }
                ]
            }
            lab.append(entry)
        for i in range(options["shelly"]):
            generation = 2 if i % 2 == 0 else 1
            plug = stack.enter_context(
                ShellySimulator(
                    next_profile(),
                    generation=generation,
                    username=options["username"],
                    password=options["password"],
                )
            )
            lab.append(
                Command._entry(
                    f"{pod}-shelly-{i + 1}", BMCType.SHELLY, plug.port, f"gen{generation}"
                )
            )

    @staticmethod
    def _entry(name: str, kind: str, port: int, flavour: str) -> dict[str, Any]:
        host = "127.0.0.1" if kind in _BARE_HOSTS else "http://127.0.0.1"
        return {"name": name, "type": kind, "host": host, "port": port, "flavour": flavour}

    @staticmethod
    @transaction.atomic
    def _register(pod_name: str, lab: list[dict[str, Any]], options: dict[str, Any]) -> None:
        pod, _ = Pod.objects.get_or_create(name=pod_name)
        if options["interval"]:
            pod.poll_interval = options["interval"]
        pod.active = True
        pod.save()
        for bmc in lab:
            server = Server.objects.filter(name=bmc["name"]).first() or Server(name=bmc["name"])
            server.pod = pod
            server.bmc_type = bmc["type"]
            server.host = bmc["host"]
            server.port = bmc["port"]
            server.username = options["username"]
            server.password = bmc.get("password", options["password"])
            server.source_settings = bmc.get("source_settings", {})
            server.active = True
            server.consecutive_failures = 0
            server.backoff_until = None
            server.full_clean()
            server.save()
