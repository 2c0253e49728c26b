"""Writes for runs: start, enqueue, cancel, retry, sub-runs, and what a decision does to a
waiting run. Each transition locks the run row and appends its events in one transaction."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from jsonschema import Draft202012Validator

from agentstudio.errors import AppError, ErrorCode
from playbooks.engine.steps.gates import decision_record
from playbooks.engine.store.event_rows import run_events_append_locked
from playbooks.models import Playbook, PlaybookStatus, Run, RunStatus, RunStep, StepStatus
from playbooks.spec.defaults import BUDGET_LIMITS, spec_effective_budget


def run_enqueue(*, run_id: object, countdown: float | None = None) -> None:
    """Rings the doorbell after commit; the database, not the message, says what to do.
    The doorbell time is written in the caller's transaction, so nothing sits between the
    commit and the message."""
    from playbooks.tasks import advance_run

    Run.objects.filter(pk=run_id).update(doorbell_at=timezone.now())

    def send() -> None:
        advance_run.apply_async(args=[str(run_id)], countdown=countdown or None)

    transaction.on_commit(send, robust=True)


def run_assert_can_start(*, actor: Any, playbook: Playbook) -> None:
    """Start, cancel, retry: the role table's "start runs" row. `None` is the system."""
    from agentstudio.accounts.roles import can_start_runs

    if actor is None or actor.is_superuser:
        return
    if not can_start_runs(actor, playbook):
        raise AppError(
            ErrorCode.PERMISSION_DENIED, "You may not start, cancel or retry runs of this playbook."
        )


def run_inputs_errors(*, spec: dict[str, Any], inputs: Any) -> list[dict[str, str]]:
    schema = spec.get("inputs") or {"type": "object"}
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [
        {
            "path": "/inputs" + "".join(f"/{part}" for part in error.absolute_path),
            "message": error.message,
        }
        for error in sorted(validator.iter_errors(inputs), key=lambda e: list(e.absolute_path))
    ]


def run_budget_effective(*, spec: dict[str, Any], requested: dict[str, Any] | None) -> dict:
    """The playbook's budget, tightened (never loosened) by the request."""
    budget = spec_effective_budget(spec)
    for name, value in (requested or {}).items():
        if name == "on_breach":
            if value not in ("pause", "fail"):
                raise AppError(
                    ErrorCode.VALIDATION_ERROR,
                    "on_breach is pause or fail.",
                    details=[{"path": "/budget/on_breach", "message": "pause or fail"}],
                )
            if budget["on_breach"] == "fail" and value == "pause":
                raise AppError(
                    ErrorCode.VALIDATION_ERROR,
                    "A run budget may only tighten the playbook's: on_breach is fail.",
                    details=[{"path": "/budget/on_breach", "message": "looser"}],
                )
            budget[name] = value
            continue
        if name not in BUDGET_LIMITS:
            raise AppError(
                ErrorCode.VALIDATION_ERROR,
                f"Unknown budget field {name!r}.",
                details=[{"path": f"/budget/{name}", "message": "unknown field"}],
            )
        try:
            number = Decimal(str(value))
        except ArithmeticError:
            number = Decimal("NaN")
        if not number.is_finite() or number <= 0 or number > Decimal(str(budget[name])):
            raise AppError(
                ErrorCode.VALIDATION_ERROR,
                f"budget.{name} must be positive and at most the playbook's {budget[name]}.",
                details=[{"path": f"/budget/{name}", "message": "must tighten the playbook's"}],
            )
        budget[name] = float(number) if name in ("max_usd", "max_wall_seconds") else int(number)
    return budget


@transaction.atomic
def run_create(
    *,
    playbook: Playbook,
    actor: Any,
    inputs: dict[str, Any],
    budget: dict | None = None,
    callback_url: str = "",
    parent: Run | None = None,
    parent_step: str = "",
    run_id: Any = None,
) -> Run:
    """Starts a run of the playbook's active version. `run_id` lets a caller place uploaded
    input files in the run's workspace before the row exists."""
    if parent is None:  # a sub-run is started by its parent's step, not by a person
        run_assert_can_start(actor=actor, playbook=playbook)
    playbook = Playbook.objects.select_for_update().get(pk=playbook.pk)
    if playbook.status != PlaybookStatus.ACTIVE:
        raise AppError(
            ErrorCode.INVALID_STATE, f"Only active playbooks run; this one is {playbook.status}."
        )
    version = playbook.versions.get(number=playbook.version)
    errors = run_inputs_errors(spec=version.spec, inputs=inputs)
    if errors:
        raise AppError(
            ErrorCode.VALIDATION_ERROR, f"Invalid inputs: {errors[0]['message']}", details=errors
        )
    run = Run.objects.create(
        **({"id": run_id} if run_id else {}),
        organization_id=playbook.organization_id,
        playbook=playbook,
        version=version,
        inputs=inputs,
        budget=run_budget_effective(spec=version.spec, requested=budget),
        callback_url=callback_url,
        created_by=actor,
        parent_run=parent,
        parent_step=parent_step,
    )
    run_events_append_locked(
        run=run,
        events=[
            (
                "run.queued",
                {
                    "playbook": str(playbook.pk),
                    "version": version.number,
                    "parent_run": str(parent.pk) if parent else None,
                },
            )
        ],
    )
    run_enqueue(run_id=run.pk)
    return run


