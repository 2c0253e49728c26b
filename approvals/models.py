"""Approval: a person's decision bound to the SHA-256 of the exact payload they saw."""

import uuid

from django.conf import settings
from django.db import models
from django_fsm import FSMField, FSMModelMixin, transition


class ApprovalKind(models.TextChoices):
    TOOL_CALL = "tool_call", "Tool call"
    GATE = "gate", "Gate"
    QUESTION = "question", "Question"
    BUDGET = "budget", "Budget"
    PROMOTION = "promotion", "Promotion"
    REVIEW = "review", "Review"
    OUTCOME_UNKNOWN = "outcome_unknown", "Outcome unknown"


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    EXECUTED = "executed", "Executed"
    UNDONE = "undone", "Undone"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"


class ApprovalScope(models.TextChoices):
    SINGLE = "single", "This call"
    BATCH = "batch", "Every pending call of this tool in the step"
    SESSION = "session", "Later calls of this tool in this run"


FINAL_STATUSES = {
    ApprovalStatus.EXECUTED,
    ApprovalStatus.UNDONE,
    ApprovalStatus.REJECTED,
    ApprovalStatus.EXPIRED,
    ApprovalStatus.CANCELLED,
}


class Approval(FSMModelMixin, models.Model):
    """One request for a decision. Status moves only through transitions run by services."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="approvals"
    )
    kind = models.CharField(max_length=24, choices=ApprovalKind.choices)
    status = FSMField(
        max_length=16,
        choices=ApprovalStatus.choices,
        default=ApprovalStatus.PENDING,
        protected=True,
    )
    title = models.CharField(max_length=300)
    playbook = models.ForeignKey(
        "playbooks.Playbook",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="approvals",
    )
    run = models.ForeignKey(
        "playbooks.Run",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="approvals",
    )
    step = models.CharField(max_length=64, blank=True, default="")
    tool = models.CharField(max_length=200, blank=True, default="")
    risk = models.CharField(max_length=16, blank=True, default="")
    call_key = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="Idempotency key run:step:call of the tool invocation this approval gates.",
    )
    payload = models.JSONField(null=True, blank=True)
    body_hash = models.CharField(max_length=64)
    scope = models.CharField(
        max_length=16, choices=ApprovalScope.choices, default=ApprovalScope.SINGLE
    )
    dry_run = models.JSONField(null=True, blank=True)
    expires_at = models.DateTimeField()
    undo_until = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(
        null=True, blank=True, help_text="When deciders were reminded that it expires soon."
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="approvals_requested",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="approvals_decided",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True, default="")
    response = models.JSONField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    supersedes = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="superseded_by",
        help_text="The approval this one reopens (after an undo or a rejected earlier payload).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "status", "kind"])]
        constraints = [
            models.UniqueConstraint(
                fields=["playbook"],
                condition=models.Q(kind=ApprovalKind.PROMOTION, status=ApprovalStatus.PENDING),
                name="one_pending_promotion_per_playbook",
            ),
            models.UniqueConstraint(
                fields=["call_key"],
                condition=models.Q(status=ApprovalStatus.PENDING) & ~models.Q(call_key=""),
                name="one_pending_approval_per_call",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=ApprovalKind.values), name="approval_kind_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @transition(field=status, source=ApprovalStatus.PENDING, target=ApprovalStatus.APPROVED)
    def approve(self) -> None:
        """A decider approved the payload whose hash they sent back."""

    @transition(field=status, source=ApprovalStatus.PENDING, target=ApprovalStatus.REJECTED)
    def reject(self) -> None:
        """A decider refused, with a reason."""

    @transition(field=status, source=ApprovalStatus.PENDING, target=ApprovalStatus.EXPIRED)
    def expire(self) -> None:
        """Nobody decided before expires_at."""

    @transition(field=status, source=ApprovalStatus.PENDING, target=ApprovalStatus.CANCELLED)
    def cancel(self) -> None:
        """What it gated went away (spec edited, run cancelled)."""

    @transition(field=status, source=ApprovalStatus.APPROVED, target=ApprovalStatus.EXECUTED)
    def mark_executed(self) -> None:
        """The approved tool call was made."""

    @transition(field=status, source=ApprovalStatus.APPROVED, target=ApprovalStatus.UNDONE)
    def undo(self) -> None:
        """Taken back inside the undo window, before the call was made."""


class ApprovalDecision(models.Model):
    """Every action on an approval (edit, approve, reject, answer, undo, expire, cancel)."""

    class Action(models.TextChoices):
        EDIT = "edit"
        APPROVE = "approve"
        REJECT = "reject"
        ANSWER = "answer"
        UNDO = "undo"
        EXPIRE = "expire"
        CANCEL = "cancel"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    approval = models.ForeignKey(Approval, on_delete=models.CASCADE, related_name="decisions")
    action = models.CharField(max_length=16, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    body_hash = models.CharField(max_length=64, blank=True, default="")
    previous_payload = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True, default="")
    scope = models.CharField(max_length=16, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor or 'system'}"
