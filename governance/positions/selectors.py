"""Reads of the book: the margin-event feed and rollout progress."""
from __future__ import annotations

from django.db.models import QuerySet

from governance.errors import ValidationFailed
from governance.positions.models import MarginEvent, Rollout


def margin_events_after(*, cursor: int = 0, limit: int = 500) -> list[MarginEvent]:
    """Events with seq > cursor, in order; the last seq returned is the next cursor.

    Sequence numbers become visible in order (see `MarginEvent`), so a reader that keeps
    its cursor sees every event once, even while chunks commit in parallel.
    """
    if cursor < 0 or not 1 <= limit <= 10000:
        raise ValidationFailed("cursor must be >= 0 and limit between 1 and 10000",
                               details=[{"path": "cursor" if cursor < 0 else "limit", "message": "out of range"}])
    return list(MarginEvent.objects.filter(seq__gt=cursor).order_by("seq")[:limit])


def rollouts_recent(*, limit: int = 50) -> QuerySet[Rollout]:
    return Rollout.objects.order_by("-started_at", "-id")[:limit]


def rollout_progress(rollout: Rollout) -> dict:
    return {"id": rollout.pk, "trigger": rollout.trigger, "state": rollout.state, "symbols": rollout.symbols,
            "positions_total": rollout.positions_total, "positions_done": rollout.positions_done,
            "chunks_total": rollout.chunks_total, "chunks_done": rollout.chunks_done, "events": rollout.events,
            "started_at": rollout.started_at, "finished_at": rollout.finished_at, "detail": rollout.detail}
