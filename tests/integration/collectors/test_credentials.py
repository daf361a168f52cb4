from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from collectors import crypto
from collectors.models import BMCType, Pod, Server

pytestmark = pytest.mark.django_db


@pytest.fixture
def server() -> Server:
    pod = Pod.objects.create(name="pod 1")
    server = Server(
        pod=pod, name="node-1", bmc_type=BMCType.IPMI, host="10.0.0.1", username="admin"
    )
    server.password = "s3cret, with = signs"
    server.save()
    return server


def stored_column(server: Server) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT password_encrypted FROM collectors_server WHERE id = %s", [server.pk]
        )
        return str(cursor.fetchone()[0])


def test_it_reads_back_the_password_it_stored(server: Server) -> None:
    assert Server.objects.get(pk=server.pk).password == "s3cret, with = signs"


def test_the_database_column_never_holds_the_clear_text(server: Server) -> None:
    column = stored_column(server)
    assert "s3cret" not in column
    assert column.startswith("gAAAA")  # a Fernet token


def test_an_empty_password_is_stored_as_empty(server: Server) -> None:
    server.password = ""
    server.save()
    assert stored_column(server) == ""
    assert Server.objects.get(pk=server.pk).password == ""


def test_rotation_re_encrypts_with_the_newest_key(server: Server, settings) -> None:
    old_key = settings.CREDENTIALS_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.CREDENTIALS_KEYS = [new_key, old_key]
    before = stored_column(server)

    call_command("rotate_credentials_key")

    after = stored_column(server)
    assert after != before
    settings.CREDENTIALS_KEYS = [new_key]  # the old key is gone: the new one alone must do
    assert Server.objects.get(pk=server.pk).password == "s3cret, with = signs"


def test_a_removed_key_gives_a_clear_error_not_a_token_error(server: Server, settings) -> None:
    settings.CREDENTIALS_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.CredentialsKeyError, match="ENERGYLAB_CREDENTIALS_KEY"):
        _ = Server.objects.get(pk=server.pk).password


def test_rotation_with_a_missing_key_changes_nothing_and_says_why(server: Server, settings) -> None:
    before = stored_column(server)
    settings.CREDENTIALS_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("rotate_credentials_key")
    assert stored_column(server) == before


def test_a_malformed_key_is_named(settings) -> None:
    settings.CREDENTIALS_KEYS = ["not-a-key"]
    with pytest.raises(crypto.CredentialsKeyError, match="not a Fernet key"):
        crypto.encrypt("x")
