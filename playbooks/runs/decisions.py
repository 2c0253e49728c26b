"""What a decision does to the run waiting on it, inside the decision's transaction: an
approved gate or answered question completes its step, a refusal fails the run (or is told
to the agent that asked), a review ends it, an undone approval is recorded."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils import timezone

from agentstudio.billing.budgets import budget_raise
from approvals.models import ApprovalKind, ApprovalStatus
from playbooks.engine.events import EventSpec
from playbooks.engine.outcome import Result
from playbooks.engine.steps.gates import resolved_outcome
from playbooks.engine.store.event_rows import run_events_append_locked
from playbooks.engine.store.waiting_steps import (
    waiting_step_row,
    waiting_step_succeed,
    waiting_steps_retire,
)
from playbooks.models import Run, RunStatus
from playbooks.models.runs import PAUSED_RUN_STATUSES
from playbooks.runs.credit import run_credit_extend
from playbooks.runs.events import (
    run_event_approval_decided,
    run_event_approval_requested,
    run_event_approval_undone,
    run_event_step_failed,
    run_event_step_succeeded,
)
from playbooks.runs.finishing import run_fail_locked, run_succeed_locked
from playbooks.runs.services import run_locked, run_resume_locked
from playbooks.spec.defaults import StepKind

UNKNOWN_OUTCOME_RERUN = "outcome unknown; a person chose to run it again"


def run_apply_decision(*, approval: Any, actor: Any, window_closed: bool = False) -> None:
    """Inside the decision's transaction: what an approved, rejected or expired run approval
    does to its run. The engine reads the decision itself when the step runs again. An
    approved call inside its undo window is only recorded: the run goes on when the window
    closes (`window_closed`) without an undo."""
    from approvals.services import approval_in_undo_window

    if approval.run_id is None:
        return
    locked = run_locked(approval.run_id)
    if locked.status not in PAUSED_RUN_STATUSES:
        return
    by = actor.get_username() if actor is not None else "system"
    events: list[EventSpec] = [
        run_event_approval_decided(approval=approval, by=by, window_closed=window_closed)
    ]
    approved = approval.status == ApprovalStatus.APPROVED
    if approval_in_undo_window(approval):
        events[0][1]["undo_until"] = approval.undo_until.isoformat()
    elif approval.kind == ApprovalKind.TOOL_CALL and _waits_on_other_calls(locked, approval):
        pass  # one decision of several on the same turn: the run waits for the rest
    elif approval.kind == ApprovalKind.BUDGET:
        events += _budget_decided(locked, approval, actor, approved)
    elif approval.kind == ApprovalKind.REVIEW:
        decided = {"actor": actor, "approval": str(approval.pk)}
        events += (
            run_succeed_locked(locked, **decided)
            if approved
            else run_fail_locked(
                locked, f"review rejected: {approval.reason or approval.status}", **decided
            )
        )
    elif not approved and not _answers_an_agent(locked, approval):
        events += run_fail_locked(
            locked,
            f"{approval.title}: {approval.status}"
            + (f" ({approval.reason})" if approval.reason else ""),
            actor=actor,
            approval=str(approval.pk),
        )
    else:
        if approval.kind == ApprovalKind.OUTCOME_UNKNOWN:
            _retire_unknown_step(locked, approval)
            events.append(
                run_event_step_failed(
                    step=approval.step, error=UNKNOWN_OUTCOME_RERUN, retry_at=None
                )
            )
        run_resume_locked(locked, events, actor=actor, approval=str(approval.pk))
        if approval.kind in (ApprovalKind.GATE, ApprovalKind.QUESTION):
            events += _complete_waiting_step(locked, approval)
    run_events_append_locked(run=locked, events=events, persist_seq=False)
    locked.save()


def _raised(budget: dict[str, Any], limit: str, by: Any) -> dict[str, Any]:
    value = Decimal(str(budget[limit])) + Decimal(str(by))
    number = float(value) if limit in ("max_usd", "max_wall_seconds") else int(value)
    return {**budget, limit: number}


def _budget_decided(run: Run, approval: Any, actor: Any, approved: bool) -> list[EventSpec]:
    """Approved: the limit the payload names grows by its `raise_by` (the payload is what
    the approver saw, hash-bound) and the run resumes from the call that did not fit.
    Refused or expired: the run fails, its error naming the limit."""
    payload = approval.payload or {}
    limit, by = str(payload.get("limit", "")), payload.get("raise_by")
    decided = {"actor": actor, "approval": str(approval.pk)}
    if not approved:
        return run_fail_locked(
            run,
            f"budget {limit} ({payload.get('limit_value')}) exceeded and the raise was "
            f"{approval.status}" + (f": {approval.reason}" if approval.reason else ""),
            **decided,
        )
    if limit in run.budget and by is not None:
        budget_id = payload.get("budget") or run.pk
        if limit == "max_usd":  # the credit reserved for the run grows with it, or 402
            run_credit_extend(budget_id=budget_id, by=Decimal(str(by)), actor=actor)
        budget_raise(budget_id=budget_id, limit=limit, by=by)
        run.budget = _raised(run.budget, limit, by)
        if limit == "max_wall_seconds" and str(budget_id) != str(run.pk):
            # a sub-run's wall clock is its tree's, limited by its root's budget JSON
            root = Run.objects.select_for_update().filter(pk=budget_id).first()
            if root is not None and limit in (root.budget or {}):
                Run.objects.filter(pk=root.pk).update(budget=_raised(root.budget, limit, by))
    events: list[EventSpec] = []
    run_resume_locked(run, events, **decided)
    return events


def _waits_on_other_calls(run: Run, approval: Any) -> bool:
    """Other calls of the run still wait for a person (an agent's turn asked for several)
    or for their undo window to close."""
    others = run.approvals.exclude(pk=approval.pk)
    return (
        others.filter(status=ApprovalStatus.PENDING).exists()
        or others.filter(status=ApprovalStatus.APPROVED, undo_until__gt=timezone.now()).exists()
    )


def run_note_reopened(*, undone: Any, reopened: Any, actor: Any) -> None:
    """An approval taken back inside its undo window: the run, still waiting, records it
    and the new pending approval for the same call."""
    locked = run_locked(undone.run_id)
    if locked.status != RunStatus.WAITING_FOR_APPROVAL:
        return
    events = [
        run_event_approval_undone(approval=undone, by=actor.get_username()),
        run_event_approval_requested(approval=reopened, step=reopened.step),
    ]
    run_events_append_locked(run=locked, events=events, persist_seq=False)
    locked.save(update_fields=["event_seq"])


def _answers_an_agent(run: Run, approval: Any) -> bool:
    """A refused call of an agent's turn does not end the run: the agent is told why, as
    that call's result, and goes on. (A tool step has no one to tell: its run fails.)"""
    if approval.kind != ApprovalKind.TOOL_CALL or approval.status != ApprovalStatus.REJECTED:
        return False
    steps = run.version.spec.get("steps", [])
    return any(step.get("id") == approval.step and StepKind.AGENT in step for step in steps)


def _complete_waiting_step(run: Run, approval: Any) -> list[EventSpec]:
    """An approved gate or an answered question completes its step in the decision's own
    transaction: the worker that the doorbell wakes goes straight on to the next step, and
    the decision and its effect on the run are durable together. What the step yields is
    the engine's rule (`resolved_outcome`), the same one it applies when the step runs
    again."""
    row = waiting_step_row(run, approval.step)
    if row is None or row.index != run.cursor:
        return []  # not the step the run waits on: the engine reads the decision itself
    outcome = resolved_outcome(approval)
    if outcome is None or outcome.result != Result.SUCCEEDED:
        return []
    waiting_step_succeed(row, outcome)
    run.cursor = row.index + 1
    run.current_step = row.step_id
    return [run_event_step_succeeded(step=row.step_id, index=row.index, attempt=row.attempt)]


def _retire_unknown_step(run: Run, approval: Any) -> None:
    """A person checked that the interrupted call did not happen: the step runs again as a
    new attempt, so the call gets a new idempotency key and is made once."""
    waiting_steps_retire(run, approval.step, error="outcome unknown; re-run by decision")
