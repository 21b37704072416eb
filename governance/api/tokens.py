"""API tokens: knox's authentication without its per-request sweep, and the sweep as a service.

knox, on every request, loads every token of the caller to delete the expired ones: one more
query per request, growing with the tokens a service account holds. Here the token presented is
still refused and deleted once expired; the others are deleted by `tokens_expired_delete`, which
beat runs hourly. (This overrides knox's `_cleanup_token`, of the pinned django-rest-knox 5.1.)
"""
from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox import auth as knox_auth
from knox.models import AuthToken
from knox.signals import token_expired


class TokenAuthentication(knox_auth.TokenAuthentication):
    def _cleanup_token(self, auth_token: AuthToken) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            username = auth_token.user.get_username()
            auth_token.delete()
            token_expired.send(sender=self.__class__, username=username, source="auth_token")
            return True
        return False


class TokenScheme(KnoxTokenScheme):
    """The schema names the scheme as for knox's own class: `Authorization: Token <token>`."""

    target_class = TokenAuthentication


@transaction.atomic
def tokens_expired_delete(*, now: datetime | None = None) -> int:
    """Delete every expired token; the number deleted."""
    deleted, _ = AuthToken.objects.filter(expiry__lt=now or timezone.now()).delete()
    return deleted
