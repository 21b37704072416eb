"""The workflow's transition table and the checks each transition makes before anything is written.

Every path (admin, API, commands, Celery) goes through the services, which call these
checks first; `actions_available` runs the same checks to tell a page which buttons to show.

draft -> submitted -> approved -> scheduled -> active -> superseded
draft/submitted/approved/scheduled -> withdrawn; submitted -> rejected; approved/scheduled -> expired
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable

from governance.errors import DomainError, InvalidTransition, PermissionDenied, PolicyViolation, StaleVersion
from governance.parameters.models import ParameterVersion, VersionState
from governance.parameters.policy import policy_current, role_require
from governance.parameters.selectors import (
    live_approvals,
    version_assessment,
    version_is_stale,
)

S = VersionState
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    # action: (states it starts from, state it leads to)
    "edit": ((S.DRAFT,), S.DRAFT),
    "submit": ((S.DRAFT,), S.SUBMITTED),
    "rebase": ((S.DRAFT, S.SUBMITTED), ""),
    "withdraw": ((S.DRAFT, S.SUBMITTED, S.APPROVED, S.SCHEDULED), S.WITHDRAWN),
    "reject": ((S.SUBMITTED,), S.REJECTED),
    "approve": ((S.SUBMITTED,), ""),  # to approved once the quorum is reached
    "schedule": ((S.APPROVED,), S.SCHEDULED),
    "activate": ((S.APPROVED, S.SCHEDULED), S.ACTIVE),
    "emergency_activate": ((S.SUBMITTED,), S.ACTIVE),
    "ratify": ((S.ACTIVE, S.SUPERSEDED), ""),
    "expire": ((S.APPROVED, S.SCHEDULED), S.EXPIRED),
    "rollback": ((S.ACTIVE, S.SUPERSEDED), ""),  # drafts a new version with this content
}


def state_require(version: ParameterVersion, action: str) -> None:
    allowed = TRANSITIONS[action][0]
    if version.state not in allowed:
        raise InvalidTransition(f"cannot {action.replace('_', ' ')} {version}: it is {version.state} "
                                f"(only from {', '.join(allowed)})")


def _not_author(actor: Any, version: ParameterVersion, doing: str) -> None:
    if actor is not None and actor.pk == version.author_id:
        raise PermissionDenied(f"{actor.username} wrote {version} and may not {doing} it (four eyes)")


def _author(actor: Any, version: ParameterVersion, doing: str) -> None:
    role_require(actor, "authors", doing)
    if actor.pk != version.author_id:
        raise PermissionDenied(f"only the author ({version.author.username}) may {doing} {version}")


def _fresh(version: ParameterVersion, doing: str) -> None:
    if version_is_stale(version):
        base = f"v{version.based_on.number}" if version.based_on else "no version"
        raise StaleVersion(f"{version} is based on {base}, but another version became active since: "
                           f"rebase it before you {doing} it")


def _quorum_require(version: ParameterVersion) -> None:
    """The approvals of the content as it is, counted again: the state alone could have been
    set, or the content changed, behind the services' back."""
    given = live_approvals(version).filter(content_hash=version.content_hash).count()
    required = version_assessment(version).required_approvals
    if given < required:
        raise PolicyViolation(f"{version} has {given} approval(s) of its content, {required} required: "
                              f"it cannot take effect")


def notice_ends(version: ParameterVersion) -> datetime | None:
    if version.approved_at is None:
        return None
    if version.emergency:
        return version.approved_at
    return version.approved_at + timedelta(hours=version_assessment(version).notice_hours)


def check_edit(actor: Any, version: ParameterVersion, now: datetime) -> None:
    state_require(version, "edit")
    _author(actor, version, "edit")


def check_submit(actor: Any, version: ParameterVersion, now: datetime) -> None:
    state_require(version, "submit")
    _author(actor, version, "submit")


def check_rebase(actor: Any, version: ParameterVersion, now: datetime) -> None:
    state_require(version, "rebase")
    _author(actor, version, "rebase")
    if not version_is_stale(version):
        raise InvalidTransition(f"{version} is already based on the active version")


