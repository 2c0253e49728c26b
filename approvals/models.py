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
    rules = models.JSONField(
        default=dict,
        blank=True,
        help_text="Who decides, fixed at creation (approvals.rules): approvers, "
        "exclude_requester, required_approvals, escalate_after_seconds, escalate_to.",
    )
    escalated_at = models.DateTimeField(
        null=True, blank=True, help_text="When it waited long enough for its escalate_to."
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
        VOTE = "vote"
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


class ApprovalVote(models.Model):
    """One approver's approval of one hash while more are required (M-of-N). Votes for the
    current body_hash count; an edit deletes them, so the count starts again."""

    approval = models.ForeignKey(Approval, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    body_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["approval", "user", "body_hash"], name="one_vote_per_user_and_hash"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} approved {self.body_hash[:12]}"


class ApprovalRuleDefault(models.Model):
    """An organization's default rules for one risk class or approval kind, under what a
    playbook's approval_policy (or a gate's `approval:`) says. Empty fields keep the
    built-in default (approvals.rules.BUILT_IN_RULES)."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="approval_rule_defaults"
    )
    applies_to = models.CharField(
        max_length=24,
        help_text="A risk class (read ... secret) for tool calls, or an approval kind "
        "(gate, question, budget, promotion, review, outcome_unknown).",
    )
    approvers = models.JSONField(
        default=list,
        blank=True,
        help_text='Roles or usernames who may decide, e.g. ["admin", "alice"]; empty: '
        "approvers and admins.",
    )
    exclude_requester = models.BooleanField(
        null=True, blank=True, help_text="Whether the run's starter or requester may not decide."
    )
    required_approvals = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Distinct approvers who must approve the same hash."
    )
    escalate_after_seconds = models.PositiveIntegerField(null=True, blank=True)
    escalate_to = models.JSONField(
        default=list, blank=True, help_text="Roles or usernames who may decide once escalated."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "applies_to"], name="one_rule_default_per_org_and_class"
            )
        ]

    def __str__(self) -> str:
        return f"Rules for {self.applies_to}"
