"""Rollout tasks. Thin: load ids, call a service; retry only on errors a retry can cure.

Chunks are acknowledged late and safe to run twice, so a worker killed mid-chunk costs a
redelivery, never a lost or doubled update or event.
"""
from __future__ import annotations

from celery import Task, shared_task

from governance.positions.impact import impact_preview_fail, impact_preview_run, impact_previews_refresh
from governance.positions.services import (rollout_chunk_apply, rollout_chunk_attempt_count, rollout_chunk_fail,
                                             rollout_finish, rollouts_resume)
from governance.transactions import TransientDatabaseError, transient_marked

TRANSIENT = (TransientDatabaseError,)  # deadlocks, serialization failures, lost connections (error_transient)


class _ChunkTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        """Given up (an error no retry cures, or the retries spent): the rollout says so."""
        chunk_id = kwargs.get("chunk_id", args[0] if args else None)
        if chunk_id is not None:
            rollout_chunk_fail(chunk_id=chunk_id, error=f"{type(exc).__name__}: {exc}")


@shared_task(name="positions.rollout_chunk_apply", base=_ChunkTask, acks_late=True, autoretry_for=TRANSIENT,
             retry_backoff=True, retry_backoff_max=30, max_retries=8)
def rollout_chunk_apply_task(chunk_id: int) -> int | None:
    with transient_marked():
        rollout_chunk_attempt_count(chunk_id=chunk_id)
        result = rollout_chunk_apply(chunk_id=chunk_id)
    return None if result is None else result.positions


@shared_task(name="positions.rollout_finish", acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True,
             max_retries=8)
def rollout_finish_task(rollout_id: int) -> str:
    with transient_marked():
        return rollout_finish(rollout_id=rollout_id).state


@shared_task(name="positions.rollouts_resume", autoretry_for=TRANSIENT, max_retries=3)
def rollouts_resume_task() -> int:
    with transient_marked():
        return rollouts_resume()


class _PreviewTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        """Given up (an error no retry cures, or the retries spent): the preview says so."""
        preview_id = kwargs.get("preview_id", args[0] if args else None)
        if preview_id is not None:
            impact_preview_fail(preview_id=preview_id, error=f"the worker could not compute it: "
                                                             f"{type(exc).__name__}: {exc}"[:2000])


@shared_task(name="positions.impact_preview_run", base=_PreviewTask, acks_late=True, autoretry_for=TRANSIENT,
             retry_backoff=True, max_retries=5)
def impact_preview_run_task(preview_id: int) -> str:
    with transient_marked():
        return impact_preview_run(preview_id=preview_id).state


@shared_task(name="positions.impact_previews_refresh", autoretry_for=TRANSIENT, max_retries=3)
def impact_previews_refresh_task() -> int:
    with transient_marked():
        return len(impact_previews_refresh())