def check_withdraw(actor: Any, version: ParameterVersion, now: datetime) -> None:
    state_require(version, "withdraw")
    if actor is not None and actor.pk == version.author_id:
        # as every author action: one who left the authors no longer withdraws, even what they wrote
        role_require(actor, "authors", f"withdraw {version}")
        return
    if version.state in (S.APPROVED, S.SCHEDULED):
        role_require(actor, "committee", f"cancel {version}")
        return
    raise PermissionDenied(f"only the author ({version.author.username}) may withdraw {version}")


def check_reject(actor: Any, version: ParameterVersion, now: datetime) -> None:
    state_require(version, "reject")
    role_require(actor, "committee", f"reject {version}")
    _not_author(actor, version, "reject")


def check_approve(actor: Any, version: ParameterVersion, now: datetime) -> None:
    state_require(version, "approve")
    role_require(actor, "committee", f"approve {version}")
    _not_author(actor, version, "approve")
    _fresh(version, "approve")
    if live_approvals(version).filter(approver=actor).exists():
        raise InvalidTransition(f"{actor.username} has already approved {version}")


def check_schedule(actor: Any, version: ParameterVersion, now: datetime, effective_at: datetime | None = None) -> None:
    state_require(version, "schedule")
    role_require(actor, "committee", f"schedule {version}")
    if effective_at is None:
        return
    earliest = max(now, notice_ends(version))
    if effective_at < earliest:
        raise PolicyViolation(f"{version} may take effect at {earliest.isoformat()} at the earliest "
                              f"(notice of {version_assessment(version).notice_hours} h after approval)")
    latest = version.approved_at + timedelta(hours=policy_current().approval_expiry_hours)
    if effective_at > latest:
        raise PolicyViolation(f"{version} must take effect by {latest.isoformat()}, when its approval expires")


def check_activate(actor: Any, version: ParameterVersion, now: datetime) -> None:
    state_require(version, "activate")
    if actor is not None:
        role_require(actor, "committee", f"activate {version}")
    _fresh(version, "activate")
    if not version.emergency:
        _quorum_require(version)
    due = version.effective_at if version.state == S.SCHEDULED else notice_ends(version)
    if due is not None and now < due:
        raise PolicyViolation(f"{version} may not take effect before {due.isoformat()}")
    # a scheduled version was scheduled within its window: taking effect a little after its
    # time is the worker's delay, not the version's
    deadline = version.approved_at + timedelta(hours=policy_current().approval_expiry_hours)
    if version.state == S.APPROVED and now > deadline:
        raise PolicyViolation(f"{version}'s approval expired at {deadline.isoformat()}: it can no longer take effect")


def check_emergency_activate(actor: Any, version: ParameterVersion, now: datetime) -> None:
    state_require(version, "emergency_activate")
    role_require(actor, "emergency", f"activate {version} as an emergency")
    _not_author(actor, version, "activate")
    _fresh(version, "activate")
    if not version_assessment(version).tightening_only:
        raise PolicyViolation(f"{version} is not a tightening only: the emergency path cannot activate it")


def check_ratify(actor: Any, version: ParameterVersion, now: datetime) -> None:
    state_require(version, "ratify")
    if not version.unratified:
        raise InvalidTransition(f"{version} is not an unratified emergency change")
    role_require(actor, "committee", f"ratify {version}")
    _not_author(actor, version, "ratify")
    if version.approvals.filter(approver=actor, revoked_at__isnull=True).exists():
        raise InvalidTransition(f"{actor.username} already approved {version}; ratification needs other members")


def check_rollback(actor: Any, version: ParameterVersion, now: datetime) -> None:
    state_require(version, "rollback")
    role_require(actor, "authors", f"roll back to {version}")
    if version.state == S.ACTIVE:
        raise InvalidTransition(f"{version} is the active version already")


CHECKS: dict[str, Callable[..., None]] = {
    "edit": check_edit, "submit": check_submit, "rebase": check_rebase, "withdraw": check_withdraw,
    "reject": check_reject, "approve": check_approve, "schedule": check_schedule, "activate": check_activate,
    "emergency_activate": check_emergency_activate, "ratify": check_ratify, "rollback": check_rollback,
}


def actions_available(*, version: ParameterVersion, user: Any, now: datetime) -> dict[str, str | None]:
    """Each action with None when the user may take it now, else the reason why not."""
    out: dict[str, str | None] = {}
    for action, check in CHECKS.items():
        try:
            check(user, version, now)
            out[action] = None
        except DomainError as exc:
            out[action] = exc.message
    return out
