"""The per-process cache of verified credentials, and HTTP basic authentication through it.

API tokens (``access.authentication``) go through the same cache. DRF checks a token with one
query per request, and a basic-auth password with Django's password
hasher (PBKDF2: tens to hundreds of milliseconds of CPU, by design) per request. CI sends an
event per test case with the same credential, so each process keeps what it verified for
``ENERGYLAB_AUTH_CACHE_SECONDS`` (0: never).

What is kept, and for how long:

- Entries are keyed by an HMAC-SHA256 of the credential under ``SECRET_KEY``: no token or password
  is kept in clear, and the keys are useless without the secret key. Only credentials that were
  verified are kept; a wrong password runs the hasher every time, as Django intends.
- What a hit returns is a fresh ``User`` built from the fields read at verification, so nothing a
  request computes (permissions) carries over to the next one.
- Saving or deleting a user (a new password, ``is_active`` off), a token, a team or a pod
  forgets every entry in every process at once: ``access.version`` announces such changes on a
  Redis channel that every process listens to (docs/access.md). A change that bypasses model signals
  (``QuerySet.update``), or one made while Redis does not answer, is seen at most
  ``ENERGYLAB_AUTH_CACHE_SECONDS`` later.
- When a basic-auth entry lapses, the password is not hashed again if the user's stored
  password hash is still the one it was verified against (one query instead of PBKDF2): a
  process serving old collectors that all send basic auth otherwise ran the hasher for each of
  them every cache period, and queued requests waited behind it (bench/push.py ``--auth basic``).
  A new password, a deactivated or deleted user fails that comparison and goes through the
  hasher again.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models.signals import post_delete, post_save
from drf_spectacular.authentication import BasicScheme
from rest_framework.authentication import BasicAuthentication
from rest_framework.request import Request

MAX_ENTRIES = 1024  # distinct credentials kept per process; the least recently used goes first


class CredentialCache:
    """Verified credentials of this process: digest -> (expiry, user id, database, user's
    fields, what the credential may do)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[float, Any, str | None, tuple[Any, ...], Any]] = (
            OrderedDict()
        )
        # Credential digest -> the password hash it was verified against (basic auth). Kept
        # through clear(): it grants nothing by itself, a lapsed entry is only renewed while
        # the user's row still holds this very hash.
        self._hashes: OrderedDict[bytes, str] = OrderedDict()
        self._lock = threading.Lock()  # gunicorn's gthread workers serve requests in threads

    @staticmethod
    def ttl() -> float:
        return float(settings.AUTH_CACHE_SECONDS)

    @staticmethod
    def key(scheme: str, credential: str) -> bytes:
        secret = settings.SECRET_KEY.encode()
        return hmac.new(secret, f"{scheme}\0{credential}".encode(), hashlib.sha256).digest()

    def lookup(self, key: bytes) -> tuple[AbstractBaseUser, Any] | None:
        """A fresh user, and the ``request.auth`` it was verified with, for a credential
        verified less than the cache time ago; or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expiry, _user_id, database, values, auth = entry
            if time.monotonic() >= expiry:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
        model = get_user_model()
        names = [field.attname for field in model._meta.concrete_fields]
        return model.from_db(database, names, values), auth

    def get(self, key: bytes) -> AbstractBaseUser | None:
        """A fresh user for a credential verified less than the cache time ago, or None."""
        found = self.lookup(key)
        return None if found is None else found[0]

    def put(
        self, key: bytes, user: AbstractBaseUser, auth: Any = None, valid_for: float | None = None
    ) -> None:
        """Remember a verified credential for the cache time, or ``valid_for`` seconds if that is
        shorter (a token that expires sooner)."""
        ttl = self.ttl() if valid_for is None else min(self.ttl(), valid_for)
        if ttl <= 0:
            return
        fields = type(user)._meta.concrete_fields
        values = tuple(getattr(user, field.attname) for field in fields)
        with self._lock:
            self._entries[key] = (time.monotonic() + ttl, user.pk, user._state.db, values, auth)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def remember_hash(self, key: bytes, user: AbstractBaseUser) -> None:
        """Note the password hash a basic-auth credential was verified against."""
        with self._lock:
            self._hashes[key] = user.password
            self._hashes.move_to_end(key)
            while len(self._hashes) > self.max_entries:
                self._hashes.popitem(last=False)

    def verified_hash(self, key: bytes) -> str | None:
        """The password hash this credential was last verified against, or None."""
        with self._lock:
            return self._hashes.get(key)

    def forget_user(self, user_id: Any) -> None:
        with self._lock:
            for key in [k for k, entry in self._entries.items() if entry[1] == user_id]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


credentials = CredentialCache()


class CachedBasicAuthentication(BasicAuthentication):
    """HTTP basic auth of a Django user, a verified password remembered for the cache time.

    Subclasses say what ``request.auth`` is for a verified user (:meth:`auth_for`, cached with
    the credential) and may check the cache's validity first (:meth:`refresh`).
    """

    def refresh(self) -> None:
        """Called before each lookup in the cache (``access`` drops it when access changed)."""

    def auth_for(self, user: AbstractBaseUser) -> Any:
        return None

    def authenticate_credentials(
        self, userid: str, password: str, request: Request | None = None
    ) -> tuple[AbstractBaseUser, Any]:
        if credentials.ttl() <= 0:
            user, _ = super().authenticate_credentials(userid, password, request)
            return user, self.auth_for(user)
        self.refresh()
        # DRF splits "user:password" at the first colon: a user name never holds one.
        digest = credentials.key("basic", f"{userid}:{password}")
        found = credentials.lookup(digest)
        if found is not None:
            return found
        user = self._still_verified(userid, digest)
        if user is None:
            user, _ = super().authenticate_credentials(userid, password, request)
            credentials.remember_hash(digest, user)
        auth = self.auth_for(user)
        credentials.put(digest, user, auth)
        return user, auth

    @staticmethod
    def _still_verified(userid: str, digest: bytes) -> AbstractBaseUser | None:
        """The active user whose stored password hash is the one this credential was verified
        against (so the password still matches it), or None: hash the password again."""
        known = credentials.verified_hash(digest)
        if known is None:
            return None
        model = get_user_model()
        try:
            user = model._default_manager.get_by_natural_key(userid)
        except model.DoesNotExist:
            return None
        if not user.is_active or not hmac.compare_digest(user.password, known):
            return None
        return user


class CachedBasicScheme(BasicScheme):
    """The OpenAPI schema's ``basicAuth`` for it and its subclasses."""

    target_class = "energylab.api.authentication.CachedBasicAuthentication"
    match_subclasses = True


def _forget_user(sender: Any, instance: Any, **kwargs: Any) -> None:
    credentials.forget_user(instance.pk)


def connect_signals() -> None:
    """Forget a user's credentials when the user changes (``EventsConfig``)."""
    user_model = get_user_model()
    post_save.connect(_forget_user, sender=user_model, dispatch_uid="events-auth-forget-user")
    post_delete.connect(_forget_user, sender=user_model, dispatch_uid="events-auth-forget-user")