def run_child_create(*, parent: Run, slug: str, inputs: Any, marker: str) -> tuple[Run | None, str]:
    """Inside the parent's checkpoint: start a sub-run, or say why not."""
    playbook = Playbook.objects.filter(organization_id=parent.organization_id, slug=slug).first()
    if playbook is None or playbook.status != PlaybookStatus.ACTIVE:
        return None, f"sub-playbook {slug!r} is not an active playbook of this organization"
    try:
        child = run_create(
            playbook=playbook,
            actor=parent.created_by,
            inputs=inputs or {},
            parent=parent,
            parent_step=marker,
        )
    except AppError as exc:
        return None, f"sub-run of {slug!r} refused: {exc.message}"
    return child, ""


def _locked(run_id: object) -> Run:
    return Run.objects.select_for_update().select_related("version").get(pk=run_id)


def run_resume_locked(locked: Run, events: list) -> None:
    locked.resume()
    locked.paused_reason = ""
    events.append(("run.resumed", {"cursor": locked.cursor}))
    run_enqueue(run_id=locked.pk)


def run_wake_parent(*, parent_id: object, child_id: object) -> None:
    """A sub-run ended: its parent, blocked on it, resumes (its step reads the child)."""
    with transaction.atomic():
        parent = _locked(parent_id)
        if parent.status != RunStatus.BLOCKED or parent.paused_reason != "sub_run":
            return
        events: list = [("run.child_finished", {"child_run": str(child_id)})]
        run_resume_locked(parent, events)
        run_events_append_locked(run=parent, events=events, persist_seq=False)
        parent.save()


@transaction.atomic
def run_cancel(*, run: Run, actor: Any, reason: str = "cancelled") -> Run:
    run_assert_can_start(actor=actor, playbook=run.playbook)
    return _run_cancel(run=run, actor=actor, reason=reason)


def _run_cancel(*, run: Run, actor: Any, reason: str) -> Run:
    from approvals.models import ApprovalStatus
    from approvals.services import approval_cancel
    from playbooks.engine.finishing import run_after_finish, run_wall_seconds

    locked = _locked(run.pk)
    if locked.is_final:
        raise AppError(ErrorCode.INVALID_STATE, f"The run already {locked.status}.")
    locked.cancel()
    locked.finished_at = timezone.now()
    locked.usage_wall_seconds = run_wall_seconds(locked)
    locked.paused_reason = ""
    for approval in locked.approvals.filter(status=ApprovalStatus.PENDING):
        approval_cancel(approval=approval, actor=actor, reason="run cancelled")
    for child in locked.child_runs.exclude(
        status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED]
    ):
        _run_cancel(run=child, actor=actor, reason="parent run cancelled")
    by = actor.get_username() if actor is not None else "system"
    run_events_append_locked(
        run=locked, events=[("run.cancelled", {"by": by, "reason": reason})], persist_seq=False
    )
    locked.save()
    run_after_finish(locked)
    return locked


@transaction.atomic
def run_retry(*, run: Run, actor: Any) -> Run:
    """A failed run continues from its failed step as a new attempt."""
    run_assert_can_start(actor=actor, playbook=run.playbook)
    locked = _locked(run.pk)
    if locked.status != RunStatus.FAILED:
        raise AppError(
            ErrorCode.INVALID_STATE, f"Only failed runs are retried; it is {locked.status}."
        )
    locked.retry()
    locked.attempt += 1
    locked.error = ""
    locked.finished_at = None
    locked.not_before = None
    locked.slice_failures = 0  # a person's retry gives it its chances again
    by = actor.get_username() if actor is not None else "system"
    run_events_append_locked(
        run=locked,
        events=[
            (
                "run.queued",
                {"retry_of_attempt": locked.attempt - 1, "by": by, "cursor": locked.cursor},
            ),
        ],
        persist_seq=False,
    )
    locked.save()
    run_enqueue(run_id=locked.pk)
    return locked


