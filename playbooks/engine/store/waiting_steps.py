"""Writes to the step row a run waits on, made by a person's decision under the run's row
lock (not by the lease holder's checkpoint): a gate or question completed, an interrupted
call retired so the step runs again."""

from __future__ import annotations

from django.utils import timezone

from playbooks.engine.outcome import StepOutcome
from playbooks.models import Run, RunStep, StepStatus


def waiting_step_row(run: Run, step_id: str) -> RunStep | None:
    """The latest attempt of `step_id` that waits for a person, if any."""
    return (
        RunStep.objects.filter(run=run, step_id=step_id, status=StepStatus.WAITING)
        .order_by("-attempt")
        .first()
    )


def waiting_step_succeed(row: RunStep, outcome: StepOutcome) -> None:
    """The waiting step succeeded with what the decision yields (`resolved_outcome`)."""
    row.status = StepStatus.SUCCEEDED
    row.output = outcome.output
    row.state = outcome.state
    row.finished_at = timezone.now()
    row.save(update_fields=["status", "output", "state", "finished_at"])


def waiting_steps_retire(run: Run, step_id: str, *, error: str) -> None:
    """Every waiting attempt of `step_id` failed with `error`: the step runs again as a new
    attempt (a new idempotency key)."""
    RunStep.objects.filter(run=run, step_id=step_id, status=StepStatus.WAITING).update(
        status=StepStatus.FAILED, error=error, finished_at=timezone.now()
    )
