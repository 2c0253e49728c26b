"""What one step's checkpoint writes, worked out before it is sent.

The step row, its events, the run columns it moves, its audit rows, and the run's success
with the last step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from jinja2 import TemplateError

from agentstudio.audit.models import AuditEvent
from agentstudio.model_instances import model_instance
from playbooks.engine.events import EventSpec
from playbooks.engine.lease import lease_renewal
from playbooks.engine.outcome import Result, StepOutcome
from playbooks.engine.store.run_audit import run_audit_rows, run_transition_item
from playbooks.engine.view import RunView
from playbooks.models import Run, RunStatus, RunStep, StepStatus
from playbooks.spec.defaults import step_kind

_ROW_STATUS = {
    Result.SUCCEEDED: StepStatus.SUCCEEDED,
    Result.FAILED: StepStatus.FAILED,
    Result.RETRY: StepStatus.FAILED,
    Result.SKIPPED: StepStatus.SKIPPED,
    Result.PROGRESS: StepStatus.RUNNING,
    Result.PAUSED: StepStatus.WAITING,
}
_DONE = (Result.SUCCEEDED, Result.FAILED, Result.RETRY, Result.SKIPPED)


def step_row(
    view: RunView, index: int, attempt: int, outcome: StepOutcome, now: Any, events: list[EventSpec]
) -> RunStep:
    """The step's row (new, or the open one it continues) as `outcome` leaves it; a new
    row's `step.started` is added to `events`."""
    step = view.steps[index]
    row = view.open_steps.get(index)
    if row is None:
        row = model_instance(
            RunStep,
            run_id=view.run.pk,
            index=index,
            step_id=step["id"],
            kind=step_kind(step),
            attempt=attempt,
            started_at=outcome.started_at or now,
        )
        events.append(
            (
                "step.started",
                {"step": step["id"], "index": index, "attempt": attempt, "kind": row.kind},
            )
        )
    row.status = _ROW_STATUS[outcome.result]
    if outcome.input is not None:
        row.input = outcome.input
    row.state = outcome.state if outcome.state is not None else row.state
    row.output = outcome.output
    row.error = outcome.error
    if outcome.result in _DONE:
        row.finished_at = now
    return row


def step_events(row: RunStep, outcome: StepOutcome) -> list[EventSpec]:
    """The events that say how the step ended (none while it goes on or waits)."""
    base = {"step": row.step_id, "index": row.index, "attempt": row.attempt}
    if outcome.result == Result.SUCCEEDED:
        return [("step.succeeded", base)]
    if outcome.result == Result.SKIPPED:
        return [("step.skipped", {**base, "reason": outcome.error or "when was false"})]
    if outcome.result in (Result.FAILED, Result.RETRY):
        retry_at = outcome.retry_at.isoformat() if outcome.retry_at else None
        return [("step.failed", {**base, "error": outcome.error, "retry_at": retry_at})]
    return []


def usage_apply(run: Run, outcome: StepOutcome) -> None:
    usage = outcome.usage
    run.usage_usd += usage.usd
    run.usage_input_tokens += usage.input_tokens
    run.usage_output_tokens += usage.output_tokens
    run.usage_tool_calls += usage.tool_calls
    run.usage_wall_seconds += usage.wall_seconds


def view_after(view: RunView, index: int, attempt: int, row: RunStep, outcome: StepOutcome) -> None:
    """The view as the committed checkpoint leaves the run."""
    view.invocation_keys.update(invocation.key for invocation in outcome.invocations)
    if outcome.result in (Result.SUCCEEDED, Result.SKIPPED):
        view.outputs[row.step_id] = row.output
        view.mark_scripted(row.step_id, row.state)
        view.open_steps.pop(index, None)
        view.step_attempts[index] = attempt
        view.record_lineage(row, [w.path for w in outcome.written])
    elif outcome.result in (Result.PROGRESS, Result.PAUSED):
        view.open_steps[index] = row
    elif outcome.result == Result.RETRY:
        view.open_steps.pop(index, None)
        view.step_attempts[index] = attempt