def run_apply_decision(*, approval: Any, actor: Any, window_closed: bool = False) -> None:
    """Inside the decision's transaction: what an approved, rejected or expired run approval
    does to its run. The engine reads the decision itself when the step runs again. An
    approved call inside its undo window is only recorded: the run goes on when the window
    closes (`window_closed`) without an undo."""
    from approvals.services import approval_in_undo_window
    from playbooks.engine.finishing import run_fail_locked, run_succeed_locked

    if approval.run_id is None:
        return
    locked = _locked(approval.run_id)
    if locked.status not in (
        RunStatus.WAITING_FOR_APPROVAL,
        RunStatus.BLOCKED,
        RunStatus.REVIEWING,
    ):
        return
    by = actor.get_username() if actor is not None else "system"
    events: list = [
        (
            "approval.undo_window_closed" if window_closed else "approval.decided",
            {
                "approval": str(approval.pk),
                "kind": approval.kind,
                "status": approval.status,
                "by": by,
                "reason": approval.reason,
                "body_hash": approval.body_hash,
            },
        )
    ]
    approved = approval.status == "approved"
    if approval_in_undo_window(approval):
        events[0][1]["undo_until"] = approval.undo_until.isoformat()
    elif approval.kind == "tool_call" and _waits_on_other_calls(locked, approval):
        pass  # one decision of several on the same turn: the run waits for the rest
    elif approval.kind == "review":
        events += (
            run_succeed_locked(locked)
            if approved
            else run_fail_locked(locked, f"review rejected: {approval.reason or approval.status}")
        )
    elif not approved and not _answers_an_agent(locked, approval):
        events += run_fail_locked(
            locked,
            f"{approval.title}: {approval.status}"
            + (f" ({approval.reason})" if approval.reason else ""),
        )
    else:
        if approval.kind == "outcome_unknown":
            _retire_unknown_step(locked, approval)
            events.append(
                (
                    "step.failed",
                    {
                        "step": approval.step,
                        "error": "outcome unknown; a person chose to run it again",
                        "retry_at": None,
                    },
                )
            )
        run_resume_locked(locked, events)
        if approval.kind in ("gate", "question"):
            events += _complete_waiting_step(locked, approval)
    run_events_append_locked(run=locked, events=events, persist_seq=False)
    locked.save()


def _waits_on_other_calls(run: Run, approval: Any) -> bool:
    """Other calls of the run still wait for a person (an agent's turn asked for several)
    or for their undo window to close."""
    from approvals.models import ApprovalStatus

    others = run.approvals.exclude(pk=approval.pk)
    return (
        others.filter(status=ApprovalStatus.PENDING).exists()
        or others.filter(status=ApprovalStatus.APPROVED, undo_until__gt=timezone.now()).exists()
    )


def run_note_reopened(*, undone: Any, reopened: Any, actor: Any) -> None:
    """An approval taken back inside its undo window: the run, still waiting, records it
    and the new pending approval for the same call."""
    locked = _locked(undone.run_id)
    if locked.status != RunStatus.WAITING_FOR_APPROVAL:
        return
    events = [
        ("approval.undone", {"approval": str(undone.pk), "by": actor.get_username()}),
        (
            "approval.requested",
            {
                "approval": str(reopened.pk),
                "kind": reopened.kind,
                "title": reopened.title,
                "step": reopened.step,
                "body_hash": reopened.body_hash,
            },
        ),
    ]
    run_events_append_locked(run=locked, events=events, persist_seq=False)
    locked.save(update_fields=["event_seq"])


def _answers_an_agent(run: Run, approval: Any) -> bool:
    """A refused call of an agent's turn does not end the run: the agent is told why, as
    that call's result, and goes on. (A tool step has no one to tell: its run fails.)"""
    if approval.kind != "tool_call" or approval.status != "rejected":
        return False
    steps = run.version.spec.get("steps", [])
    return any(step.get("id") == approval.step and "agent" in step for step in steps)


def _complete_waiting_step(run: Run, approval: Any) -> list:
    """An approved gate or an answered question completes its step in the decision's own
    transaction: the worker that the doorbell wakes goes straight on to the next step, and
    the decision and its effect on the run are durable together."""
    row = (
        RunStep.objects.filter(run=run, step_id=approval.step, status=StepStatus.WAITING)
        .order_by("-attempt")
        .first()
    )
    if row is None or row.index != run.cursor:
        return []  # not the step the run waits on: the engine reads the decision itself
    row.status = StepStatus.SUCCEEDED
    row.output = approval.response if approval.kind == "question" else approval.payload
    row.state = decision_record(approval)
    row.finished_at = timezone.now()
    row.save(update_fields=["status", "output", "state", "finished_at"])
    run.cursor = row.index + 1
    run.current_step = row.step_id
    return [("step.succeeded", {"step": row.step_id, "index": row.index, "attempt": row.attempt})]


def _retire_unknown_step(run: Run, approval: Any) -> None:
    """A person checked that the interrupted call did not happen: the step runs again as a
    new attempt, so the call gets a new idempotency key and is made once."""
    RunStep.objects.filter(run=run, step_id=approval.step, status=StepStatus.WAITING).update(
        status=StepStatus.FAILED,
        error="outcome unknown; re-run by decision",
        finished_at=timezone.now(),
    )
