"""Import the original energy recorder's collector settings:
``python manage.py import_energyrecorder_settings FILE [--dry-run]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from collectors import crypto
from collectors.legacy_import import (
    ImportReport,
    LegacySettingsError,
    apply_plan,
    parse_settings,
)


class Command(BaseCommand):
    help = (
        "Create or update pods and servers from the original OPNFV energy recorder's "
        "collector-settings.yaml (PODS: environment, polling_interval, active, servers: host, "
        "id, type, user, pass, active). Types ipmi, redfish, ilo, ilo-gui, snmp, modbus and shelly "
        "are imported (with their sensors); every other type is listed as not supported, with "
        "what to do instead. A pod or server whose settings are wrong is skipped with its reason "
        "and the rest imported. Exits 1 when anything was not imported. Running it again "
        "updates, never duplicates. Passwords are stored encrypted and never printed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the collector's YAML settings file")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="print what would be created or updated, and write nothing",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"{path}: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise CommandError(f"{path}: not a UTF-8 text file") from None
        try:
            plan = parse_settings(text)
            report = apply_plan(plan, dry_run=options["dry_run"])
        except LegacySettingsError as exc:
            raise CommandError(f"{path}: {exc}; nothing was changed") from None
        except crypto.CredentialsKeyError as exc:
            raise CommandError(f"{exc}; nothing was changed") from None
        self._print(report)

    def _print(self, report: ImportReport) -> None:
        out = self.stdout
        prefix = "would be " if report.dry_run else ""
        for note in report.notes:
            out.write(f"note: {note}")
        for change in report.changes:
            indent = "" if change.kind == "pod" else "  "
            action = (
                change.action
                if change.action in {"not imported", "skipped"}
                else prefix + change.action
            )
            fields = (
                f" ({', '.join(change.fields)})"
                if change.action == "updated" and change.fields
                else ""
            )
            out.write(
                f"{indent}{change.kind} {change.name!r}: {action.upper()}{fields}: {change.detail}"
            )
        summary = (
            f"pods: {report.count('pod', 'created')} created, "
            f"{report.count('pod', 'updated')} updated, "
            f"{report.count('pod', 'unchanged')} unchanged; "
            f"servers: {report.count('server', 'created')} created, "
            f"{report.count('server', 'updated')} updated, "
            f"{report.count('server', 'unchanged')} unchanged, "
            f"{len(report.unsupported)} not imported (unsupported type), "
            f"{report.count('server', 'skipped')} skipped (wrong settings)"
        )
        skipped_pods = report.count("pod", "skipped")
        if skipped_pods:
            summary += f"; pods skipped: {skipped_pods}"
        out.write(("dry run, nothing written: " if report.dry_run else "") + summary)
        left = report.unsupported + report.skipped
        if left:
            names = ", ".join(repr(c.name) for c in left)
            out.write(f"not imported: {names}")
            # The rest is imported (committed): the exit status tells a script some was not.
            raise CommandError(
                f"{len(left)} of the file's pods and servers were not imported (reasons above); "
                "the others were",
                returncode=1,
            )
