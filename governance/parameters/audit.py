"""The audit trail: append-only, each entry chained to the previous one by SHA-256."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from governance.parameters.models import AuditEntry, ParameterVersion

GENESIS_HASH = "0" * 64
_CHAIN_LOCK = 0x4D41524731  # pg_advisory_xact_lock key serialising appends ("MARG1")


def entry_digest(*, sequence: int, at: datetime, actor_name: str, action: str, subject_key: str,
                 version_id: int | None, version_number: int | None, from_state: str, to_state: str,
                 reason: str, content_hash: str, details: Any, previous_hash: str) -> str:
    body = json.dumps([sequence, at.isoformat(), actor_name, action, subject_key, version_id, version_number,
                       from_state, to_state, reason, content_hash, details, previous_hash],
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def audit_append(*, actor: Any, action: str, version: ParameterVersion | None = None, subject_key: str = "",
                 from_state: str = "", to_state: str = "", reason: str = "", details: dict | None = None,
                 at: datetime | None = None) -> AuditEntry:
    """Append one entry; call inside the transaction of the change it records."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])
    last = AuditEntry.objects.order_by("-sequence").only("sequence", "entry_hash").first()
    # round-trip through JSON now, so the digest covers exactly what the database will return
    details = json.loads(json.dumps(details or {}, default=str))
    fields = dict(
        sequence=(last.sequence + 1) if last else 1,
        at=at or timezone.now(),
        actor_name=getattr(actor, "username", "") or "system",
        action=action,
        subject_key=subject_key or (version.subject.key if version else ""),
        version_number=version.number if version else None,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        content_hash=version.content_hash if version else "",
        details=details,
        previous_hash=last.entry_hash if last else GENESIS_HASH,
    )
    digest = entry_digest(version_id=version.pk if version else None, **fields)
    return AuditEntry.objects.create(actor=actor if getattr(actor, "pk", None) else None, version=version,
                                     entry_hash=digest, **fields)


@dataclass(frozen=True)
class AuditProblem:
    sequence: int
    message: str

    def __str__(self) -> str:
        return f"audit entry #{self.sequence}: {self.message}"


def audit_verify(*, head: tuple[int, str] | None = None) -> tuple[int, list[AuditProblem]]:
    """Recompute the chain: (entries checked, problems). Finds altered, removed and reordered entries.

    The newest entries removed leave an intact chain, so it is also checked against what it
    records: every version's state must be its latest entry's, and every approval given must
    have its entry. `head` (sequence, hash), kept outside the database from an earlier check
    (`verify_audit` prints it), must still be in the chain: what no cross-check can see, an
    emptied log, it can.
    """
    problems: list[AuditProblem] = []
    previous_hash, expected_sequence, count = GENESIS_HASH, 1, 0
    for entry in AuditEntry.objects.order_by("sequence").iterator(chunk_size=2000):
        count += 1
        if entry.sequence != expected_sequence:
            missing = (f"#{expected_sequence}" if entry.sequence == expected_sequence + 1
                       else f"#{expected_sequence} to #{entry.sequence - 1}")
            problems.append(AuditProblem(entry.sequence, f"entries {missing} are missing (removed)"))
        if entry.previous_hash != previous_hash:
            problems.append(AuditProblem(entry.sequence, "does not chain to the entry before it"))
        digest = entry_digest(
            sequence=entry.sequence, at=entry.at, actor_name=entry.actor_name, action=entry.action,
            subject_key=entry.subject_key, version_id=entry.version_id, version_number=entry.version_number,
            from_state=entry.from_state, to_state=entry.to_state, reason=entry.reason,
            content_hash=entry.content_hash, details=entry.details, previous_hash=entry.previous_hash)
        if digest != entry.entry_hash:
            problems.append(AuditProblem(entry.sequence, "content was altered (its hash does not match)"))
        previous_hash, expected_sequence = entry.entry_hash, entry.sequence + 1
        if head is not None and entry.sequence == head[0] and entry.entry_hash != head[1]:
            problems.append(AuditProblem(entry.sequence, f"is not the head recorded earlier ({head[1]})"))
    if head is not None and head[0] < 1:
        problems.append(AuditProblem(head[0], "recorded earlier as the head, names no entry: sequences start at 1"))
    elif head is not None and head[0] >= expected_sequence:
        problems.append(AuditProblem(head[0], f"recorded earlier as the head, is missing: the log ends at "
                                              f"#{expected_sequence - 1}"))
    problems += _records_check()
    return count, problems


def audit_head() -> tuple[int, str] | None:
    last = AuditEntry.objects.order_by("-sequence").only("sequence", "entry_hash").first()
    return (last.sequence, last.entry_hash) if last else None


# the entry that records each kind of approval
_GIVEN = {"approval": "approval_given", "ratification": "ratification_given", "emergency": "emergency_activated"}


def _records_check() -> list[AuditProblem]:
    """What the log records against what the tables hold (entries removed from its end)."""
    from django.db.models import Count, Max, OuterRef, Subquery

    from governance.parameters.models import Approval

    problems = []
    latest = AuditEntry.objects.filter(version=OuterRef("pk")).order_by("-sequence")
    versions = ParameterVersion.objects.select_related("subject").annotate(
        logged_state=Subquery(latest.values("to_state")[:1]), logged_at=Subquery(latest.values("sequence")[:1]),
        logged_hash=Subquery(latest.values("content_hash")[:1]))
    for version in versions.order_by("pk"):
        where = version.logged_at or 0
        if version.logged_state != version.state:
            problems.append(AuditProblem(where, f"{version} is {version.state}, but its latest entry says "
                                                f"{version.logged_state or 'nothing'} (entries removed?)"))
        elif version.state != "draft" and version.logged_hash != version.content_hash:  # a draft's content moves
            problems.append(AuditProblem(where, f"{version}'s content is not the content its latest entry "
                                                f"recorded (content changed behind the log's back?)"))
    given = {(a["version"], a["kind"]): a["n"] for a in Approval.objects.values("version", "kind").annotate(n=Count("id"))}
    logged = {(e["version"], e["action"]): e for e in AuditEntry.objects.filter(action__in=_GIVEN.values()).values(
        "version", "action").annotate(n=Count("id"), last=Max("sequence"))}
    for (version_id, kind), n in sorted(given.items()):
        entry = logged.get((version_id, _GIVEN[kind]), {"n": 0, "last": 0})
        if entry["n"] < n:
            version = ParameterVersion.objects.select_related("subject").get(pk=version_id)
            problems.append(AuditProblem(entry["last"], f"{version} has {n} {kind} approval(s) given, but "
                                                        f"{entry['n']} logged (entries removed?)"))
    return problems
