"""The versioned parameter store, approvals, and the hash-chained audit log."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Subject(models.Model):
    """What a sequence of versions governs: one contract, or the exchange-wide adjustments."""

    class Kind(models.TextChoices):
        CONTRACT = "contract", "Contract"
        EXCHANGE = "exchange", "Exchange-wide"

    EXCHANGE_KEY = "exchange"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    key = models.CharField(max_length=40, unique=True, help_text="Contract symbol, or 'exchange'.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "key"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="contract") & ~Q(key="exchange") | Q(kind="exchange", key="exchange"),
                name="subject_key_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.key if self.kind == self.Kind.CONTRACT else "Exchange-wide adjustments"

    @property
    def schema(self) -> str:
        return "contract/v1" if self.kind == self.Kind.CONTRACT else "exchange/v1"


class VersionState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    SCHEDULED = "scheduled", "Scheduled"
    ACTIVE = "active", "Active"
    SUPERSEDED = "superseded", "Superseded"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPIRED = "expired", "Expired"


class ParameterVersion(models.Model):
    """One numbered version of a subject's rule content. Content is frozen from submission on."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=VersionState.choices, default=VersionState.DRAFT)
    yaml_text = models.TextField()
    canonical = models.TextField(help_text="Canonical JSON of the content: what the hash covers.")
    content_hash = models.CharField(max_length=64, db_index=True)
    based_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                 help_text="The version active when this one was drafted or last rebased.")
    rollback_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    rationale = models.TextField()
    emergency = models.BooleanField(default=False)
    reason = models.TextField(blank=True, help_text="Why it was rejected or withdrawn.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    effective_at = models.DateTimeField(null=True, blank=True, help_text="When it takes (or took) effect.")
    activated_at = models.DateTimeField(null=True, blank=True)
    superseded_at = models.DateTimeField(null=True, blank=True)
    ratified_at = models.DateTimeField(null=True, blank=True, help_text="Emergency changes: when the quorum ratified.")
    closed_at = models.DateTimeField(null=True, blank=True, help_text="Rejected, withdrawn or expired at.")

    class Meta:
        ordering = ["subject", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["subject", "number"], name="version_number_unique_per_subject"),
            models.UniqueConstraint(fields=["subject"], condition=Q(state="active"),
                                    name="one_active_version_per_subject"),
            models.CheckConstraint(condition=~Q(state="active") | Q(activated_at__isnull=False),
                                   name="active_version_has_activation_time"),
        ]
        indexes = [models.Index(fields=["state", "effective_at"], name="version_state_effective_idx")]

    def __str__(self) -> str:
        return f"{self.subject.key} v{self.number}"

    @property
    def unratified(self) -> bool:
        return self.emergency and self.ratified_at is None and self.state in (VersionState.ACTIVE,
                                                                              VersionState.SUPERSEDED)


class Approval(models.Model):
    """One committee member's approval of one exact content on one exact base."""

    class Kind(models.TextChoices):
        APPROVAL = "approval", "Approval"
        EMERGENCY = "emergency", "Emergency approval"
        RATIFICATION = "ratification", "Ratification"

    version = models.ForeignKey(ParameterVersion, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.APPROVAL)
    content_hash = models.CharField(max_length=64)
    based_on = models.ForeignKey(ParameterVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    comment = models.TextField(blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, help_text="Set when a rebase changes the base.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["version", "approver", "kind"], condition=Q(revoked_at__isnull=True),
                                    name="one_live_approval_per_member_and_kind"),
        ]


class AuditEntry(models.Model):
    """Append-only, hash-chained record of every edit, transition, approval and rejection."""

    sequence = models.PositiveBigIntegerField(unique=True)
    at = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+")
    actor_name = models.CharField(max_length=150, help_text="Kept as text: the chain must not depend on a join.")
    action = models.CharField(max_length=40)
    subject_key = models.CharField(max_length=40, blank=True)
    version = models.ForeignKey(ParameterVersion, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="audit_entries")
    version_number = models.PositiveIntegerField(null=True, blank=True)
    from_state = models.CharField(max_length=16, blank=True)
    to_state = models.CharField(max_length=16, blank=True)
    reason = models.TextField(blank=True)
    content_hash = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    previous_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["sequence"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} {self.subject_key}"
