"""Writes to the parameter store. Each service checks everything first, then writes, then
appends its audit entries, all in one transaction. Keyword-only arguments throughout."""
from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from governance.errors import InvalidTransition, NotFound, PolicyViolation, StaleVersion, ValidationFailed
from governance.parameters import transitions as t
from governance.parameters.audit import audit_append
from governance.parameters.models import Approval, ParameterVersion, Subject, VersionState
from governance.parameters.policy import policy_current, role_require
from governance.parameters.signals import version_activated, version_submitted
from governance.parameters.selectors import (
    ValidatedContent,
    active_version,
    content_validate,
    live_approvals,
    version_assessment,
)
from governance.rulefiles import rulefile_parse
from governance.rulefiles.schemas import schema_load, value_describe

logger = logging.getLogger(__name__)

S = VersionState


def _errors_detail(content: ValidatedContent) -> list[dict[str, Any]]:
    return [{"line": e.line, "column": e.column, "path": e.path_text, "message": e.message, "text": str(e)}
            for e in content.errors]


def _validation_require(content: ValidatedContent, what: str) -> None:
    if not content.valid:
        raise ValidationFailed(f"{what} does not validate: {len(content.errors)} error(s); first: {content.errors[0]}",
                               details=_errors_detail(content))


def _locked(version: ParameterVersion) -> ParameterVersion:
    """Lock the subject, then the version, and re-read it.

    The subject lock comes first and in every service: checks that read the subject's
    active version (staleness, activation) must not race a concurrent activation, and
    one lock order means no deadlocks.
    """
    Subject.objects.select_for_update().filter(pk=version.subject_id).first()
    return ParameterVersion.objects.select_for_update(of=("self",)).select_related("subject", "author", "based_on").get(
        pk=version.pk)


def _context_lock(version: ParameterVersion) -> None:
    """Before an activation validates in context: a contract version is checked against the
    exchange-wide version in force, and an exchange-wide one against every active contract.
    The contract's activation holds the exchange subject FOR SHARE until it commits; the
    exchange-wide one locks it FOR UPDATE (`_locked`): so the two are checked one after the
    other, each against what the other committed, never both against what was before."""
    if version.subject.kind != Subject.Kind.CONTRACT or connection.vendor != "postgresql":
        return  # SQLite runs one writer at a time
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM parameters_subject WHERE key = %s FOR SHARE", [Subject.EXCHANGE_KEY])


def _subject_for_text(yaml_text: str, subject_key: str | None) -> tuple[str, str]:
    data = rulefile_parse(yaml_text, source="draft").parsed.data
    schema = data.get("schema") if isinstance(data, dict) else None
    if subject_key == Subject.EXCHANGE_KEY or (subject_key is None and schema == "exchange/v1"):
        return Subject.EXCHANGE_KEY, Subject.Kind.EXCHANGE
    if schema == "exchange/v1":
        message = f"the subject {subject_key!r} is a contract, but the text is exchange-wide (schema: exchange/v1)"
        raise ValidationFailed(message, details=[{"path": "subject", "message": message}])
    symbol = subject_key or (data.get("symbol") if isinstance(data, dict) else None)
    if not isinstance(symbol, str) or not symbol:
        raise ValidationFailed("cannot tell which contract this is: name the subject, or give a 'symbol'",
                               details=[])
    # the subject is created before the content is validated: its key must be a symbol already
    pattern = schema_load("contract/v1")["properties"]["symbol"]["pattern"]
    if not re.fullmatch(pattern, symbol):
        message = f"{value_describe(symbol)} does not match the pattern {pattern} of a contract symbol"
        raise ValidationFailed(message, details=[{"path": "subject" if subject_key else "symbol", "message": message}])
    return symbol, Subject.Kind.CONTRACT


def note_clean(text: str | None, *, path: str, required: str | None = None) -> str:
    """A rationale, reason or comment as stored and audited: stripped, and text the database can
    hold (PostgreSQL refuses a NUL; a lone surrogate cannot be encoded). `required`: the message
    when it is empty."""
    text = (text or "").strip()
    if required and not text:
        raise ValidationFailed(required, details=[{"path": path, "message": "required"}])
    problem = None
    if "\x00" in text:
        problem = "must not contain a NUL character"
    else:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            problem = "must be valid Unicode text (it holds a lone surrogate)"
    if problem:
        raise ValidationFailed(f"{path}: {problem}", details=[{"path": path, "message": problem}])
    return text


