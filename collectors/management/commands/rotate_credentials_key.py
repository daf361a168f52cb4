"""Re-encrypt every stored BMC password with the newest credentials key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from collectors import crypto
from collectors.models import Server


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored BMC password with the first key of ENERGYLAB_CREDENTIALS_KEY, "
        "so that older keys can then be removed from it."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = 0
        try:
            with transaction.atomic():
                servers = Server.objects.select_for_update().exclude(password_encrypted="")
                for server in servers:
                    server.password_encrypted = crypto.rotate(server.password_encrypted)
                    server.save(update_fields=["password_encrypted"])
                    rotated += 1
        except crypto.CredentialsKeyError as exc:
            raise CommandError(f"{exc}; nothing was changed") from None
        self.stdout.write(f"re-encrypted {rotated} BMC password(s) with the newest key")