@dataclass
class StepWrite:
    """One step's guarded checkpoint, worked out and ready to send. `fields`: the run
    columns it moves (usage as increments; `finish` when it ends the run)."""

    row: RunStep
    events: list[EventSpec]
    fields: dict[str, Any]
    now: Any
    audit: list[AuditEvent]


@dataclass
class RunFinish:
    """The run's success, written by its last step's checkpoint (see `run_finish_for`)."""

    outputs: Any
    finished_at: Any = None


def step_write(
    view: RunView, index: int, attempt: int, outcome: StepOutcome, finish: RunFinish | None = None
) -> StepWrite:
    run, now, events = view.run, timezone.now(), []
    row = step_row(view, index, attempt, outcome, now, events)
    events += outcome.events
    events += step_events(row, outcome)
    if finish is not None:
        finish.finished_at = now
        events.append(("run.succeeded", {"outputs": finish.outputs}))
    usage = outcome.usage
    fields: dict = {
        "current_step": row.step_id,
        "lease_expires_at": lease_renewal(run.lease_expires_at),
        "event_seq": run.event_seq + len(events),
        "model_calls": run.model_calls,
        # increments: the ORM path turns them into F() expressions
        "usage_usd": usage.usd,
        "usage_input_tokens": usage.input_tokens,
        "usage_output_tokens": usage.output_tokens,
        "usage_tool_calls": usage.tool_calls,
        # the run's active time: its steps' (not its waits for people, nor its queueing)
        "usage_wall_seconds": usage.wall_seconds,
    }
    if outcome.result in (Result.SUCCEEDED, Result.SKIPPED):
        fields["cursor"] = index + 1
    if outcome.result == Result.RETRY:
        fields["not_before"] = outcome.retry_at
    if finish is not None:
        fields["finish"] = finish
    audit: list[AuditEvent] = []
    ending = []
    if finish is not None:  # the run's success (the system's) is audited in the same write
        ending.append(
            run_transition_item(
                transition="succeeded", source=RunStatus.RUNNING, target=RunStatus.SUCCEEDED
            )
        )
    if outcome.invocations or ending:
        audit, (fields["audit_seq"], fields["audit_hash"]) = run_audit_rows(
            run, outcome.invocations, now, ending
        )
    return StepWrite(row=row, events=events, fields=fields, now=now, audit=audit)


def run_finish_for(view: RunView, index: int, outcome: StepOutcome) -> RunFinish | None:
    """The run's success, when the last step's checkpoint can carry it: the step succeeded
    (or was skipped), the run ends without a review, its outputs render, and the write goes
    through the writer (PostgreSQL, no transaction open). Otherwise None: the run completes
    on its own afterwards, as always (`runner._complete`)."""
    if not (
        index == len(view.steps) - 1
        and outcome.result in (Result.SUCCEEDED, Result.SKIPPED)
        and view.on_postgresql
        and view.may_overlap
        and not view.spec.get("review")
        # the one-statement write: new rows only, no artifacts (postgres.checkpoint_supported)
        and index not in view.open_steps
        and not outcome.written
        and all(invocation.pk is None for invocation in outcome.invocations)
    ):
        return None
    from playbooks.runs.finishing import run_outputs

    step_id = view.steps[index]["id"]
    missing = object()
    before = view.outputs.get(step_id, missing)
    was_scripted = step_id in view.scripted_steps
    view.outputs[step_id] = outcome.output  # what the outputs see once the step is recorded
    view.mark_scripted(step_id, outcome.state)
    try:
        return RunFinish(outputs=run_outputs(view))
    except TemplateError:
        return None  # the completion fails the run, with the reason, under the row lock
    finally:
        if was_scripted:
            view.scripted_steps.add(step_id)
        else:
            view.scripted_steps.discard(step_id)
        if before is missing:
            del view.outputs[step_id]
        else:
            view.outputs[step_id] = before


def run_finished(run: Run, finish: RunFinish) -> None:
    """The run as its finishing checkpoint left it (committed), then what follows an end."""
    from playbooks.runs.finishing import run_after_finish

    run.succeed()
    run.outputs, run.finished_at = finish.outputs, finish.finished_at
    run.paused_reason = ""
    run.lease_owner, run.lease_expires_at = "", None
    run_after_finish(run)
