"""API tokens: knox's authentication without its per-request sweep, remembered per process, and
the sweep as a service.

knox, on every request, loads every token of the caller to delete the expired ones: one more
query per request, growing with the tokens a service account holds. Here the token presented is
still refused and deleted once expired; the others are deleted by `tokens_expired_delete`, which
beat runs hourly. (This overrides knox's `_cleanup_token`, of the pinned django-rest-knox 5.1.)

A token that authenticated is remembered by its digest in this process (`TOKENS`), with its
user's row, group names and the token's expiry, until a notification says a token, a user, a
group or a membership changed (governance.api.invalidation). An expired token is refused at once
(the expiry is checked on every use); a revoked one within the notification delay (the process
that revoked it forgets at once).
"""
from __future__ import annotations

import binascii
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox import auth as knox_auth
from rest_framework import exceptions
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.signals import token_expired

from governance.api.invalidation import AUTH, LISTENER, process_cache
from governance.api.permissions import groups_of

# digest -> Bearer; bounded (a full cache starts over: the database path refills it)
TOKENS = process_cache("tokens", AUTH, size=10000)
_USER_FIELDS = tuple(f.attname for f in get_user_model()._meta.concrete_fields)
_TOKEN_FIELDS = tuple(f.attname for f in AuthToken._meta.concrete_fields)


@dataclass(frozen=True, slots=True)
class Bearer:
    """What an authenticated token stands for, as read from the database."""

    user_id: int
    groups: frozenset[str]
    expiry: datetime | None
    user_row: tuple
    token_row: tuple

    def expired(self) -> bool:
        return self.expiry is not None and self.expiry < timezone.now()

    def user_build(self):
        user = get_user_model().from_db("default", _USER_FIELDS, self.user_row)
        user._api_groups = self.groups
        return user

    def token_build(self, user) -> AuthToken:
        token = AuthToken.from_db("default", _TOKEN_FIELDS, self.token_row)
        token.user = user
        return token


def token_digest(token: str) -> str | None:
    try:
        return hash_token(token)
    except (TypeError, ValueError, binascii.Error):
        return None


def bearer_cached(token: str) -> Bearer | None:
    """The remembered bearer of this token, if it is remembered and not expired (else the
    database decides: refuses, deletes an expired token, or authenticates and remembers)."""
    epoch = TOKENS.epoch()
    if epoch is None:
        return None
    bearer = epoch.entries.get(token_digest(token))
    return None if bearer is None or bearer.expired() else bearer


class TokenAuthentication(knox_auth.TokenAuthentication):
    def authenticate_credentials(self, token: bytes):
        try:
            text = token.decode("ascii")  # a token is hexadecimal; anything else is no token of ours
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        bearer = bearer_cached(text)
        if bearer is not None:
            user = bearer.user_build()
            return user, bearer.token_build(user)
        epoch = TOKENS.epoch()  # before the database is read: a notification meanwhile discards it
        user, auth_token = super().authenticate_credentials(token)
        if epoch is not None:
            epoch.store(auth_token.digest, Bearer(
                user_id=user.pk, groups=groups_of(user), expiry=auth_token.expiry,
                user_row=tuple(getattr(user, f) for f in _USER_FIELDS),
                token_row=tuple(getattr(auth_token, f) for f in _TOKEN_FIELDS)))
        return user, auth_token

    def _cleanup_token(self, auth_token: AuthToken) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            username = auth_token.user.get_username()
            auth_token.delete()
            token_expired.send(sender=self.__class__, username=username, source="auth_token")
            return True
        return False


def tokens_forget() -> None:
    """This process forgets every remembered token at once (the others on the notification)."""
    TOKENS.invalidate(connected=LISTENER.connected)


class TokenScheme(KnoxTokenScheme):
    """The schema names the scheme as for knox's own class: `Authorization: Token <token>`."""

    target_class = TokenAuthentication


@transaction.atomic
def tokens_expired_delete(*, now: datetime | None = None) -> int:
    """Delete every expired token; the number deleted."""
    deleted, _ = AuthToken.objects.filter(expiry__lt=now or timezone.now()).delete()
    return deleted
