"""What error reports (Django's debug 500 page, the error e-mails) may show: never a credential.

Django's own filter hides settings and request headers whose names look secret, but only outside
debug mode does it honour ``sensitive_variables`` and ``sensitive_post_parameters``, and it never
looks at a local variable it was not told about: with ``ENERGYLAB_DEBUG=true`` (``make run``'s
default) a 500 page showed the caller's ``Authorization: Token …`` held in a local variable.
:class:`CredentialFilter` (``DEFAULT_EXCEPTION_REPORTER_FILTER``) hides, in debug mode too:

- settings, request headers and cookies whose names look secret (Django's list, plus
  credentials, cookies, sessions and CSRF), and the password of any URL (``redis://:pw@host``);
- POST parameters and local variables whose names look secret (``password``, ``token``,
  ``authorization``, ``key``, ``secret``, ``credentials`` ...);
- any local variable whose shown value contains a credential of the request (its
  ``Authorization`` header, the credential in it, a basic-auth password, a cookie) or of the
  server (the secret key, the Fernet keys of BMC passwords, the database's, Redis's and
  InfluxDB's passwords, the metrics token): a ``request.headers`` or a token object included.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.template.defaultfilters import pprint
from django.utils.datastructures import MultiValueDict
from django.views.debug import SafeExceptionReporterFilter

__all__ = ["CredentialFilter"]

# Names of settings and request headers (Django's list, and more).
HIDDEN_SETTINGS = re.compile(
    "API|AUTH|TOKEN|KEY|SECRET|PASS|PWD|SIGNATURE|COOKIE|CREDENTIAL|SESSION|CSRF|FERNET",
    flags=re.IGNORECASE,
)
# Names of POST parameters and local variables.
HIDDEN_NAMES = re.compile(
    "auth|token|passw|pwd|key|secret|credential|cookie|session|csrf|fernet|signature",
    flags=re.IGNORECASE,
)
# user:password@ in a URL (the user is kept: it helps, and it is not a secret).
URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:@/\s]*):[^@/\s]+@", re.I)
# A shorter "secret" would hide every value that happens to contain it.
SHORTEST_SECRET = 4


class CredentialFilter(SafeExceptionReporterFilter):
    hidden_settings = HIDDEN_SETTINGS

    def is_active(self, request: Any) -> bool:
        # Django's filter steps aside under DEBUG ("your site is not safe anyway"); EnergyLab's
        # debug mode serves real clients' tokens (make run, the demo), so it never does.
        return True

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)  # recurses through this method
        if isinstance(cleansed, str):
            return hide_url_passwords(cleansed, self.cleansed_substitute)
        return cleansed

    def get_cleansed_multivaluedict(self, request: Any, multivaluedict: Any) -> Any:
        return self._by_name(super().get_cleansed_multivaluedict(request, multivaluedict))

    def get_post_parameters(self, request: Any) -> Any:
        return self._by_name(super().get_post_parameters(request))

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        secrets = [*request_secrets(request), *server_secrets()]
        return [
            (name, self._cleanse_variable(name, value, secrets))
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]

    def _cleanse_variable(self, name: str, value: Any, secrets: list[str]) -> Any:
        # No == on the value: a numpy array's answer has no truth value.
        if isinstance(value, str) and value == self.cleansed_substitute:
            return value
        empty = value is None or (isinstance(value, str | bytes) and not value)
        if HIDDEN_NAMES.search(name) and not empty:
            return self.cleansed_substitute
        # What the page will show (Django's pprint of the value): a dict of headers, a token
        # object or a string holding one is hidden whole.
        shown = str(pprint(value))
        if any(secret in shown for secret in secrets) or URL_PASSWORD.search(shown):
            return self.cleansed_substitute
        return value

    def _by_name(self, params: Any) -> Any:
        if not isinstance(params, MultiValueDict) or not any(
            HIDDEN_NAMES.search(str(k)) for k in params
        ):
            return params
        cleansed = params.copy()
        for key in cleansed:
            if HIDDEN_NAMES.search(str(key)):
                cleansed[key] = self.cleansed_substitute
        return cleansed


def hide_url_passwords(text: str, substitute: str) -> str:
    """``text`` with the password of each URL in it replaced by ``substitute``."""
    return URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{substitute}@", text)


def request_secrets(request: Any) -> Iterator[str]:
    """The credentials a request carries: its secret-looking headers (``Authorization`` whole,
    the credential after its scheme, a basic-auth password) and its cookies."""
    meta = getattr(request, "META", None) or {}
    for name, value in meta.items():
        if isinstance(name, str) and name.startswith("HTTP_") and HIDDEN_SETTINGS.search(name):
            yield from _long_enough(_header_secrets(str(value)))
    cookies = getattr(request, "COOKIES", None) or {}
    yield from _long_enough(str(value) for value in cookies.values())


def server_secrets() -> Iterator[str]:
    """This server's own secrets, wherever a local variable may hold a copy of one."""
    candidates: list[Any] = [
        settings.SECRET_KEY,
        *getattr(settings, "SECRET_KEY_FALLBACKS", []),
        *getattr(settings, "CREDENTIALS_KEYS", []),
        getattr(settings, "INFLUXDB_PASSWORD", None),
        getattr(settings, "METRICS_TOKEN", None),
    ]
    candidates += [database.get("PASSWORD") for database in settings.DATABASES.values()]
    for url in (getattr(settings, "REDIS_URL", None), getattr(settings, "CELERY_BROKER_URL", None)):
        if isinstance(url, str):
            try:
                candidates.append(urlsplit(url).password)
            except ValueError:  # a malformed port: settings validate URLs, this is a report
                continue
    yield from _long_enough(c for c in candidates if isinstance(c, str))


def _header_secrets(value: str) -> Iterator[str]:
    yield value
    scheme, _, credential = value.strip().partition(" ")
    credential = credential.strip()
    if not credential:
        return
    yield credential
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credential, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return
        yield decoded
        yield decoded.partition(":")[2]


def _long_enough(values: Iterable[str]) -> Iterator[str]:
    return (value for value in values if len(value) >= SHORTEST_SECRET)
