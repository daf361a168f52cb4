"""Print a new Fernet key for ENERGYLAB_CREDENTIALS_KEY."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from collectors.crypto import generate_key


class Command(BaseCommand):
    help = (
        "Print a new key for ENERGYLAB_CREDENTIALS_KEY. To rotate: put it first in the variable "
        "(comma-separated, newest first), restart, run rotate_credentials_key, then drop the old key."
    )
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(generate_key())
