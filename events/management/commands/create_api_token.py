"""``manage.py create_api_token USERNAME``: print the user's API token, creating it if missing."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Field
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = (
        "Print USERNAME's API token (for `Authorization: Token <key>`), creating it if the user "
        "has none. With --create-user, a missing user is created (without a password and "
        "without permissions: enough to send events)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--create-user", action="store_true", help="create the user if it does not exist"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        username: str = options["username"]
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            if not options["create_user"]:
                raise CommandError(
                    f"no user {username!r}; create it with `manage.py createsuperuser`, "
                    "or pass --create-user"
                ) from None
            try:
                # The checks the admin and createsuperuser apply: length, allowed characters.
                field = User._meta.get_field(User.USERNAME_FIELD)
                assert isinstance(field, Field)
                field.clean(username, None)
            except ValidationError as exc:
                raise CommandError(
                    f"bad user name {username!r}: {' '.join(exc.messages)}"
                ) from None
            user = User.objects.create_user(**{User.USERNAME_FIELD: username})
            user.set_unusable_password()
            user.save()
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
