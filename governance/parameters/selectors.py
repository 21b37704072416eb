"""Reads of the parameter store: active versions, validation in context, assessments, approvals."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from functools import lru_cache
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from governance.errors import NotFound
from governance.parameters.assessment import Assessment, changes_assess
from governance.parameters.canonical import canonical_json, content_hash
from governance.parameters.models import Approval, AuditEntry, ParameterVersion, Subject, VersionState
from governance.parameters.policy import policy_current
from governance.rulefiles import ExchangeRules, RuleContext, RuleError, rulefile_parse, ruleset_validate


def subject_source(subject_key: str, kind: str) -> str:
    """The file a subject's content corresponds to in a rules tree (also names it in errors)."""
    return "rules/exchange.yaml" if kind == Subject.Kind.EXCHANGE else f"rules/contracts/{subject_key}.yaml"


def subject_get(*, key: str) -> Subject:
    try:
        return Subject.objects.get(key=key)
    except Subject.DoesNotExist:
        raise NotFound(f"no contract or subject '{key}'") from None


def version_get(*, pk: int) -> ParameterVersion:
    try:
        return ParameterVersion.objects.select_related("subject", "author", "based_on").get(pk=pk)
    except (ParameterVersion.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"no parameter version {pk}") from None


def active_version(*, subject: Subject) -> ParameterVersion | None:
    return subject.versions.filter(state=VersionState.ACTIVE).first()


@lru_cache(maxsize=512)
def _parsed_by_hash(digest: str, yaml_text: str) -> dict[str, Any] | None:
    return rulefile_parse(yaml_text, source="stored").parsed.data


def version_data(version: ParameterVersion) -> dict[str, Any] | None:
    """The parsed content of a stored version (cached by content hash)."""
    return _parsed_by_hash(version.content_hash, version.yaml_text)


def exchange_version_active() -> ParameterVersion | None:
    """The exchange-wide version in force, if any."""
    return ParameterVersion.objects.filter(subject__kind=Subject.Kind.EXCHANGE, state=VersionState.ACTIVE).first()


def exchange_active_document() -> ExchangeRules | None:
    version = exchange_version_active()
    data = version_data(version) if version else None
    return ExchangeRules.from_data(data) if data else None


def contracts_active_data() -> dict[str, dict[str, Any]]:
    """The parsed content of every contract's active version, by symbol."""
    versions = ParameterVersion.objects.filter(subject__kind=Subject.Kind.CONTRACT, state=VersionState.ACTIVE)
    out = {}
    for version in versions.select_related("subject"):
        data = version_data(version)
        if data:
            out[version.subject.key] = data
    return out


@dataclass(frozen=True)
class ValidatedContent:
    data: dict[str, Any] | None
    errors: list[RuleError]
    canonical: str
    content_hash: str
    document: Any = None

    @property
    def valid(self) -> bool:
        return not self.errors


def content_validate(*, subject_key: str, kind: str, yaml_text: str) -> ValidatedContent:
    """Validate text for a subject in the context of the database: the active exchange-wide
    adjustments, the policy in force and the contracts the store knows."""
    source = subject_source(subject_key, kind)
    stem = subject_key if kind == Subject.Kind.CONTRACT else None
    rule_file = rulefile_parse(yaml_text, source=source, file_stem=stem)
    symbols = set(Subject.objects.filter(kind=Subject.Kind.CONTRACT).values_list("key", flat=True))
    context = RuleContext(exchange=exchange_active_document() if kind == Subject.Kind.CONTRACT else None,
                          policy=policy_current(), symbols=frozenset(symbols | ({subject_key} if stem else set())),
                          contracts=contracts_active_data() if kind == Subject.Kind.EXCHANGE else {})
    expected = "contract/v1" if kind == Subject.Kind.CONTRACT else "exchange/v1"
    if rule_file.kind is not None and rule_file.kind != expected:
        line, column = rule_file.parsed.location(("schema",))
        rule_file.errors.append(RuleError(source, line, column, ("schema",),
                                          f"this subject needs schema '{expected}', got '{rule_file.kind}'"))
    ruleset_validate([rule_file], context=context)
    data = rule_file.parsed.data
    canonical = canonical_json(data) if rule_file.kind else ""
    digest = content_hash(canonical if canonical else yaml_text)
    return ValidatedContent(data if isinstance(data, dict) else None, sorted(rule_file.errors), canonical, digest,
                            rule_file.document)


def version_errors(version: ParameterVersion) -> list[RuleError]:
    return content_validate(subject_key=version.subject.key, kind=version.subject.kind,
                            yaml_text=version.yaml_text).errors


def version_is_stale(version: ParameterVersion) -> bool:
    """Based on a version that is no longer the active one."""
    active = active_version(subject=version.subject)
    return (active.pk if active else None) != version.based_on_id


def version_is_rollback(version: ParameterVersion) -> bool:
    """It undoes the latest change: its content equals that of the version in force just before
    the active one. Restoring anything older (months of tightening undone at once, say) is a
    change like any other, judged by the guardrails."""
    active = active_version(subject=version.subject)
    if active is None or active.activated_at is None:
        return False
    before = (version.subject.versions.filter(activated_at__lt=active.activated_at).exclude(pk=active.pk)
              .order_by("-activated_at", "-pk").first())
    return before is not None and before.pk != version.pk and before.content_hash == version.content_hash


def version_assessment(version: ParameterVersion) -> Assessment:
    """The version against the active one under the current policy. A loosening within its
    step bounds is also compared with every version in force within the policy's step window:
    beyond a step bound from one of them, it is judged as that move (its quorum, its notice),
    so a large move split into small steps never needs fewer approvals than the move."""
    policy = policy_current()
    base = active_version(subject=version.subject)
    old = version_data(base) if base and base.pk != version.pk else None
    new = version_data(version) or {}
    assessment = changes_assess(old=old, new=new, policy=policy, rollback=version_is_rollback(version))
    if old is None or assessment.rollback or assessment.loosening_beyond_step or not policy.step_window_hours:
        return assessment
    since = timezone.now() - timedelta(hours=policy.step_window_hours)
    for earlier in version.subject.versions.filter(superseded_at__gte=since).exclude(pk=version.pk).order_by("-pk"):
        data = version_data(earlier)
        judged = changes_assess(old=data, new=new, policy=policy) if data else None
        if judged is not None and judged.loosening_beyond_step:
            return replace(assessment, required_approvals=judged.required_approvals,
                           notice_hours=max(assessment.notice_hours, judged.notice_hours),
                           beyond_step_since=earlier.number)
    return assessment


def live_approvals(version: ParameterVersion, kind: str = Approval.Kind.APPROVAL) -> QuerySet[Approval]:
    return version.approvals.filter(kind=kind, revoked_at__isnull=True).select_related("approver")


def audit_of_version(version: ParameterVersion) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(version=version).order_by("sequence")
