"""What was in force when, on two timelines.

- Effective time (`at`): a version is in force from its effective time until the effective time
  of the next version of its subject that was activated.
- Recorded time (`recorded_by`): only activations the system had recorded by then count. An
  activation is recorded once, in the activating transaction (`activated_at`, the same instant
  as its audit entry), and neither that time nor the effective time changes afterwards, so the
  answer for a past `recorded_by` is the answer the system gave then, whatever happened since.

Both default to now. Versions approved or scheduled but not activated are never "in force":
they are the schedule (`versions_scheduled`).
"""
from __future__ import annotations

from datetime import datetime

from django.db.models import F, QuerySet
from django.utils import timezone

from governance.parameters.models import ParameterVersion, VersionState


def _activated(*, at: datetime, recorded_by: datetime | None) -> QuerySet[ParameterVersion]:
    versions = ParameterVersion.objects.filter(activated_at__isnull=False, effective_at__lte=at)
    return versions.filter(activated_at__lte=recorded_by) if recorded_by is not None else versions


def versions_in_force(*, at: datetime | None = None, recorded_by: datetime | None = None,
                      subject_keys: list[str] | None = None) -> dict[str, ParameterVersion]:
    """Per subject key, the version in force at `at` as recorded by `recorded_by`."""
    at = at or timezone.now()
    versions = _activated(at=at, recorded_by=recorded_by).select_related("subject")
    if subject_keys is not None:
        versions = versions.filter(subject__key__in=subject_keys)
    in_force: dict[str, ParameterVersion] = {}
    # the latest effective time wins; two activations with one effective time: the later one
    for version in versions.order_by("subject__key", "-effective_at", "-activated_at", "-number"):
        in_force.setdefault(version.subject.key, version)
    return in_force


def versions_scheduled() -> QuerySet[ParameterVersion]:
    """Approved versions waiting for activation, scheduled ones first by effective time."""
    return (ParameterVersion.objects.filter(state__in=[VersionState.APPROVED, VersionState.SCHEDULED])
            .select_related("subject")
            .order_by(F("effective_at").asc(nulls_last=True), "approved_at", "subject__key", "number"))
