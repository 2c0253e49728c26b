"""A step's checkpoint under the run's row lock.

The path for pauses, failures, rows that exist already, artifacts, and whatever the guarded
write could not take."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from agentstudio.billing.models import UsageRecord
from playbooks.engine.budget import budget_breach_outcome, budget_charge_deferred
from playbooks.engine.events import EventSpec
from playbooks.engine.lease import lease_expiry
from playbooks.engine.outcome import Result, StepOutcome
from playbooks.engine.store.event_rows import run_events_append_locked
from playbooks.engine.store.run_audit import run_audit_append_locked
from playbooks.engine.store.run_row import run_lock
from playbooks.engine.store.step_write import step_events, step_row, usage_apply, view_after
from playbooks.engine.view import RunView
from playbooks.models import Artifact, Run


def artifacts_record(*, run: Run, step_id: str, written: list[Any]) -> None:
    """The files a call wrote become (or update) the run's artifacts, in the caller's
    transaction."""
    for file in written:
        Artifact.objects.update_or_create(
            run=run,
            path=file.path,
            defaults={
                "content_type": file.content_type,
                "size": file.size,
                "sha256": file.sha256,
                "step_id": step_id,
            },
        )


def checkpoint_locked(
    view: RunView,
    index: int,
    attempt: int,
    outcome: StepOutcome,
    owner: str,
    *,
    update_view: bool = True,
) -> bool:
    """Commits the outcome under the row lock; False when the run is not ours any more."""
    from playbooks.runs.finishing import run_fail_locked
    from playbooks.runs.pausing import pause_apply

    now = timezone.now()
    with transaction.atomic():
        locked = run_lock(view.run, owner=owner)
        if locked is None:
            return False
        breach = budget_charge_deferred(locked, outcome)
        if breach is not None:  # a pure call made ahead of its charge that does not fit:
            step_id = view.steps[index]["id"]  # its result goes, as if it was never made
            outcome = budget_breach_outcome(locked, step_id, breach)
        events: list[EventSpec] = []
        row = step_row(view, index, attempt, outcome, now, events)
        row.save()
        events += outcome.events
        events += step_events(row, outcome)
        for invocation in outcome.invocations:
            invocation.save()
        run_audit_append_locked(locked, outcome.invocations, now)
        UsageRecord.objects.bulk_create(outcome.usage_records)
        artifacts_record(run=locked, step_id=row.step_id, written=outcome.written)
        usage_apply(locked, outcome)
        locked.model_calls = view.run.model_calls
        locked.current_step = row.step_id
        locked.lease_expires_at = lease_expiry()
        if outcome.result in (Result.SUCCEEDED, Result.SKIPPED):
            locked.cursor = index + 1
        elif outcome.result == Result.RETRY:
            locked.not_before = outcome.retry_at
        elif outcome.result == Result.PAUSED:
            events += pause_apply(locked=locked, view=view, row=row, pause=outcome.pause)
        elif outcome.result == Result.FAILED:
            events += run_fail_locked(locked, f"step {row.step_id} failed: {outcome.error}")
        if update_view:
            view_after(view, index, attempt, row, outcome)
        run_events_append_locked(run=locked, events=events, persist_seq=False)
        locked.save()
    view.run = locked
    return True
