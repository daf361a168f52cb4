"""Existing DRF tokens (kept in clear by rest_framework.authtoken) become hashed API tokens of
the same key, scope "all", without expiry, and the clear rows are deleted: clients keep their
keys, the database keeps no key in clear."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import migrations


def hash_tokens(apps: Any, schema_editor: Any) -> None:
    Token = apps.get_model("authtoken", "Token")
    ApiToken = apps.get_model("access", "ApiToken")
    for token in Token.objects.all():
        ApiToken.objects.get_or_create(
            digest=hashlib.sha256(token.key.encode()).hexdigest(),
            defaults={
                "user_id": token.user_id,
                "name": "token from before hashed tokens",
                "prefix": token.key[:10],
                "scope": "all",
            },
        )
    Token.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0001_initial"),
        ("authtoken", "0004_alter_tokenproxy_options"),
    ]

    operations = [migrations.RunPython(hash_tokens, migrations.RunPython.noop)]
