"""Periodic tasks of the API. Thin: one service call, retried only on transient database errors."""
from __future__ import annotations

from celery import shared_task

from governance.api.tokens import tokens_expired_delete
from governance.transactions import TransientDatabaseError, transient_marked


@shared_task(name="api.tokens_expired_delete", autoretry_for=(TransientDatabaseError,), max_retries=3)
def tokens_expired_delete_task() -> int:
    with transient_marked():
        return tokens_expired_delete()
