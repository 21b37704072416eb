"""Periodic tasks of the API. Thin: one service call, retried only on transient database errors."""
from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from governance.api.tokens import tokens_expired_delete


@shared_task(name="api.tokens_expired_delete", autoretry_for=(OperationalError, InterfaceError), max_retries=3)
def tokens_expired_delete_task() -> int:
    return tokens_expired_delete()
