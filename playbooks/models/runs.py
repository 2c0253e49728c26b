"""Runs and everything a run leaves behind: step attempts, events, artifacts (its tool
invocations are the broker's: tools.models.ToolInvocation).

The database is the source of truth of the run engine: a Celery message only says "advance
run X". Status moves only through the transition methods, run by services.
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django_fsm import FSMField, FSMModelMixin, transition

from agentstudio.moments import moment_text


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    WAITING_FOR_APPROVAL = "waiting_for_approval", "Waiting for approval"
    BLOCKED = "blocked", "Blocked"
    REVIEWING = "reviewing", "Reviewing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINAL_RUN_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
PAUSED_RUN_STATUSES = (RunStatus.WAITING_FOR_APPROVAL, RunStatus.BLOCKED, RunStatus.REVIEWING)


class Run(FSMModelMixin, models.Model):
    """One execution of a pinned PlaybookVersion. A worker may only advance it while it
    holds the lease (`lease_owner` until `lease_expires_at`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="runs"
    )
    playbook = models.ForeignKey(
        "playbooks.Playbook", on_delete=models.CASCADE, related_name="runs"
    )
    version = models.ForeignKey(
        "playbooks.PlaybookVersion", on_delete=models.PROTECT, related_name="runs"
    )
    status = FSMField(
        max_length=24, choices=RunStatus.choices, default=RunStatus.QUEUED, protected=True
    )
    inputs = models.JSONField(default=dict)
    outputs = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    paused_reason = models.CharField(max_length=32, blank=True, default="")
    budget = models.JSONField(default=dict)
    cursor = models.PositiveIntegerField(default=0, help_text="Index of the next step to run.")
    current_step = models.CharField(max_length=64, blank=True, default="")
    attempt = models.PositiveIntegerField(default=1, help_text="Grows with each retry.")
    # Lease: a worker claims the run with one conditional UPDATE; an expired lease means its
    # holder died, and the run may be claimed again.
    lease_owner = models.CharField(max_length=100, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(
        null=True, blank=True, help_text="A step retry waits until then (backoff)."
    )
    doorbell_at = models.DateTimeField(null=True, blank=True, help_text="Last enqueue.")
    # Slices in a row that died with an error before the run moved past its current step;
    # AGENTSTUDIO_RUN_SLICE_FAILURES_MAX of them fail the run (engine.slice_failures).
    slice_failures = models.PositiveSmallIntegerField(default=0)
    event_seq = models.PositiveBigIntegerField(default=0)
    # The head of the run's audit chain (stream `run:<id>`): only the run's writers, who
    # hold its lease or its row lock, move it, so the chain needs no head row of its own.
    audit_seq = models.PositiveBigIntegerField(default=0)
    audit_hash = models.CharField(max_length=64, blank=True, default="")
    model_calls = models.PositiveIntegerField(default=0)
    usage_usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    usage_input_tokens = models.PositiveBigIntegerField(default=0)
    usage_output_tokens = models.PositiveBigIntegerField(default=0)
    usage_tool_calls = models.PositiveIntegerField(default=0)
    usage_wall_seconds = models.FloatField(default=0.0)
    parent_run = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="child_runs"
    )
    parent_step = models.CharField(max_length=64, blank=True, default="")
    callback_url = models.URLField(max_length=2000, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs_started",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["organization", "status"]),
            models.Index(fields=["status", "lease_expires_at"]),
        ]

    def __str__(self) -> str:
        """The playbook and when the run started (or was queued): how people tell runs apart."""
        started = moment_text(self.started_at or self.created_at)
        verb = "started" if self.started_at else "queued"
        return f"{self.playbook.name} — {verb} {started}"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_RUN_STATUSES

    @transition(field=status, source=RunStatus.QUEUED, target=RunStatus.RUNNING)
    def start(self) -> None:
        """A worker picked the run up."""

    @transition(field=status, source=RunStatus.RUNNING, target=RunStatus.WAITING_FOR_APPROVAL)
    def wait_for_approval(self) -> None:
        """A gate, tool-call or budget approval is pending."""

    @transition(field=status, source=RunStatus.RUNNING, target=RunStatus.BLOCKED)
    def block(self) -> None:
        """Waiting on a question, an unknown outcome, a hash mismatch or a sub-run."""

    @transition(field=status, source=RunStatus.RUNNING, target=RunStatus.REVIEWING)
    def await_review(self) -> None:
        """Every step is done; a person accepts the outputs."""

    @transition(field=status, source=list(PAUSED_RUN_STATUSES), target=RunStatus.RUNNING)
    def resume(self) -> None:
        """What the run waited for arrived."""

    @transition(
        field=status, source=[RunStatus.RUNNING, RunStatus.REVIEWING], target=RunStatus.SUCCEEDED
    )
    def succeed(self) -> None:
        """Every step done (and the review, if any, accepted)."""

    @transition(
        field=status, source=[RunStatus.RUNNING, *PAUSED_RUN_STATUSES], target=RunStatus.FAILED
    )
    def fail(self) -> None:
        """A step failed for good, a gate or review was rejected, or a budget ran out."""

    @transition(
        field=status,
        source=[RunStatus.QUEUED, RunStatus.RUNNING, *PAUSED_RUN_STATUSES],
        target=RunStatus.CANCELLED,
    )
    def cancel(self) -> None:
        """Someone stopped it."""

    @transition(field=status, source=RunStatus.FAILED, target=RunStatus.QUEUED)
    def retry(self) -> None:
        """Continue from the failed step as a new attempt."""


class StepStatus(models.TextChoices):
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class RunStep(models.Model):
    """One attempt of one step. `state` holds an agent step's conversation, checkpointed
    after every model turn so a resumed run continues from the last completed turn."""

    id = models.BigAutoField(primary_key=True)
    # db_index=False: the (run, index, attempt) unique index serves lookups by run.
    # No database foreign-key constraint (Django still cascades deletes): the engine writes
    # this row only in the statement whose guarded UPDATE found the run (engine/store/postgres.py)
    # or under the run's row lock, and a constraint check per row would cost every step a
    # lookup and a tuple lock of the run row at commit.
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="steps", db_index=False, db_constraint=False
    )
    index = models.PositiveIntegerField()
    step_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=16)
    attempt = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=StepStatus.choices)
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    state = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "index", "attempt"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "index", "attempt"], name="one_row_per_step_attempt"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.step_id}#{self.attempt} ({self.status})"


class RunEvent(models.Model):
    """What happened, in order: `seq` starts at 1 per run and has no gaps."""

    id = models.BigAutoField(primary_key=True)
    # db_index=False: the (run, seq) unique index serves lookups by run. No database
    # foreign-key constraint: see RunStep.run.
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="events", db_index=False, db_constraint=False
    )
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=40)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["run", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["run", "seq"], name="run_event_seq_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.seq} {self.type}"


class Artifact(models.Model):
    """A file in the run's workspace; the ETag is its SHA-256."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="artifacts")
    path = models.CharField(max_length=500)
    content_type = models.CharField(max_length=200)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    step_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run", "path"]
        constraints = [
            models.UniqueConstraint(fields=["run", "path"], name="artifact_path_per_run"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.path}"


class IdempotencyRecord(models.Model):
    """The first response to a request carrying an Idempotency-Key, kept for 24 hours."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    scope = models.CharField(max_length=200, help_text="Endpoint the key was used on.")
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user", "scope", "key"], name="idempotency_key_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"
