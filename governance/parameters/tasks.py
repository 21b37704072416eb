"""Periodic tasks of the workflow. Thin: each calls one service and retries only on
errors a retry can cure (the database briefly unreachable)."""
from __future__ import annotations

from celery import shared_task

from governance.parameters.services import versions_activate_due, versions_expire_due
from governance.transactions import TransientDatabaseError, transient_marked

TRANSIENT = (TransientDatabaseError,)


@shared_task(name="parameters.versions_activate_due", autoretry_for=TRANSIENT, retry_backoff=True,
             max_retries=5)
def versions_activate_due_task() -> list[str]:
    """Activate every scheduled version whose effective time has come."""
    with transient_marked():
        return [str(v) for v in versions_activate_due()]


@shared_task(name="parameters.versions_expire_due", autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def versions_expire_due_task() -> list[str]:
    """Expire approved versions that were not activated within the policy's window."""
    with transient_marked():
        return [str(v) for v in versions_expire_due()]
