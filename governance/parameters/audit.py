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


def audit_verify() -> tuple[int, list[AuditProblem]]:
    """Recompute the chain: (entries checked, problems). Finds altered, removed and reordered entries."""
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
    return count, problems