@transaction.atomic
def version_draft_create(*, actor: Any, yaml_text: str, rationale: str, subject_key: str | None = None,
                         rollback_of: ParameterVersion | None = None,
                         require_valid: bool = False) -> ParameterVersion:
    """A new draft for a contract (created on first use) or the exchange-wide subject.

    Drafts may hold content that does not validate yet: submission requires it to. With
    `require_valid` (the API) such content is refused with its located errors, and the
    transaction's rollback leaves nothing written, not even a new subject.
    """
    role_require(actor, "authors", "draft a parameter change")
    rationale = note_clean(rationale, path="rationale", required="a rationale is required")
    try:
        key, kind = _subject_for_text(yaml_text, subject_key)
    except ValidationFailed:
        if require_valid:  # text too broken to name its subject: say where it is broken
            unnamed = rulefile_parse(yaml_text, source="draft")
            _validation_require(ValidatedContent(None, sorted(unnamed.errors), "", ""), "the draft")
        raise
    subject, _ = Subject.objects.get_or_create(key=key, defaults={"kind": kind})
    subject = Subject.objects.select_for_update().get(pk=subject.pk)  # serialises version numbering
    content = content_validate(subject_key=subject.key, kind=subject.kind, yaml_text=yaml_text)
    if require_valid:
        _validation_require(content, f"the draft for {subject.key}")
    number = (subject.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = ParameterVersion.objects.create(
        subject=subject, number=number, yaml_text=yaml_text, canonical=content.canonical,
        content_hash=content.content_hash, based_on=active_version(subject=subject), author=actor,
        rationale=rationale, rollback_of=rollback_of)
    audit_append(actor=actor, action="draft_created", version=version, to_state=S.DRAFT,
                 details={"errors": len(content.errors), "rollback_of": rollback_of.number if rollback_of else None})
    return version


@transaction.atomic
def version_draft_update(*, actor: Any, version: ParameterVersion, yaml_text: str,
                         rationale: str | None = None) -> ParameterVersion:
    rationale = note_clean(rationale, path="rationale")
    version = _locked(version)
    t.check_edit(actor, version, timezone.now())
    content = content_validate(subject_key=version.subject.key, kind=version.subject.kind, yaml_text=yaml_text)
    old_hash = version.content_hash
    version.yaml_text, version.canonical, version.content_hash = yaml_text, content.canonical, content.content_hash
    if rationale:  # none given: the draft keeps its rationale
        version.rationale = rationale
    version.save()
    audit_append(actor=actor, action="draft_edited", version=version, from_state=S.DRAFT, to_state=S.DRAFT,
                 details={"previous_hash": old_hash, "errors": len(content.errors)})
    return version


@transaction.atomic
def version_submit(*, actor: Any, version: ParameterVersion, now: datetime | None = None) -> ParameterVersion:
    now = now or timezone.now()
    version = _locked(version)
    t.check_submit(actor, version, now)
    content = content_validate(subject_key=version.subject.key, kind=version.subject.kind,
                               yaml_text=version.yaml_text)
    _validation_require(content, str(version))
    active = active_version(subject=version.subject)
    if active is not None and active.content_hash == version.content_hash:
        raise PolicyViolation(f"{version} has the same content as the active {active}: nothing to change")
    version.state, version.submitted_at = S.SUBMITTED, now
    version.save(update_fields=["state", "submitted_at", "updated_at"])
    assessment = version_assessment(version)
    audit_append(actor=actor, action="submitted", version=version, from_state=S.DRAFT, to_state=S.SUBMITTED,
                 at=now, details={"required_approvals": assessment.required_approvals,
                                  "notice_hours": assessment.notice_hours, "changes": len(assessment.changes)})
    version_submitted.send(sender=ParameterVersion, version=version, now=now)
    return version


@transaction.atomic
def version_rebase(*, actor: Any, version: ParameterVersion, now: datetime | None = None) -> ParameterVersion:
    """Base the version on the now-active one; approvals given on the old base are revoked."""
    now = now or timezone.now()
    version = _locked(version)
    t.check_rebase(actor, version, now)
    content = content_validate(subject_key=version.subject.key, kind=version.subject.kind,
                               yaml_text=version.yaml_text)
    if version.state == S.SUBMITTED:
        _validation_require(content, str(version))
    old_base = version.based_on
    version.based_on = active_version(subject=version.subject)
    version.save(update_fields=["based_on", "updated_at"])
    revoked = version.approvals.filter(revoked_at__isnull=True).update(revoked_at=now)
    audit_append(actor=actor, action="rebased", version=version, from_state=version.state, to_state=version.state,
                 at=now, details={"from_base": old_base.number if old_base else None,
                                  "to_base": version.based_on.number if version.based_on else None,
                                  "approvals_revoked": revoked})
    return version


@transaction.atomic
def version_withdraw(*, actor: Any, version: ParameterVersion, reason: str = "",
                     now: datetime | None = None) -> ParameterVersion:
    now = now or timezone.now()
    reason = note_clean(reason, path="reason")
    version = _locked(version)
    t.check_withdraw(actor, version, now)
    previous = version.state
    version.state, version.reason, version.closed_at = S.WITHDRAWN, reason, now
    version.save(update_fields=["state", "reason", "closed_at", "updated_at"])
    audit_append(actor=actor, action="withdrawn", version=version, from_state=previous, to_state=S.WITHDRAWN,
                 reason=reason, at=now)
    return version


@transaction.atomic
def version_reject(*, actor: Any, version: ParameterVersion, reason: str,
                   now: datetime | None = None) -> ParameterVersion:
    now = now or timezone.now()
    reason = note_clean(reason, path="reason", required="a rejection needs a reason")
    version = _locked(version)
    t.check_reject(actor, version, now)
    version.state, version.reason, version.closed_at = S.REJECTED, reason, now
    version.save(update_fields=["state", "reason", "closed_at", "updated_at"])
    audit_append(actor=actor, action="rejected", version=version, from_state=S.SUBMITTED, to_state=S.REJECTED,
                 reason=reason, at=now)
    return version


@transaction.atomic
def version_approve(*, actor: Any, version: ParameterVersion, content_hash: str, comment: str = "",
                    now: datetime | None = None) -> ParameterVersion:
    """Record one committee member's approval of the exact content they reviewed.

    The version becomes approved when the approvals reach the quorum its change requires.
    """
    now = now or timezone.now()
    comment = note_clean(comment, path="comment")
    version = _locked(version)
    t.check_approve(actor, version, now)
    if content_hash != version.content_hash:
        raise PolicyViolation(f"the content of {version} is not the content you reviewed "
                              f"(hash {content_hash[:12]}..., now {version.content_hash[:12]}...)")
    content = content_validate(subject_key=version.subject.key, kind=version.subject.kind,
                               yaml_text=version.yaml_text)
    _validation_require(content, str(version))
    Approval.objects.create(version=version, approver=actor, content_hash=version.content_hash,
                            based_on=version.based_on, comment=comment)
    assessment = version_assessment(version)
    count = live_approvals(version).count()
    audit_append(actor=actor, action="approval_given", version=version, from_state=S.SUBMITTED,
                 to_state=S.SUBMITTED, reason=comment, at=now,
                 details={"approvals": count, "required": assessment.required_approvals})
    if count >= assessment.required_approvals:
        version.state, version.approved_at = S.APPROVED, now
        version.save(update_fields=["state", "approved_at", "updated_at"])
        audit_append(actor=actor, action="approved", version=version, from_state=S.SUBMITTED, to_state=S.APPROVED,
                     at=now, details={"approvals": count, "notice_hours": assessment.notice_hours})
    return version


@transaction.atomic
def version_schedule(*, actor: Any, version: ParameterVersion, effective_at: datetime,
                     now: datetime | None = None) -> ParameterVersion:
    now = now or timezone.now()
    version = _locked(version)
    t.check_schedule(actor, version, now, effective_at)
    version.state, version.effective_at = S.SCHEDULED, effective_at
    version.save(update_fields=["state", "effective_at", "updated_at"])
    audit_append(actor=actor, action="scheduled", version=version, from_state=S.APPROVED, to_state=S.SCHEDULED,
                 at=now, details={"effective_at": effective_at.isoformat()})
    return version


def _activate(*, actor: Any, version: ParameterVersion, now: datetime, action: str,
              reason: str = "") -> ParameterVersion:
    """Supersede the active version and activate this one; the caller holds the locks."""
    subject = Subject.objects.select_for_update().get(pk=version.subject_id)
    previous = subject.versions.filter(state=S.ACTIVE).first()
    if previous is not None:
        previous.state, previous.superseded_at = S.SUPERSEDED, now
        previous.save(update_fields=["state", "superseded_at", "updated_at"])
        audit_append(actor=actor, action="superseded", version=previous, from_state=S.ACTIVE,
                     to_state=S.SUPERSEDED, at=now, details={"by": version.number})
    from_state = version.state
    version.state, version.activated_at = S.ACTIVE, now
    version.effective_at = version.effective_at or now
    version.save(update_fields=["state", "activated_at", "effective_at", "emergency", "approved_at", "updated_at"])
    audit_append(actor=actor, action=action, version=version, from_state=from_state, to_state=S.ACTIVE, at=now,
                 reason=reason, details={"superseded": previous.number if previous else None})
    version_activated.send(sender=ParameterVersion, version=version, now=now)
    return version


@transaction.atomic
def version_activate(*, actor: Any, version: ParameterVersion, now: datetime | None = None) -> ParameterVersion:
    """Activate an approved version whose notice has passed, or a scheduled one that is due.

    `actor` None is the system (the periodic activation task).
    """
    now = now or timezone.now()
    version = _locked(version)
    _context_lock(version)
    t.check_activate(actor, version, now)
    # validated when submitted, but against what was active then: another subject's version
    # activated since (a higher exchange-wide multiplier, say) may no longer admit it
    content = content_validate(subject_key=version.subject.key, kind=version.subject.kind,
                               yaml_text=version.yaml_text)
    _validation_require(content, str(version))
    return _activate(actor=actor, version=version, now=now, action="activated")


@transaction.atomic
def version_emergency_activate(*, actor: Any, version: ParameterVersion, reason: str,
                               now: datetime | None = None) -> ParameterVersion:
    """One emergency-role approval activates a tightening at once; it stays unratified until the quorum ratifies."""
    now = now or timezone.now()
    reason = note_clean(reason, path="reason", required="an emergency activation needs a reason")
    version = _locked(version)
    _context_lock(version)
    t.check_emergency_activate(actor, version, now)
    content = content_validate(subject_key=version.subject.key, kind=version.subject.kind,
                               yaml_text=version.yaml_text)
    _validation_require(content, str(version))
    Approval.objects.create(version=version, approver=actor, kind=Approval.Kind.EMERGENCY,
                            content_hash=version.content_hash, based_on=version.based_on, comment=reason)
    version.emergency, version.approved_at = True, now
    return _activate(actor=actor, version=version, now=now, action="emergency_activated", reason=reason)


@transaction.atomic
def version_ratify(*, actor: Any, version: ParameterVersion, comment: str = "",
                   now: datetime | None = None) -> ParameterVersion:
    now = now or timezone.now()
    comment = note_clean(comment, path="comment")
    version = _locked(version)
    t.check_ratify(actor, version, now)
    Approval.objects.create(version=version, approver=actor, kind=Approval.Kind.RATIFICATION,
                            content_hash=version.content_hash, based_on=version.based_on, comment=comment)
    count = live_approvals(version, Approval.Kind.RATIFICATION).count()
    required = policy_current().approvals.ratification
    audit_append(actor=actor, action="ratification_given", version=version, from_state=version.state,
                 to_state=version.state, reason=comment, at=now, details={"ratifications": count,
                                                                                  "required": required})
    if count >= required:
        version.ratified_at = now
        version.save(update_fields=["ratified_at", "updated_at"])
        audit_append(actor=actor, action="ratified", version=version, from_state=version.state,
                     to_state=version.state, at=now)
    return version


@transaction.atomic
def version_rollback_draft(*, actor: Any, version: ParameterVersion, rationale: str = "") -> ParameterVersion:
    """A new draft whose content copies an earlier active version; it goes through the same workflow."""
    version = _locked(version)
    t.check_rollback(actor, version, timezone.now())
    if version.activated_at is None:
        raise InvalidTransition(f"{version} was never active: only a previously active version can be restored")
    return version_draft_create(actor=actor, yaml_text=version.yaml_text, subject_key=version.subject.key,
                                rationale=rationale or f"Roll back to v{version.number}.", rollback_of=version)


def versions_activate_due(*, now: datetime | None = None) -> list[ParameterVersion]:
    """Activate every scheduled version whose effective time has come (the periodic task).

    A due version that cannot activate (stale) stays scheduled until it expires.
    """
    now = now or timezone.now()
    activated = []
    due = ParameterVersion.objects.filter(state=S.SCHEDULED, effective_at__lte=now).order_by("effective_at", "pk")
    for version in due:
        try:
            activated.append(version_activate(actor=None, version=version, now=now))
        except (InvalidTransition, PolicyViolation, StaleVersion, ValidationFailed) as exc:
            # another worker got there first, it must be rebased, or it no longer validates
            logger.warning("scheduled %s not activated: %s", version, exc.message)
    return activated


@transaction.atomic
def versions_expire_due(*, now: datetime | None = None) -> list[ParameterVersion]:
    """Approved versions not active within the policy's window expire.

    Due versions are activated first: one scheduled for the last moment of its window takes
    effect, rather than expire because this sweep ran between its effective time and the next
    activation run.
    """
    from datetime import timedelta

    now = now or timezone.now()
    versions_activate_due(now=now)
    cutoff = now - timedelta(hours=policy_current().approval_expiry_hours)
    expired = []
    for version in ParameterVersion.objects.select_for_update(of=("self",)).filter(
            state__in=[S.APPROVED, S.SCHEDULED], approved_at__lt=cutoff).select_related("subject"):
        previous = version.state
        version.state, version.closed_at = S.EXPIRED, now
        version.save(update_fields=["state", "closed_at", "updated_at"])
        audit_append(actor=None, action="expired", version=version, from_state=previous, to_state=S.EXPIRED, at=now)
        expired.append(version)
    return expired


def version_find(*, subject_key: str, number: int) -> ParameterVersion:
    try:
        return ParameterVersion.objects.select_related("subject").get(subject__key=subject_key, number=number)
    except ParameterVersion.DoesNotExist:
        raise NotFound(f"no version {number} of {subject_key}") from None
