"""``manage.py create_api_token USERNAME``: make an API token of the user and print it, once."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Field

from access.audit import Actor
from access.models import TokenScope
from access.tokens import issue_token
from collectors.models import Pod


class Command(BaseCommand):
    help = (
        "Make a new API token of USERNAME (for `Authorization: Token <key>`) and print its key: "
        "the only time it is shown (only its SHA-256 is kept). With --create-user, a missing "
        "user is created without a password and without permissions (enough to send events); "
        "--team adds it to that team (a Django group, created if missing). --scope events is "
        "for CI and collectors (events and measurements only), read for dashboards; --pod "
        "limits the token to those pods; --expires makes it expire after DAYS days. Revoke a "
        "token in the admin (API tokens) or with --revoke PREFIX."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--create-user", action="store_true", help="create the user if it does not exist"
        )
        parser.add_argument(
            "--team",
            help="the token acts only for this team (the user joins it with --create-user)",
        )
        parser.add_argument(
            "--pod",
            action="append",
            default=[],
            dest="pods",
            metavar="POD",
            help="the token acts only on this pod (repeat for several)",
        )
        parser.add_argument(
            "--scope", choices=TokenScope.values, default=TokenScope.ALL, help="default: all"
        )
        parser.add_argument("--expires", type=int, metavar="DAYS", help="expire after DAYS days")
        parser.add_argument("--name", default="", help="what the token is for (default: USERNAME)")
        parser.add_argument(
            "--revoke", metavar="PREFIX", help="revoke USERNAME's token whose key starts so"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        username: str = options["username"]
        if options["revoke"]:
            self.revoke(username, options["revoke"])
            return
        if options["expires"] is not None and options["expires"] < 1:
            raise CommandError("--expires: at least 1 day")
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            if not options["create_user"]:
                raise CommandError(
                    f"no user {username!r}; create it with `manage.py createsuperuser`, "
                    "or pass --create-user"
                ) from None
            user = self.create_user(username)
        team = None
        if options["team"]:
            if options["create_user"]:
                team, _ = Group.objects.get_or_create(name=options["team"])
                user.groups.add(team)
            else:
                team = Group.objects.filter(name=options["team"]).first()
                if team is None:
                    raise CommandError(f"no team {options['team']!r} (a Django group)")
                if not user.groups.filter(pk=team.pk).exists():
                    raise CommandError(
                        f"{username!r} is not in team {team.name!r}: add them (admin → Users) "
                        "first, or the token could act on nothing"
                    )
        pods = list(Pod.objects.filter(name__in=options["pods"]))
        missing = sorted(set(options["pods"]) - {pod.name for pod in pods})
        if missing:
            raise CommandError(f"no pod {', '.join(map(repr, missing))}")
        expires = options["expires"]
        _, key = issue_token(
            user,
            options["name"],
            scope=options["scope"],
            team=team,
            pods=pods,
            expires_in=None if expires is None else dt.timedelta(days=expires),
            actor=Actor.system("manage.py create_api_token"),
        )
        self.stdout.write(key)

    def create_user(self, username: str) -> Any:
        User = get_user_model()
        try:
            # The checks the admin and createsuperuser apply: length, allowed characters.
            field = User._meta.get_field(User.USERNAME_FIELD)
            assert isinstance(field, Field)
            field.clean(username, None)
        except ValidationError as exc:
            raise CommandError(f"bad user name {username!r}: {' '.join(exc.messages)}") from None
        user = User.objects.create_user(**{User.USERNAME_FIELD: username})
        user.set_unusable_password()
        user.save()
        return user

    def revoke(self, username: str, prefix: str) -> None:
        from access.models import ApiToken
        from access.tokens import revoke

        found = list(
            ApiToken.objects.filter(
                user__username=username, prefix__startswith=prefix[:10], revoked_at__isnull=True
            )
        )
        if len(found) != 1:
            raise CommandError(
                f"{len(found)} valid tokens of {username!r} start with {prefix!r}: name exactly one"
            )
        revoke(found[0], Actor.system("manage.py create_api_token --revoke"))
        self.stdout.write(f"revoked {found[0]}")
